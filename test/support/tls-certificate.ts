import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** The certificate itself, for clients to trust (it is self-signed). */
  ca: Buffer;
  remove(): Promise<void>;
}

/**
 * A self-signed P-256 certificate for 127.0.0.1 and localhost (the test
 * servers' URLs are https://127.0.0.1:<port>), made by openssl in a temp dir.
 */
export async function createTestCertificate(): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), "tokensmith-tls-"));
  const certFile = join(dir, "c.pem");
  const keyFile = join(dir, "k.pem");
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", keyFile, "-out", certFile,
    ],
    { stdio: "ignore" },
  );
  return { certFile, keyFile, ca: await readFile(certFile), remove: () => rm(dir, { recursive: true, force: true }) };
}
