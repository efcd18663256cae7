import type { Tracer } from "@opentelemetry/api";
import { inChildSpan } from "../observability/child-span.js";
import type { Signatures } from "./signing-threads.js";

/** Each signature a child span of the request (with the wait for a signing thread): its algorithm and key id, never the claims. */
export function tracedSignatures(signatures: Signatures, tracer: Tracer): Signatures {
  return {
    sign: (key, signingInput) => inChildSpan(tracer, "sign access token", { "jwt.alg": key.alg, "jwt.kid": key.kid }, () => signatures.sign(key, signingInput)),
    close: () => signatures.close(),
  };
}
