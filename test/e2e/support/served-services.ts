import { createConnectRouter } from "@connectrpc/connect";
import type { Domain } from "../../../src/app.js";
import { registeredServices } from "../../../src/rpc/reflection.js";
import { routes } from "../../../src/server.js";

/** The names of every service routes() registers, sorted: what reflection must list, whatever is added later. */
export function servedServices(domain: Domain): string[] {
  const router = createConnectRouter();
  routes(domain, { accepting: () => true, storeReachable: async () => {} })(router);
  return registeredServices(router)
    .map((service) => service.typeName)
    .sort();
}

/** Services that must be there in any case. */
export const REQUIRED_SERVICES = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "tokensmith.v1.AdminService",
  "tokensmith.v1.TokenService",
];
