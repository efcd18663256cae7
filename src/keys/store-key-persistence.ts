import type { Store } from "../store/store.js";
import { storeKeys } from "../store/store.js";
import type { KeyEncryption } from "./key-encryption.js";
import type { KeyRingPersistence, KeyRingState } from "./key-ring.js";

const AAD = "tokensmith signing key ring";

/**
 * The key ring in the shared Store, so every instance signs and verifies with
 * the same keys. Private keys are encrypted with the KEK when one is
 * configured. The first instance to start creates the ring (SET NX); the
 * others load it.
 */
export class StoreKeyPersistence implements KeyRingPersistence {
  constructor(
    private readonly store: Store,
    private readonly encryption: KeyEncryption | undefined,
  ) {}

  async load(): Promise<KeyRingState | undefined> {
    const stored = await this.store.get(storeKeys.signingKeys());
    if (stored === null) return undefined;
    const parsed = JSON.parse(stored) as { encrypted?: string; plain?: KeyRingState };
    if (parsed.encrypted !== undefined) {
      if (this.encryption === undefined) {
        throw new Error("the stored signing keys are encrypted: set TOKENSMITH_KEY_ENCRYPTION_KEY to the key-encryption key");
      }
      return JSON.parse(this.encryption.decrypt(parsed.encrypted, AAD)) as KeyRingState;
    }
    // A ring stored in clear before a KEK was configured is encrypted now, not at the next rotation.
    if (parsed.plain !== undefined && this.encryption !== undefined) await this.save(parsed.plain);
    return parsed.plain;
  }

  async save(state: KeyRingState, options: { create?: boolean } = {}): Promise<boolean> {
    const body =
      this.encryption === undefined
        ? { plain: state }
        : { encrypted: this.encryption.encrypt(JSON.stringify(state), AAD) };
    return this.store.set(storeKeys.signingKeys(), JSON.stringify(body), { onlyIfAbsent: options.create === true });
  }
}
