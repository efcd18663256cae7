import { pino, type Logger } from "pino";

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLog {
  logger: Logger;
  lines: LogLine[];
  /** Lines whose message matches. */
  matching(msg: RegExp): LogLine[];
  /** Resolves with the first line (already logged or yet to come) whose message matches. */
  next(msg: RegExp, options?: { after?: number }): Promise<LogLine>;
}

/** A pino logger whose lines are kept in memory, parsed, for tests that read what the server logged. */
export function capturedLog(level = "debug"): CapturedLog {
  const lines: LogLine[] = [];
  const waiters: Array<{ msg: RegExp; after: number; resolve: (line: LogLine) => void }> = [];
  const logger = pino(
    { level },
    {
      write(text: string) {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (lines.length > waiter.after && waiter.msg.test(line.msg)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      },
    },
  );
  return {
    logger,
    lines,
    matching: (msg) => lines.filter((line) => msg.test(line.msg)),
    next: (msg, { after = 0 } = {}) => {
      const found = lines.slice(after).find((line) => msg.test(line.msg));
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ msg, after, resolve }));
    },
  };
}
