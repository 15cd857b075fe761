/**
 * Test fixture for the transport tests: a throwaway CA and certificates made
 * with `openssl` in a temp dir, and the Python loopback server
 * (`tls_server.py`, not written in the runtime under test) on 127.0.0.1.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Certificates (PEM) the fixture made. */
export interface Certs {
  readonly dir: string;
  /** The test CA. */
  readonly ca: string;
  /** A client certificate signed by the CA (CN=smtpsend-client). */
  readonly clientCert: string;
  readonly clientKey: string;
  /** The same client key, encrypted with the passphrase "hunter2". */
  readonly clientKeyEncrypted: string;
}

/** A running test server. */
export interface Fixture extends Certs {
  /** Listener ports by mode (see tls_server.py). */
  readonly ports: Record<string, number>;
  stop(): Promise<void>;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** Makes the CA, the server certificates and a client certificate. */
export function makeCerts(): Certs {
  const dir = mkdtempSync(join(tmpdir(), "smtpsend-tls-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(dir, [
    "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
    "-subj", "/CN=smtpsend test CA",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const leaf = (name: string, cn: string, san: string | null, eku: string) => {
    openssl(dir, [
      "req", "-x509", ...ec, "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2",
      "-CA", "ca.crt", "-CAkey", "ca.key", "-subj", `/CN=${cn}`,
      "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature",
      "-addext", `extendedKeyUsage=${eku}`,
      ...(san ? ["-addext", `subjectAltName=${san}`] : []),
    ]);
  };
  leaf("localhost", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth");
  leaf("other", "other.example", "DNS:other.example", "serverAuth");
  leaf("client", "smtpsend-client", null, "clientAuth");
  openssl(dir, [
    "pkey", "-in", "client.key", "-out", "client-enc.key", "-aes256", "-passout", "pass:hunter2",
  ]);
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return {
    dir,
    ca: read("ca.crt"),
    clientCert: read("client.crt"),
    clientKey: read("client.key"),
    clientKeyEncrypted: read("client-enc.key"),
  };
}

/** Makes certificates and starts the loopback server. */
export async function startFixture(): Promise<Fixture> {
  const certs = makeCerts();
  const script = fileURLToPath(new URL("./tls_server.py", import.meta.url));
  const child: ChildProcess = spawn("python3", [script, certs.dir], { stdio: ["pipe", "pipe", "inherit"] });
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    let out = "";
    const onData = (chunk: Uint8Array) => {
      out += new TextDecoder().decode(chunk);
      const nl = out.indexOf("\n");
      if (nl >= 0) {
        child.stdout!.off("data", onData);
        try {
          resolve(JSON.parse(out.slice(0, nl)));
        } catch (e) {
          reject(e);
        }
      }
    };
    child.stdout!.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`tls_server.py exited with ${code}`)));
  });
  return {
    ...certs,
    ports,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.stdin!.end();
        const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
        await exited;
        clearTimeout(timer);
      }
      child.stdout?.destroy();
      rmSync(certs.dir, { recursive: true, force: true });
    },
  };
}

/** Writes a file in the fixture dir (for tests that need one). */
export function writeFixtureFile(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
