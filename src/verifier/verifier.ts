import { Code, ConnectError } from "@connectrpc/connect";
import { errors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from "jose";
import type { ClientSessionOptions, SecureClientSessionOptions } from "node:http2";
import { basicAuthorization } from "../client/basic-authorization.js";
import { createTokenClient } from "../client/index.js";
import type { TokenClient } from "../client/token-client.js";
import { KeySet } from "./key-set.js";
import { RevocationSet } from "./revocation-set.js";
import { RevocationStream, type WatchMessage } from "./revocation-stream.js";

export interface VerifierOptions {
  /** Where Tokensmith listens, e.g. `https://tokens.example.com`: WatchRevocations, Introspect and (by default) the JWKS. */
  baseUrl: string;
  /** The `iss` tokens must carry: Tokensmith's issuer. */
  issuer: string;
  /** This resource server's name: a token must list it (or one of them) in `aud`. */
  audience: string | string[];
  /** A client with the scope `token:introspect`, for WatchRevocations (and Introspect when stale). */
  clientId: string;
  clientSecret: string;
  /** How long the revocation stream may be silent (no event, no heartbeat) before verify() answers `stale`. Default 5000; keep it above the server's heartbeat (1 s). */
  maxStalenessMs?: number;
  /** While stale: "fail" (default) refuses every token with reason `stale`; "introspect" asks Introspect per token until the stream is back. */
  onStale?: "fail" | "introspect";
  /** Leeway for `exp` and `nbf`, in seconds. Default 5. */
  clockToleranceSeconds?: number;
  /** Default `<baseUrl>/.well-known/jwks.json`. */
  jwksUri?: string;
  /** The fewest ms between JWKS fetches caused by unknown kids. Default 1000. */
  jwksMinRefetchMs?: number;
  /** Default "grpc" (HTTP/2); "connect" and "grpc-web" also work. */
  protocol?: "connect" | "grpc" | "grpc-web";
  /** TLS options, e.g. `{ ca }` for a private CA. */
  nodeOptions?: ClientSessionOptions | SecureClientSessionOptions;
  /** Reconnect delays of the revocation stream. Defaults 100 and 5000 ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Verified tokens remembered by their text, so a repeated token costs no signature check. Default 10,000. */
  cacheSize?: number;
  /** Told of every stream or JWKS failure (the verifier keeps retrying). Default: none. */
  onError?: (error: unknown) => void;
}

/** The claims of a Tokensmith access token (RFC 9068) that passed every check. */
export interface VerifiedClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  /** Space-separated, possibly empty. */
  scope: string;
}

/** Why a token is not accepted. */
export type InactiveReason =
  /** Not a JWT, or not one Tokensmith issues (header, claims). */
  | "malformed"
  /** The signature does not verify, or the algorithm is not the key's. */
  | "invalid_signature"
  /** No published key has its `kid` (also after a JWKS refetch). */
  | "unknown_key"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  /** Revoked by itself, or with all of its client's tokens (RevokeClientTokens, DeleteClient). */
  | "revoked"
  /** The revocation stream has been silent too long (or has not delivered its snapshot yet): no token is trusted. */
  | "stale";

export type VerifyResult = { active: true; claims: VerifiedClaims } | { active: false; reason: InactiveReason };

export interface VerifierStatus {
  /** JWKS loaded and a snapshot applied. */
  ready: boolean;
  stale: boolean;
  /** The cursor of the last message applied ("" before the first). */
  cursor: string;
  /** Revoked token ids held (each until its token expires). */
  revokedTokens: number;
  clientCutoffs: number;
  signingKeyIds: string[];
}

export interface Verifier {
  /** Resolves once the JWKS is loaded and the first snapshot applied; until then verify() answers `stale`. */
  ready(): Promise<void>;
  verify(token: string): Promise<VerifyResult>;
  status(): VerifierStatus;
  /** Ends the stream; verify() answers `stale` afterwards. */
  close(): Promise<void>;
}

const CLAIMS_OF_TOKENSMITH = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"] as const;
const SWEEP_MS = 1_000;

/** A verifier of Tokensmith access tokens for resource servers; start it with `ready()`. */
export function createVerifier(options: VerifierOptions): Verifier {
  return new TokensmithVerifier(options);
}

class TokensmithVerifier implements Verifier {
  private readonly keys: KeySet;
  private readonly revocations: RevocationSet;
  private readonly stream: RevocationStream;
  private readonly client: TokenClient;
  private readonly audiences: string[];
  private readonly toleranceSeconds: number;
  private readonly maxStalenessMs: number;
  /** Verified tokens by text: claims, and the kid that must still be published. */
  private readonly verified = new Map<string, { claims: VerifiedClaims; kid: string; issuedAtMs: number }>();
  private readonly cacheSize: number;
  private readonly sweeper: NodeJS.Timeout;
  private snapshotApplied = false;
  private closed = false;
  private started: Promise<void> | undefined;
  /** Settled by the first snapshot (undefined), by close() or by a refusal of our credentials (an error). */
  private readonly readyWaiters = new Set<(failure?: Error) => void>();

  constructor(private readonly options: VerifierOptions) {
    this.audiences = Array.isArray(options.audience) ? options.audience : [options.audience];
    if (this.audiences.length === 0) throw new TypeError("createVerifier: audience must name this resource server");
    this.toleranceSeconds = options.clockToleranceSeconds ?? 5;
    this.maxStalenessMs = options.maxStalenessMs ?? 5_000;
    this.cacheSize = options.cacheSize ?? 10_000;
    const baseUrl = options.baseUrl.replace(/\/$/, "");
    this.keys = new KeySet({
      jwksUri: options.jwksUri ?? `${baseUrl}/.well-known/jwks.json`,
      minRefetchMs: options.jwksMinRefetchMs ?? 1_000,
      timeoutMs: 5_000,
    });
    this.revocations = new RevocationSet(this.toleranceSeconds);
    this.client = createTokenClient({
      baseUrl,
      protocol: options.protocol ?? "grpc",
      authorization: basicAuthorization(options.clientId, options.clientSecret),
      ...(options.nodeOptions === undefined ? {} : { nodeOptions: options.nodeOptions }),
    });
    this.stream = new RevocationStream({
      client: this.client,
      apply: (message) => this.apply(message),
      minBackoffMs: options.minBackoffMs ?? 100,
      maxBackoffMs: options.maxBackoffMs ?? 5_000,
      onError: (error) => {
        // Wrong credentials or scope will not fix themselves: ready() says so rather than wait forever (the stream keeps retrying).
        if (!this.snapshotApplied && error instanceof ConnectError && (error.code === Code.Unauthenticated || error.code === Code.PermissionDenied)) {
          this.settleReady(new Error(`WatchRevocations refused the verifier's client "${options.clientId}": ${error.message}`, { cause: error }));
        }
        this.options.onError?.(error);
      },
    });
    this.sweeper = setInterval(() => this.revocations.sweep(Date.now() / 1000), SWEEP_MS);
    this.sweeper.unref();
  }

  ready(): Promise<void> {
    this.started ??= this.start().catch((error: unknown) => {
      // A later ready() tries again (say, once the client has been given its scope).
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  private async start(): Promise<void> {
    // The keys first: a snapshot may name kids to keep, and tokens cannot be checked without them.
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new Error("the verifier was closed before it was ready");
      try {
        await this.keys.load();
        break;
      } catch (error) {
        this.options.onError?.(error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
    this.stream.start();
    if (this.snapshotApplied) return;
    const failure = await new Promise<Error | undefined>((resolve) => this.readyWaiters.add(resolve));
    if (failure !== undefined) throw failure;
    if (this.closed) throw new Error("the verifier was closed before it was ready");
  }

  status(): VerifierStatus {
    return {
      ready: this.snapshotApplied,
      stale: this.isStale(),
      cursor: this.stream.position,
      revokedTokens: this.revocations.size,
      clientCutoffs: this.revocations.clientCutoffs,
      signingKeyIds: this.keys.kids,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.keys.close();
    await this.stream.stop();
    this.settleReady();
  }

  private settleReady(failure?: Error): void {
    for (const settle of this.readyWaiters) settle(failure);
    this.readyWaiters.clear();
  }

  async verify(token: string): Promise<VerifyResult> {
    const local = await this.verifyLocally(token);
    if (!local.ok) return { active: false, reason: local.reason };
    const { claims, issuedAtMs } = local;
    if (this.isStale()) return this.options.onStale === "introspect" && !this.closed ? this.introspect(token, claims) : STALE;
    if (this.revocations.isRevoked(claims.jti, claims.client_id, issuedAtMs)) return REVOKED;
    // A token exchanged (RFC 8693) for one that is revoked is revoked too.
    const ancestors = claims.ancestor_jtis;
    if (Array.isArray(ancestors) && ancestors.some((jti) => typeof jti !== "string" || this.revocations.isRevokedToken(jti))) return REVOKED;
    return { active: true, claims };
  }

  private isStale(): boolean {
    return this.closed || !this.snapshotApplied || performance.now() - this.stream.lastHeardAt > this.maxStalenessMs;
  }

  private async introspect(token: string, claims: VerifiedClaims): Promise<VerifyResult> {
    try {
      const answer = await this.client.introspect({ token }, { timeoutMs: 5_000 });
      return answer.active ? { active: true, claims } : REVOKED;
    } catch (error) {
      this.options.onError?.(error);
      return STALE;
    }
  }

  /** Signature, header and claims: everything but revocation. */
  private async verifyLocally(token: string): Promise<{ ok: true; claims: VerifiedClaims; issuedAtMs: number } | { ok: false; reason: InactiveReason }> {
    const cached = this.verified.get(token);
    if (cached !== undefined) {
      const now = Date.now() / 1000;
      if (!this.keys.has(cached.kid)) {
        this.verified.delete(token);
      } else if (cached.claims.exp + this.toleranceSeconds <= now) {
        this.verified.delete(token);
        return { ok: false, reason: "expired" };
      } else if (typeof cached.claims.nbf === "number" && cached.claims.nbf - this.toleranceSeconds > now) {
        return { ok: false, reason: "not_yet_valid" };
      } else {
        return { ok: true, claims: cached.claims, issuedAtMs: cached.issuedAtMs };
      }
    }
    if (token.length > 8192) return { ok: false, reason: "malformed" };
    let verified: { payload: JWTPayload; protectedHeader: JWTHeaderParameters };
    try {
      verified = await jwtVerify(token, (header) => this.keyFor(header), {
        issuer: this.options.issuer,
        audience: this.audiences,
        typ: "at+jwt",
        clockTolerance: this.toleranceSeconds,
        requiredClaims: [...CLAIMS_OF_TOKENSMITH],
      });
    } catch (error) {
      return { ok: false, reason: reasonOf(error) };
    }
    const claims = verified.payload;
    if (!isTokensmithClaims(claims)) return { ok: false, reason: "malformed" };
    const issuedAtMs = issuedAtMsOf(claims);
    if (this.verified.size >= this.cacheSize) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, { claims, kid: verified.protectedHeader.kid as string, issuedAtMs });
    return { ok: true, claims, issuedAtMs };
  }

  private async keyFor(header: JWTHeaderParameters) {
    if (typeof header.kid !== "string") throw new UnknownKey();
    let entry = this.keys.get(header.kid);
    // A key published since the last fetch (rotation publishes before it signs), or a forged kid: rate-limited either way.
    if (entry === undefined && (await this.keys.refresh())) entry = this.keys.get(header.kid);
    if (entry === undefined) throw new UnknownKey();
    if (header.alg !== entry.alg) throw new errors.JOSEAlgNotAllowed("the token's alg is not its key's");
    return entry.key;
  }

  private async apply(message: WatchMessage): Promise<void> {
    const nowSeconds = Date.now() / 1000;
    switch (message.case) {
      case "snapshot": {
        const { revokedTokens, clientCutoffs, signingKeyIds } = message.value;
        this.revocations.replace(
          revokedTokens.map(({ jti, exp }) => ({ jti, exp: Number(exp) })),
          clientCutoffs.map(({ clientId, issuedBeforeMs }) => ({ clientId, issuedBeforeMs: Number(issuedBeforeMs) })),
          nowSeconds,
        );
        this.publishedKeys(signingKeyIds);
        this.snapshotApplied = true;
        this.settleReady();
        return;
      }
      case "event": {
        const event = message.value.kind;
        if (event.case === "accessTokenRevoked") this.revocations.revokeToken(event.value.jti, Number(event.value.exp), nowSeconds);
        else if (event.case === "clientTokensRevoked") this.revocations.revokeClient(event.value.clientId, Number(event.value.issuedBeforeMs));
        else if (event.case === "signingKeysChanged") this.publishedKeys(event.value.signingKeyIds);
        // client_changed and api_key_changed change nothing a resource server holds: a deletion comes with its cut-off.
        return;
      }
      default:
        return;
    }
  }

  /** Drops retired keys; fetches the JWKS when a published key is not held yet. */
  private publishedKeys(kids: readonly string[]): void {
    if (this.keys.retain(kids)) this.keys.refreshSoon((error) => this.options.onError?.(error));
  }
}

const STALE: VerifyResult = { active: false, reason: "stale" };
const REVOKED: VerifyResult = { active: false, reason: "revoked" };

class UnknownKey extends Error {}

function reasonOf(error: unknown): InactiveReason {
  if (error instanceof UnknownKey) return "unknown_key";
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JOSEAlgNotAllowed) return "invalid_signature";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "iss") return "wrong_issuer";
    if (error.claim === "aud") return "wrong_audience";
    if (error.claim === "nbf") return "not_yet_valid";
  }
  return "malformed";
}

function isTokensmithClaims(claims: JWTPayload): claims is VerifiedClaims {
  const { sub, jti, client_id, scope, iat } = claims as Record<string, unknown>;
  return typeof sub === "string" && typeof jti === "string" && typeof client_id === "string" && typeof scope === "string" && typeof iat === "number";
}

/** The issue instant in ms: Tokensmith's `iat_ms` when consistent with `iat`, else the start of the `iat` second (as the server counts it). */
function issuedAtMsOf(claims: VerifiedClaims): number {
  const iatMs = claims.iat_ms;
  return typeof iatMs === "number" && Number.isSafeInteger(iatMs) && Math.floor(iatMs / 1000) === claims.iat ? iatMs : claims.iat * 1000;
}
