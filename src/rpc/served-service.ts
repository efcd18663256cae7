import type { DescService } from "@bufbuild/protobuf";
import { createServiceImplSpec, type ConnectRouter, type ServiceImpl, type ServiceImplSpec } from "@connectrpc/connect";

/**
 * A service and its full implementation, tied by one type parameter, so an
 * RPC added to the proto and not implemented fails to compile. Both paths
 * serve it: connect-node through `register`, the unary fast path through
 * `spec` (connect's own wrapping, with the method descriptors at hand).
 */
export interface ServedService {
  readonly service: DescService;
  readonly spec: ServiceImplSpec;
  register(router: ConnectRouter): void;
}

export function servedService<S extends DescService>(service: S, impl: ServiceImpl<S>): ServedService {
  return {
    service,
    spec: createServiceImplSpec(service, impl),
    register: (router) => router.service(service, impl),
  };
}
