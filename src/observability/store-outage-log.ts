import type { Logger } from "pino";

/**
 * What the log says while the store is unreachable. Every request fails
 * closed with Unavailable, so one line per failed request floods the log
 * (11,569 lines in a 3 s failover): the first failure is logged, then one
 * line per interval with the count, then one line once the store answers
 * again (probed at each interval, so recovery is seen without traffic).
 */
export class StoreOutageLog {
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private sinceLastLine = 0;
  private inOutage = 0;
  private probing = false;

  constructor(
    private readonly deps: { logger: Logger; probe: () => Promise<void>; intervalMs: number },
  ) {}

  /** One request failed because the store is unavailable. */
  failed(requestId: string | string[] | null | undefined, error: Error): void {
    this.inOutage++;
    if (this.timer !== undefined) {
      this.sinceLastLine++;
      return;
    }
    this.deps.logger.warn({ reqId: requestId, err: { message: error.message } }, "store unavailable");
    this.startedAt = Date.now();
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs).unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      await this.deps.probe();
    } catch {
      if (this.sinceLastLine > 0) {
        const seconds = this.deps.intervalMs / 1000;
        this.deps.logger.warn({ failed: this.sinceLastLine }, `store unavailable: ${this.sinceLastLine} requests failed in the last ${seconds} s`);
        this.sinceLastLine = 0;
      }
      return;
    } finally {
      this.probing = false;
    }
    if (this.timer === undefined) return; // closed while probing
    this.deps.logger.info(
      { failed: this.sinceLastLine, failedInOutage: this.inOutage, outageMs: Date.now() - this.startedAt },
      `store available again: ${this.inOutage} requests failed while it was not`,
    );
    this.close();
    this.sinceLastLine = 0;
    this.inOutage = 0;
  }
}
