import { describe, expect, it } from "vitest";
import { tracingRequested } from "../../src/observability/tracing-setup.js";

/** When a process sets up OpenTelemetry: the standard variables, nothing of Tokensmith's own. */
describe("tracingRequested", () => {
  it.each<[string, NodeJS.ProcessEnv, boolean]>([
    ["nothing set", {}, false],
    ["OTEL_EXPORTER_OTLP_ENDPOINT", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, true],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" }, true],
    ["an empty or blank endpoint", { OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "  " }, false],
    ["OTEL_SDK_DISABLED=true", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "TRUE" }, false],
    ["OTEL_SDK_DISABLED=false", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "false" }, true],
    ["OTEL_TRACES_EXPORTER=none", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" }, false],
    ["OTEL_TRACES_EXPORTER=otlp", { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "otlp" }, true],
    ["only other OTEL_ variables", { OTEL_SERVICE_NAME: "tokensmith", OTEL_TRACES_SAMPLER: "always_on" }, false],
  ])("%s", (_, env, expected) => {
    expect(tracingRequested(env)).toBe(expected);
  });
});
