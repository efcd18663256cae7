import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { handleAtTurnEnd } from "../../src/http/turn-dispatch.js";

/** Requests read in one turn are handled at its end, in order; a handler that throws loses only its own response. */

const request = (name: string) => ({ url: name }) as unknown as IncomingMessage;
const response = () => {
  const res = { destroyed: false, destroy: () => (res.destroyed = true) };
  return res;
};

describe("handleAtTurnEnd", () => {
  it("handles a turn's requests after the turn's other work, together and in arrival order", async () => {
    const seen: string[] = [];
    const handle = handleAtTurnEnd((req: IncomingMessage) => seen.push(req.url ?? ""));
    handle(request("a"), response() as unknown as ServerResponse);
    handle(request("b"), response() as unknown as ServerResponse);
    await Promise.resolve();
    process.nextTick(() => seen.push("nextTick"));
    expect(seen).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(["nextTick", "a", "b"]);
    // A later turn gets its own dispatch.
    handle(request("c"), response() as unknown as ServerResponse);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(["nextTick", "a", "b", "c"]);
  });

  it("a handler that throws has its response destroyed; the requests after it are still handled", async () => {
    const seen: string[] = [];
    const handle = handleAtTurnEnd((req: IncomingMessage) => {
      if (req.url === "bad") throw new Error("boom");
      seen.push(req.url ?? "");
    });
    const bad = response();
    const good = response();
    handle(request("bad"), bad as unknown as ServerResponse);
    handle(request("good"), good as unknown as ServerResponse);
    await new Promise((resolve) => setImmediate(resolve));
    expect(bad.destroyed).toBe(true);
    expect(good.destroyed).toBe(false);
    expect(seen).toEqual(["good"]);
  });
});
