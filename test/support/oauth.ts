import { randomUUID } from "node:crypto";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";

/** Helpers for the OAuth 2.0 HTTP facade tests: plain HTTP, client keys and assertions, a JWKS host. */

export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const FORM = "application/x-www-form-urlencoded";

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  json: unknown;
}

async function readResponse(response: Response): Promise<HttpResult> {
  const text = await response.text();
  let json: unknown;
  if (text.length > 0 && (response.headers.get("content-type") ?? "").startsWith("application/json")) json = JSON.parse(text);
  return { status: response.status, headers: response.headers, text, json };
}

/** A form body: an object, a list of pairs (to repeat a name), or an already encoded string. */
export type FormInput = Record<string, string> | [string, string][] | string;

export function encodeForm(form: FormInput): string {
  return typeof form === "string" ? form : new URLSearchParams(form).toString();
}

/** POSTs an application/x-www-form-urlencoded body (the content type can be overridden). */
export async function postForm(url: string, form: FormInput, headers: Record<string, string> = {}): Promise<HttpResult> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": FORM, ...headers },
    body: encodeForm(form),
  });
  return readResponse(response);
}

export interface SourcedReply {
  status: number;
  /** The parsed JSON body; {} when empty. */
  body: Record<string, unknown>;
  retryAfter: string | undefined;
}

/**
 * POSTs with node:http from a chosen loopback source address (127.0.0.x via
 * `localAddress`), so one test can play several peers, proxies and callers.
 */
export function postFrom(url: string, body: string, options: { from?: string; headers?: Record<string, string> } = {}): Promise<SourcedReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: "POST", localAddress: options.from ?? "127.0.0.1", headers: { "content-length": String(Buffer.byteLength(body)), ...options.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, retryAfter: res.headers["retry-after"] });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** POSTs a form to `path` from a chosen loopback source address (see postFrom). */
export function postFormFrom(
  url: string,
  path: string,
  form: FormInput,
  options: { from?: string; authorization?: string; headers?: Record<string, string> } = {},
): Promise<SourcedReply> {
  const headers: Record<string, string> = { "content-type": FORM, ...options.headers };
  if (options.authorization) headers.authorization = options.authorization;
  return postFrom(new URL(path, url).toString(), encodeForm(form), { from: options.from, headers });
}

export async function httpGet(url: string, init: RequestInit = {}): Promise<HttpResult> {
  return readResponse(await fetch(url, init));
}

/**
 * POSTs a body with `Transfer-Encoding: chunked` (no Content-Length), written
 * in pieces through node:http. Resolves the answer, or the socket error when
 * the server drops the connection instead of answering.
 */
export function postChunked(
  url: string,
  chunks: Buffer[],
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string } | { error: Error }> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: "POST", headers: { "content-type": FORM, ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (chunk: Buffer) => parts.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString("utf8") }));
      res.on("error", (error) => resolve({ error }));
    });
    req.on("error", (error) => resolve({ error }));
    const write = (index: number): void => {
      if (index >= chunks.length) {
        req.end();
        return;
      }
      if (req.destroyed) return;
      req.write(chunks[index], () => setImmediate(() => write(index + 1)));
    };
    write(0);
  });
}

export type AssertionAlg = "ES256" | "EdDSA" | "Ed25519" | "RS256" | "PS256";

export interface ClientKey {
  alg: AssertionAlg;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public JWK to register, with `kid` and `use`, without `alg` (so any name of the algorithm may select it). */
  publicJwk: PublicJwk;
}

/** A JWK as the config schema takes it: `kty` always present. */
export type PublicJwk = JWK & { kty: string; kid: string };

export async function generateClientKey(alg: AssertionAlg, kid = `${alg.toLowerCase()}-${randomUUID()}`): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const { kty, ...exported } = await exportJWK(publicKey);
  if (kty === undefined) throw new Error("exportJWK gave no kty");
  return { alg, kid, privateKey, publicKey, publicJwk: { ...exported, kty, kid, use: "sig" } };
}

/**
 * RFC 7523 assertion claims for `clientId`, valid for a minute from `nowMs`.
 * An override set to undefined removes the claim.
 */
export function assertionClaims(clientId: string, audience: string | string[], nowMs: number, overrides: Record<string, unknown> = {}): JWTPayload {
  const now = Math.floor(nowMs / 1000);
  const claims: Record<string, unknown> = { iss: clientId, sub: clientId, aud: audience, iat: now, exp: now + 60, jti: randomUUID(), ...overrides };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return claims as JWTPayload;
}

export async function signAssertion(key: ClientKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An unsecured JWT (RFC 7519 §6, `alg: none`): no signature at all. */
export function unsecuredJwt(claims: JWTPayload, header: Record<string, unknown> = {}): string {
  return `${b64url({ alg: "none", typ: "JWT", ...header })}.${b64url(claims)}.`;
}

/** A JWT MACed with HS256 under `secret` (what client_secret_jwt would send). */
export async function hs256Jwt(secret: string | Uint8Array, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", ...header }).sign(key);
}

/** The form fields of private_key_jwt client authentication. */
export function assertionForm(assertion: string, extra: Record<string, string> = {}): Record<string, string> {
  return { client_assertion_type: JWT_BEARER, client_assertion: assertion, ...extra };
}

export interface JsonHost {
  url: string;
  /** How many GET requests it has answered. */
  hits(): number;
  /** What the next requests get: a body (served as JSON with status 200), or a status and body. */
  serve(source: () => unknown | Promise<unknown>): void;
  close(): Promise<void>;
}

/**
 * A tiny node:http server answering every GET with JSON from `source`: a
 * client's jwks_uri, or a proxy in front of Tokensmith's JWKS whose key list
 * a test can empty.
 */
export async function startJsonHost(source: () => unknown | Promise<unknown>, path = "/jwks.json"): Promise<JsonHost> {
  let current = source;
  const host = await startHttpHost((_req, res) => {
    Promise.resolve()
      .then(() => current())
      .then(
        (body) => {
          const payload = JSON.stringify(body);
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
          res.end(payload);
        },
        () => {
          res.writeHead(502);
          res.end();
        },
      );
  }, path);
  return {
    ...host,
    serve(next) {
      current = next;
    },
  };
}

export interface HttpHost {
  url: string;
  /** Requests received. */
  hits(): number;
  /** TCP connections accepted (a client that connects and then gives up, e.g. in TLS, counts here only). */
  connections(): number;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1 answering with `handler`, counting what reaches it. */
export async function startHttpHost(handler: (req: IncomingMessage, res: ServerResponse) => void, path = "/jwks.json"): Promise<HttpHost> {
  let requests = 0;
  let connections = 0;
  const server = createServer((req, res) => {
    requests += 1;
    handler(req, res);
  });
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    hits: () => requests,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The JSON error body of RFC 6749 §5.2, checked to have exactly `error` and a string `error_description`. */
export function oauthErrorOf(result: HttpResult): string {
  const body = result.json as Record<string, unknown> | undefined;
  if (body === undefined || typeof body !== "object") throw new Error(`expected a JSON error body, got ${result.status} ${result.text}`);
  const keys = Object.keys(body).sort();
  if (keys.join(",") !== "error,error_description" || typeof body.error_description !== "string" || typeof body.error !== "string") {
    throw new Error(`not an RFC 6749 §5.2 error body: ${result.text}`);
  }
  return body.error;
}
