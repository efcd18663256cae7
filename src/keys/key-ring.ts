import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AccessTokenClaims, AccessTokenSigner } from "../domain/access-token.js";
import type { Clock } from "../domain/clock.js";
import { signingInputOf } from "./jws.js";
import { inlineSignatures, type Signatures } from "./signing-threads.js";
import { ed25519Engine, type Ed25519Engine } from "./ed25519.js";
import type { KeyEncryption } from "./key-encryption.js";
import {
  deserializeSigningKey,
  generateSigningKey,
  serializeSigningKey,
  type PublicJwk,
  type SerializedSigningKey,
  type SigningAlgorithm,
  type SigningKey,
} from "./signing-key.js";

/** A key in the ring: it signs from `signsFrom` on, and leaves the JWKS after `retireAfter`. */
export interface KeyRingEntry extends SerializedSigningKey {
  signsFrom: number;
  retireAfter?: number;
}

export interface KeyRingState {
  keys: KeyRingEntry[];
}

/** Where the key ring lives between starts (and, for the store, between instances). */
export interface KeyRingPersistence {
  load(): Promise<KeyRingState | undefined>;
  /** With `create`, writes only if nothing is stored yet and resolves false when another writer won. */
  save(state: KeyRingState, options?: { create?: boolean }): Promise<boolean>;
}

/** No persistence: a fresh key every start (tokens from a previous run stop verifying). */
export class EphemeralKeyPersistence implements KeyRingPersistence {
  private state: KeyRingState | undefined;
  async load() {
    return this.state;
  }
  async save(state: KeyRingState) {
    this.state = state;
    return true;
  }
}

const FILE_AAD = "tokensmith signing key ring file";

/** `<dataDir>/signing-keys.json`, readable by the owner only, replaced atomically. */
export class FileKeyPersistence implements KeyRingPersistence {
  private readonly path: string;
  constructor(
    private readonly dataDir: string,
    private readonly encryption?: KeyEncryption,
  ) {
    this.path = join(dataDir, "signing-keys.json");
  }
  async load(): Promise<KeyRingState | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    const parsed = JSON.parse(text) as KeyRingState | { encrypted: string };
    if ("encrypted" in parsed) {
      if (this.encryption === undefined) throw new Error(`${this.path} is encrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY`);
      return JSON.parse(this.encryption.decrypt(parsed.encrypted, FILE_AAD)) as KeyRingState;
    }
    if (this.encryption !== undefined) await this.save(parsed);
    return parsed;
  }
  async save(state: KeyRingState): Promise<boolean> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    const body = this.encryption === undefined ? state : { encrypted: this.encryption.encrypt(JSON.stringify(state), FILE_AAD) };
    await writeFile(temporary, JSON.stringify(body, null, 2), { mode: 0o600 });
    await rename(temporary, this.path);
    return true;
  }
}

/**
 * The signing keys. The newest key whose `signsFrom` has come signs; every
 * key not yet retired is published in the JWKS and verifies. Rotation adds a
 * key that is published before it signs, and schedules the old key to leave
 * once the last token it signed has expired.
 */
export class KeyRing implements AccessTokenSigner {
  private entries: KeyRingEntry[] = [];
  private keys = new Map<string, SigningKey>();
  private activeKey!: SigningKey;
  private activeUntil = Number.POSITIVE_INFINITY;

  private constructor(
    private readonly persistence: KeyRingPersistence,
    private readonly algorithm: SigningAlgorithm,
    private readonly clock: Clock,
    private readonly signatures: Signatures,
    private readonly ed25519: Ed25519Engine,
  ) {}

  /** Loads the ring, or creates it with one fresh key on first start. */
  static async open(options: {
    persistence: KeyRingPersistence;
    algorithm: SigningAlgorithm;
    clock: Clock;
    /** Where signatures are computed: the event loop (default) or signing threads. */
    signatures?: Signatures;
    /** Who computes Ed25519 signatures (default: libsodium where it loads). */
    ed25519?: Ed25519Engine;
  }): Promise<KeyRing> {
    const engine = options.ed25519 ?? ed25519Engine();
    const ring = new KeyRing(options.persistence, options.algorithm, options.clock, options.signatures ?? inlineSignatures, engine);
    let state = await options.persistence.load();
    if (state === undefined || state.keys.length === 0) {
      const key = await generateSigningKey(options.algorithm, options.clock.now(), engine);
      const created: KeyRingState = { keys: [{ ...serializeSigningKey(key), signsFrom: key.createdAt }] };
      // Another instance may have created the ring at the same moment: theirs wins.
      state = (await options.persistence.save(created, { create: true })) ? created : await options.persistence.load();
      if (state === undefined) throw new Error("signing key ring: could not create or load the key ring");
    }
    await ring.apply(state);
    return ring;
  }

  /**
   * Re-reads the ring from its persistence (to see another instance's
   * rotation). Keys this instance holds that the persistence lost are put
   * back, never given up: the ring gone entirely (Redis flushed, or failed
   * over without persistence) is written back only if still absent, and a
   * ring that lacks held keys still in service (another instance created a
   * fresh one after the loss) gets them merged in. Otherwise every token
   * they signed would stop verifying fleet-wide.
   */
  async reload(): Promise<void> {
    const now = this.clock.now();
    const held = this.entries.filter((entry) => entry.retireAfter === undefined || entry.retireAfter > now);
    let state = await this.persistence.load();
    if (state === undefined || state.keys.length === 0) {
      if (held.length === 0 || (await this.persistence.save({ keys: this.entries }, { create: true }))) return;
      // Another holder, or a starting instance, wrote first: merge with theirs.
      state = await this.persistence.load();
      if (state === undefined || state.keys.length === 0) return;
    }
    const stored = new Set(state.keys.map((entry) => entry.kid));
    const lost = held.filter((entry) => !stored.has(entry.kid));
    if (lost.length > 0) {
      // Rotation never drops a key before it retires, so a held key missing here was lost, not removed.
      state = { keys: [...state.keys, ...lost] };
      await this.persistence.save(state);
    }
    await this.apply(state);
  }

  /**
   * Adds a new key that is published now and signs after `publishDelayMs`;
   * the keys signing until then retire `retireAfterMs` after the new key takes over.
   */
  async rotate(options: { publishDelayMs: number; retireAfterMs: number }): Promise<KeyRingEntry> {
    await this.reload();
    const now = this.clock.now();
    const key = await generateSigningKey(this.algorithm, now, this.ed25519);
    const entry: KeyRingEntry = { ...serializeSigningKey(key), signsFrom: now + options.publishDelayMs };
    const retireAfter = entry.signsFrom + options.retireAfterMs;
    const kept = this.entries
      .filter((existing) => existing.retireAfter === undefined || existing.retireAfter > now)
      .map((existing) => (existing.retireAfter === undefined ? { ...existing, retireAfter } : existing));
    const state: KeyRingState = { keys: [...kept, entry] };
    await this.persistence.save(state);
    await this.apply(state);
    return entry;
  }

  /** The ring as stored, without private keys: for listing. */
  describe(): Array<Omit<KeyRingEntry, "privateJwk"> & { active: boolean; published: boolean }> {
    const now = this.clock.now();
    const active = this.active().kid;
    return this.entries.map(({ privateJwk: _privateJwk, ...entry }) => ({
      ...entry,
      active: entry.kid === active,
      published: entry.retireAfter === undefined || entry.retireAfter > now,
    }));
  }

  private async apply(state: KeyRingState): Promise<void> {
    const keys = new Map<string, SigningKey>();
    for (const entry of state.keys) keys.set(entry.kid, this.keys.get(entry.kid) ?? (await deserializeSigningKey(entry, this.ed25519)));
    this.entries = [...state.keys].sort((a, b) => a.signsFrom - b.signsFrom);
    this.keys = keys;
    this.selectActive();
  }

  private selectActive(): void {
    const now = this.clock.now();
    let active: KeyRingEntry | undefined;
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.entries) {
      if (entry.signsFrom <= now) active = entry;
      else next = Math.min(next, entry.signsFrom);
    }
    // Before any key's start (clock skew), the oldest key signs.
    active ??= this.entries[0];
    if (active === undefined) throw new Error("signing key ring is empty");
    this.activeKey = this.keys.get(active.kid)!;
    this.activeUntil = next;
  }

  active(): SigningKey {
    if (this.clock.now() >= this.activeUntil) this.selectActive();
    return this.activeKey;
  }

  find(kid: string): SigningKey | undefined {
    const key = this.keys.get(kid);
    if (key === undefined) return undefined;
    const entry = this.entries.find((candidate) => candidate.kid === kid);
    return entry?.retireAfter !== undefined && entry.retireAfter <= this.clock.now() ? undefined : key;
  }

  publicJwks(): PublicJwk[] {
    const now = this.clock.now();
    return this.entries
      .filter((entry) => entry.retireAfter === undefined || entry.retireAfter > now)
      .map((entry) => this.keys.get(entry.kid)!.publicJwk);
  }

  async sign(claims: AccessTokenClaims): Promise<string> {
    const key = this.active();
    const signingInput = signingInputOf(key, claims);
    return `${signingInput}.${await this.signatures.sign(key, signingInput)}`;
  }

  /** Stops the signing threads, if any. */
  close(): Promise<void> {
    return this.signatures.close();
  }
}
