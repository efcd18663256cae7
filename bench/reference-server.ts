/**
 * The machine's ceiling for the `oauth-token` request shape: a bare
 * node:http server that reads the form, checks that a Basic header is
 * there, signs an EdDSA JWT (synchronous node:crypto) and answers. No client
 * lookup, no secret check, no scopes, no metrics, no store: not a token
 * service, a yardstick. Run it in place of Tokensmith with the bench:
 *
 *   npm run bench -- --rate 11000 --scenarios oauth-token \
 *     --server-cmd 'exec node --import tsx bench/reference-server.ts'
 *
 * It serves what the bench needs to start and verify: GET /.well-known/jwks.json
 * and POST /oauth2/token. TOKENSMITH_PORT and TOKENSMITH_WORKERS as for Tokensmith.
 */
import cluster from "node:cluster";
import { generateKeyPairSync, randomUUID, sign } from "node:crypto";
import http from "node:http";

const port = Number(process.env.TOKENSMITH_PORT ?? 8080);
const workers = Number(process.env.TOKENSMITH_WORKERS ?? 1);

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
    process.exit(0);
  });
} else {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "reference", alg: "EdDSA", use: "sig" }] });
  const header = Buffer.from(JSON.stringify({ alg: "EdDSA", kid: "reference", typ: "at+jwt" })).toString("base64url");
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.url === "/.well-known/jwks.json") {
        res.writeHead(200, { "content-type": "application/json" }).end(jwks);
        return;
      }
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      if (req.url !== "/oauth2/token" || !req.headers.authorization?.startsWith("Basic ") || form.get("grant_type") !== "client_credentials") {
        res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_request"}');
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: "http://reference", sub: "bench-client", aud: "http://reference", scope: form.get("scope") ?? "", iat: now, exp: now + 3600, jti: randomUUID() };
      const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
      const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString("base64url")}`;
      const body = JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: 3600, scope: claims.scope });
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(body);
    });
  });
  server.on("connection", (socket) => socket.setNoDelay(true));
  server.listen(port, "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
