import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/**
 * AES-256-GCM envelope for private keys at rest. The key-encryption key (KEK)
 * comes from the environment (32 bytes, base64 or hex), never from the store.
 */
export class KeyEncryption {
  private constructor(private readonly kek: Buffer) {}

  static fromEnvironmentValue(value: string): KeyEncryption {
    const trimmed = value.trim();
    const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
    if (bytes.length !== 32) throw new Error("the key-encryption key must be 32 bytes, as 64 hex characters or base64");
    return new KeyEncryption(bytes);
  }

  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.kek, iv);
    cipher.setAAD(Buffer.from(associatedData));
    const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", iv.toString("base64url"), ciphertext.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
  }

  decrypt(envelope: string, associatedData: string): string {
    const [version, iv, ciphertext, tag] = envelope.split(".");
    if (version !== "v1" || !iv || !ciphertext || !tag) throw new Error("not an encrypted key envelope");
    const decipher = createDecipheriv("aes-256-gcm", this.kek, Buffer.from(iv, "base64url"));
    decipher.setAAD(Buffer.from(associatedData));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
    } catch {
      throw new Error("cannot decrypt the signing keys: wrong key-encryption key, or the stored keys were altered");
    }
  }
}
