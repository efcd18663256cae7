import type { NodeRequest } from "./node-http.js";

/**
 * Collects a request body with plain events (cheaper than async iteration on
 * the hot paths), refusing it — before any parsing — once it passes `limit`
 * bytes, by its Content-Length or by what arrives. The rest of a refused body
 * is drained so the connection stays usable.
 */
export function readRequestBody(req: NodeRequest, limit: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers["content-length"] ?? 0) > limit) {
      req.resume();
      reject(tooLarge());
      return;
    }
    // The client may have hung up before the handler ran (requests are handled
    // at the end of the turn that read them): no event would come.
    if (req.destroyed && !req.readableEnded) {
      reject(clientClosed());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once("error", reject);
    req.once("close", () => {
      if (!req.readableEnded) reject(clientClosed());
    });
  });
}

function clientClosed(): Error {
  return Object.assign(new Error("aborted: the client closed the request before its body arrived"), { code: "ECONNRESET" });
}
