import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

export interface HealthMonitorOptions {
  /** Resolves when the service can do its work (the store answers); rejects otherwise. */
  probe: () => Promise<void>;
  /** How often watched status is re-probed while at least one Watch is open. */
  pollIntervalMs?: number;
  /** A probe slower than this counts as a failure, whatever the store's own timeouts. */
  probeTimeoutMs?: number;
}

/**
 * The serving status, shared by every Check and Watch of one server: probes
 * run one at a time (a load balancer polling hard costs one store ping per
 * round trip, not one per request), and every probe, whoever asked for it,
 * tells the open watches when the status changes.
 */
export class HealthMonitor {
  private status: ServingStatus = ServingStatus.UNKNOWN;
  private inFlight: Promise<ServingStatus> | undefined;
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;
  private readonly pollIntervalMs: number;
  private readonly probeTimeoutMs: number;

  constructor(private readonly options: HealthMonitorOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 2_000;
  }

  /** Probes now (or joins the probe under way) and resolves the fresh status. */
  check(): Promise<ServingStatus> {
    this.inFlight ??= this.probe().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** The current status, then each change, until `signal` aborts. */
  async *watch(signal: AbortSignal): AsyncGenerator<ServingStatus> {
    let changed = false;
    let wake: (() => void) | undefined;
    const listener = () => {
      changed = true;
      wake?.();
    };
    const onAbort = () => wake?.();
    this.listeners.add(listener);
    signal.addEventListener("abort", onAbort);
    this.timer ??= setInterval(() => void this.check(), this.pollIntervalMs).unref();
    try {
      let sent = await this.check();
      yield sent;
      while (!signal.aborted) {
        if (!changed) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        changed = false;
        if (signal.aborted) return;
        if (this.status !== sent) {
          sent = this.status;
          yield sent;
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }
  }

  private async probe(): Promise<ServingStatus> {
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timeout = setTimeout(() => reject(new Error("health probe timed out")), this.probeTimeoutMs);
    });
    let next: ServingStatus;
    try {
      await Promise.race([this.options.probe(), expired]);
      next = ServingStatus.SERVING;
    } catch {
      next = ServingStatus.NOT_SERVING;
    } finally {
      clearTimeout(timeout);
    }
    if (next !== this.status) {
      this.status = next;
      for (const listener of this.listeners) listener();
    }
    return next;
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

/**
 * grpc.health.v1.Health for the whole server ("") and each named service.
 * `services` is read per request, so services registered after this one count.
 */
export function healthService(monitor: HealthMonitor, services: () => readonly string[]): ServiceImpl<typeof Health> {
  const known = (service: string) => service === "" || services().includes(service);
  return {
    async check(request) {
      if (!known(request.service)) throw new ConnectError(`unknown service "${request.service.slice(0, 256)}"`, Code.NotFound);
      return { status: await monitor.check() };
    },

    async *watch(request, context) {
      if (!known(request.service)) {
        // The protocol asks to keep the call open: the service might become known later.
        yield { status: ServingStatus.SERVICE_UNKNOWN };
        await untilAborted(context.signal);
        return;
      }
      for await (const status of monitor.watch(context.signal)) yield { status };
    },
  };
}
