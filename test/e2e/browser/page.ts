/**
 * The test page: what a browser app does with Tokensmith, over the Connect
 * protocol and over gRPC-Web. It imports "tokensmith" as an app would; the
 * bundler's "browser" condition resolves that to the connect-web client.
 * Each step renders one line into an element whose id the test reads.
 */
import { basicAuthorization, ClientCredentialsTokenSource, Code, ConnectError, createTokenClient, oauthErrorOf } from "tokensmith";

const params = new URLSearchParams(location.hash.slice(1));
const baseUrl = params.get("tokensmith") ?? "";
const clientId = params.get("clientId") ?? "";
const clientSecret = params.get("clientSecret") ?? "";

function describeError(error: unknown): string {
  const failure = ConnectError.from(error);
  return `error: ${Code[failure.code]}: ${oauthErrorOf(failure) ?? "no OAuth error"}: ${failure.rawMessage}`;
}

async function step(id: string, run: () => Promise<string>): Promise<void> {
  const line = document.createElement("p");
  line.id = id;
  line.textContent = "…";
  document.body.append(line);
  try {
    line.textContent = await run();
  } catch (error) {
    line.textContent = describeError(error);
  }
}

async function main(): Promise<void> {
  const authorization = basicAuthorization(clientId, clientSecret);
  for (const protocol of ["connect", "grpc-web"] as const) {
    const heading = document.createElement("h2");
    heading.textContent = protocol;
    document.body.append(heading);
    const client = createTokenClient({ baseUrl, protocol });
    let token = "";

    await step(`${protocol}-token`, async () => {
      const issued = await client.issueClientToken({ scopes: ["orders:read"] }, { headers: { authorization } });
      token = issued.accessToken;
      return `token issued: ${issued.tokenType}, expires in ${issued.expiresIn} s, scopes ${issued.scopes.join(" ")}`;
    });

    await step(`${protocol}-introspection`, async () => {
      const result = await client.introspect({ token }, { headers: { authorization } });
      return `introspection: active=${result.active}, client_id=${result.clientId}, scopes ${result.scopes.join(" ")}`;
    });

    await step(`${protocol}-denied`, async () => {
      await client.issueClientToken({ scopes: ["billing:read"] }, { headers: { authorization } });
      return "unexpectedly issued a token for billing:read";
    });

    await step(`${protocol}-token-source`, async () => {
      const source = new ClientCredentialsTokenSource({ client, clientId, clientSecret });
      const tokens = await Promise.all([source.getToken(), source.getToken(), source.getToken()]);
      return `token source: ${new Set(tokens).size} token for ${tokens.length} callers`;
    });
  }
  document.body.dataset.done = "true";
}

void main();
