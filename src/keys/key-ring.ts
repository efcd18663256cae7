import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AccessTokenClaims, AccessTokenSigner } from "../domain/access-token.js";
import type { Clock } from "../domain/clock.js";
import { signCompact } from "./jws.js";
import {
  deserializeSigningKey,
  generateSigningKey,
  serializeSigningKey,
  type PublicJwk,
  type SerializedSigningKey,
  type SigningAlgorithm,
  type SigningKey,
} from "./signing-key.js";

export interface KeyRingState {
  activeKid: string;
  keys: SerializedSigningKey[];
}

/** Where the key ring lives between starts. */
export interface KeyRingPersistence {
  load(): Promise<KeyRingState | undefined>;
  save(state: KeyRingState): Promise<void>;
}

/** No persistence: a fresh key every start (tokens from a previous run stop verifying). */
export class EphemeralKeyPersistence implements KeyRingPersistence {
  private state: KeyRingState | undefined;
  async load() {
    return this.state;
  }
  async save(state: KeyRingState) {
    this.state = state;
  }
}

/** `<dataDir>/signing-keys.json`, readable by the owner only, replaced atomically. */
export class FileKeyPersistence implements KeyRingPersistence {
  private readonly path: string;
  constructor(private readonly dataDir: string) {
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
    return JSON.parse(text) as KeyRingState;
  }
  async save(state: KeyRingState): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(state, null, 2), { mode: 0o600 });
    await rename(temporary, this.path);
  }
}

/** The signing keys: one active key signs, every key in the ring is published and verifies. */
export class KeyRing implements AccessTokenSigner {
  private constructor(
    private keys: Map<string, SigningKey>,
    private activeKey: SigningKey,
  ) {}

  /** Loads the ring, or creates it with one fresh key on first start. */
  static async open(options: { persistence: KeyRingPersistence; algorithm: SigningAlgorithm; clock: Clock }): Promise<KeyRing> {
    const state = await options.persistence.load();
    if (state !== undefined && state.keys.length > 0) {
      const keys = new Map<string, SigningKey>();
      for (const serialized of state.keys) keys.set(serialized.kid, await deserializeSigningKey(serialized));
      const active = keys.get(state.activeKid);
      if (active === undefined) throw new Error(`signing key ring: active key ${state.activeKid} is missing`);
      return new KeyRing(keys, active);
    }
    const key = await generateSigningKey(options.algorithm, options.clock.now());
    await options.persistence.save({ activeKid: key.kid, keys: [serializeSigningKey(key)] });
    return new KeyRing(new Map([[key.kid, key]]), key);
  }

  active(): SigningKey {
    return this.activeKey;
  }

  find(kid: string): SigningKey | undefined {
    return this.keys.get(kid);
  }

  publicJwks(): PublicJwk[] {
    return [...this.keys.values()].map((key) => key.publicJwk);
  }

  sign(claims: AccessTokenClaims): string {
    return signCompact(this.activeKey, claims);
  }
}
