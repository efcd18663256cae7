import { Code, ConnectError } from "@connectrpc/connect";
import type { WatchRevocationsResponse } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { TokenClient } from "../client/token-client.js";

export type WatchMessage = WatchRevocationsResponse["message"];

export interface RevocationStreamOptions {
  client: TokenClient;
  /** Applies one message; the stream's cursor advances only after it returns. */
  apply(message: WatchMessage): void | Promise<void>;
  /** First reconnect delay; it doubles per failure up to `maxBackoffMs`, with full jitter. */
  minBackoffMs: number;
  maxBackoffMs: number;
  onError(error: unknown): void;
  random?: () => number;
}

/**
 * Follows WatchRevocations for as long as it runs: opens the stream with
 * the cursor of the last message applied, so a reconnect resumes where the
 * last stream stopped (the server sends a fresh snapshot when that cursor is
 * no longer in its feed), and reconnects with exponential backoff after any
 * end or failure. A cursor refused as malformed is dropped for a snapshot.
 */
export class RevocationStream {
  private cursor = "";
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  /** performance.now() of the last message received, of any kind. */
  lastHeardAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RevocationStreamOptions) {}

  get position(): string {
    return this.cursor;
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    const { signal } = this.controller;
    while (!signal.aborted) {
      try {
        for await (const { message } of this.options.client.watchRevocations({ cursor: this.cursor }, { signal })) {
          await this.options.apply(message);
          if (message.value !== undefined) this.cursor = message.value.cursor;
          this.lastHeardAt = performance.now();
          failures = 0;
        }
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof ConnectError && error.code === Code.InvalidArgument) this.cursor = "";
        this.options.onError(error);
      }
      failures++;
      await this.backoff(failures, signal);
    }
  }

  private backoff(failures: number, signal: AbortSignal): Promise<void> {
    const ceiling = Math.min(this.options.maxBackoffMs, this.options.minBackoffMs * 2 ** (failures - 1));
    const delay = Math.max(this.options.minBackoffMs, ceiling * (this.options.random ?? Math.random)());
    return new Promise((resolve) => {
      const timer = setTimeout(done, delay);
      signal.addEventListener("abort", done, { once: true });
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }
}
