import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { DiagnosticsService } from "../../gen/tokensmith/v1/diagnostics_service_pb.js";

const MAX_PAYLOAD = 1024;

export function diagnosticsService(): ServiceImpl<typeof DiagnosticsService> {
  return {
    ping(request) {
      if (request.payload.length > MAX_PAYLOAD) {
        throw new ConnectError(`payload too long: at most ${MAX_PAYLOAD} characters`, Code.InvalidArgument);
      }
      return { payload: request.payload };
    },
  };
}
