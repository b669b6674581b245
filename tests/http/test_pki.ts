/**
 * A throw-away CA and a certificate it signs for 127.0.0.1 and localhost,
 * made with openssl at test time (tests/http/peer/peer_stream_test.ts,
 * tests/e2e/tls_test.ts).
 *
 * @module
 */

/** Whether openssl can be run here. */
export function hasOpenssl(): boolean {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Runs openssl in `dir`; throws with its stderr when it fails. */
async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** The PEM files a TLS test needs, in `dir`. */
export interface TestPki {
  ca: string;
  cert: string;
  key: string;
}

/**
 * Makes a CA and a node certificate it signs, valid for 127.0.0.1 and
 * localhost (every test node runs there, so they share it).
 */
export async function makePki(dir: string): Promise<TestPki> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=raftkv e2e test CA",
  ]);
  await openssl(dir, [
    "req",
    ...ec,
    "-nodes",
    "-keyout",
    "node.key",
    "-out",
    "node.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    `${dir}/node.ext`,
    [
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "basicConstraints=CA:FALSE",
      "keyUsage=digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
    ].join("\n") + "\n",
  );
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "node.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "node.pem",
    "-days",
    "2",
    "-extfile",
    "node.ext",
  ]);
  return {
    ca: `${dir}/ca.pem`,
    cert: `${dir}/node.pem`,
    key: `${dir}/node.key`,
  };
}

/** The contents (not paths) of a throw-away CA, certificate and key. */
export interface TestPem {
  ca: string;
  cert: string;
  key: string;
}

/**
 * Makes a throw-away PKI in a temporary directory, runs `fn` with the PEM
 * contents, and removes the directory whatever happens.
 */
export async function withTestPem<T>(
  fn: (pem: TestPem) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "raftkv-pki-" });
  try {
    const pki = await makePki(dir);
    const [ca, cert, key] = await Promise.all(
      [pki.ca, pki.cert, pki.key].map((f) => Deno.readTextFile(f)),
    );
    return await fn({ ca: ca!, cert: cert!, key: key! });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
