import type { ServiceImpl } from "@connectrpc/connect";
import { TokenService } from "../../gen/tokensmith/v1/token_service_pb.js";
import type { ClientTokenIssuer } from "../domain/client-token-issuer.js";
import type { KeyRing } from "../keys/key-ring.js";

export interface TokenServiceDeps {
  clientTokens: ClientTokenIssuer;
  keyRing: KeyRing;
}

/** Thin handlers: read the request and the authorization header, call the domain, shape the response. */
export function tokenService(deps: TokenServiceDeps): Partial<ServiceImpl<typeof TokenService>> {
  return {
    async issueClientToken(request, context) {
      const issued = await deps.clientTokens.issue(
        {
          authorization: context.requestHeader.get("authorization"),
          clientId: request.clientId,
          clientSecret: request.clientSecret,
          clientAssertionType: request.clientAssertionType,
          clientAssertion: request.clientAssertion,
        },
        { scopes: request.scopes, audience: request.audience },
      );
      return {
        accessToken: issued.accessToken,
        tokenType: issued.tokenType,
        expiresIn: BigInt(issued.expiresIn),
        scopes: issued.scopes,
      };
    },

    getJwks() {
      return { keys: deps.keyRing.publicJwks() };
    },
  };
}
