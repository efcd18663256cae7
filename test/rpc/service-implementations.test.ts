import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { AdminService } from "../../gen/tokensmith/v1/admin_service_pb.js";
import { DiagnosticsService } from "../../gen/tokensmith/v1/diagnostics_service_pb.js";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { Domain } from "../../src/app.js";
import { adminService } from "../../src/rpc/admin-service.js";
import { diagnosticsService } from "../../src/rpc/diagnostics-service.js";
import { tokenService, type TokenServiceDeps } from "../../src/rpc/token-service.js";

/**
 * Each service is implemented in full (ServiceImpl, never Partial): an RPC
 * added to the proto and left out fails to compile (`npx tsc --noEmit`
 * checks the @ts-expect-error below) and would fail here.
 */

// Building the handlers reads none of their dependencies; no handler is called here.
const implementations: Array<[string, DescService, object]> = [
  ["TokenService", TokenService, tokenService({} as TokenServiceDeps)],
  ["AdminService", AdminService, adminService({} as Domain["administration"])],
  ["DiagnosticsService", DiagnosticsService, diagnosticsService()],
];

describe("service implementations", () => {
  it.each(implementations)("%s implements every RPC of its proto and nothing else", (_name, service, impl) => {
    const handlers = Object.entries(impl).filter(([, value]) => typeof value === "function").map(([name]) => name);
    expect(handlers.sort()).toEqual(service.methods.map((method) => method.localName).sort());
  });

  it("an implementation without one of the RPCs is not a ServiceImpl", () => {
    const { getJwks, ...withoutGetJwks } = tokenService({} as TokenServiceDeps);
    // @ts-expect-error getJwks is missing: the type is the full service, so this must not compile.
    const incomplete: ServiceImpl<typeof TokenService> = withoutGetJwks;
    expect(typeof getJwks).toBe("function");
    expect(Object.keys(incomplete)).not.toContain("getJwks");
  });
});
