/**
 * The runtime adapters' Transport against a Python loopback server
 * (tests/support/tls_server.py) with throwaway certificates. Every adapter
 * the current runtime can run is tested: node on Node; bun and node on Bun;
 * deno and node on Deno.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { type Connector, detectRuntime, type TlsOptions, type Transport } from "../deps.ts";
import { ConnectionError, ProtocolError, SmtpError, TlsError } from "../src/errors.ts";
import { type Fixture, startFixture } from "./support/tls_fixture.ts";

const rt = detectRuntime();
const adapters: { name: string; connector: Connector }[] = [];
if (rt === "bun") adapters.push({ name: "bun", connector: (await import("../src/runtime/bun.ts")).bunConnector });
if (rt === "deno") adapters.push({ name: "deno", connector: (await import("../src/runtime/deno.ts")).denoConnector });
adapters.push({ name: "node", connector: (await import("../src/runtime/node.ts")).nodeConnector });

const enc = new TextEncoder();
const dec = new TextDecoder();
const HOST = "127.0.0.1";

/** Reads until the accumulated text contains `want`; returns all of it. */
async function readUntil(t: Transport, want: string): Promise<string> {
  let got = "";
  while (!got.includes(want)) {
    const chunk = await t.read();
    if (chunk === null) throw new Error(`EOF before ${JSON.stringify(want)}; got ${JSON.stringify(got)}`);
    got += dec.decode(chunk);
  }
  return got;
}

/** Reads exactly `n` bytes. */
async function readBytes(t: Transport, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const chunk = await t.read();
    if (chunk === null) throw new Error(`EOF after ${off} of ${n} bytes`);
    out.set(chunk.subarray(0, n - off), off);
    off += chunk.byteLength;
  }
  return out;
}

async function readToEnd(t: Transport): Promise<string> {
  let got = "";
  for (;;) {
    const chunk = await t.read();
    if (chunk === null) return got;
    got += dec.decode(chunk);
  }
}

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error, re?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    if (re) assert.match((e as Error).message, re);
    return e as Error;
  }
  assert.fail(`expected a ${cls.name}`);
}

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

let fx: Fixture;

describe("transport", () => {
  before(async () => {
    fx = await startFixture();
  });
  after(async () => {
    await fx?.stop();
  });

  for (const { name, connector } of adapters) {
    const native = name === rt; // the runtime's own adapter (deno: rustls limits apply)
    const denoNative = name === "deno";
    const tlsOpts = (extra: Partial<TlsOptions> = {}): TlsOptions => ({ servername: "localhost", ca: [fx.ca], ...extra });
    const open = (mode: string, tls?: TlsOptions, signal?: AbortSignal) =>
      connector.connect({ hostname: HOST, port: fx.ports[mode]!, ...(tls ? { tls } : {}), ...(signal ? { signal } : {}) });

    /** Plain connection to a STARTTLS mode, past "220 go". */
    const toStartTls = async (mode: string) => {
      const t = await open(mode);
      assert.equal(await readUntil(t, "\r\n"), "220 hi\r\n");
      await t.write(enc.encode("STARTTLS\r\n"));
      assert.equal(await readUntil(t, "220 go\r\n"), "220 go\r\n");
      return t;
    };

    test(`${name}: connector name is ${name}${native ? " (native)" : ""}`, () => {
      assert.equal(connector.name, name);
    });

    test(`${name}: plain connect, write, read, close`, async () => {
      const t = await open("echo");
      assert.equal(t.tls, null);
      assert.equal(t.remoteAddress?.address, HOST);
      assert.equal(t.remoteAddress?.port, fx.ports.echo);
      assert.equal(t.localAddress?.address, HOST);
      assert.ok((t.localAddress?.port ?? 0) > 0);
      await t.write(enc.encode("hello\r\n"));
      assert.equal(await readUntil(t, "\r\n"), "hello\r\n");
      t.close();
      t.close(); // idempotent
      assert.equal(await t.read(), null);
      await rejects(t.write(enc.encode("x")), ConnectionError);
    });

    test(`${name}: close() resolves a pending read with null`, async () => {
      const t = await open("echo");
      const pending = t.read();
      setTimeout(() => t.close(), 20);
      assert.equal(await pending, null);
    });

    test(`${name}: a second concurrent read() is refused`, async () => {
      const t = await open("echo");
      const first = t.read();
      await rejects(t.read(), TypeError);
      t.close();
      assert.equal(await first, null);
    });

    if (name === "node") {
      test("node: Nagle is turned off (setNoDelay(true)) on plain and TLS sockets", async () => {
        const net = await import("node:net");
        const proto = net.Socket.prototype as { setNoDelay(v?: boolean): unknown };
        const original = proto.setNoDelay;
        const calls: unknown[] = [];
        proto.setNoDelay = function (this: unknown, v?: boolean) {
          calls.push(v);
          return original.call(this, v);
        };
        try {
          (await open("echo")).close();
          assert.ok(calls.includes(true), "plain");
          calls.length = 0;
          (await open("tls", tlsOpts())).close();
          assert.ok(calls.includes(true), "TLS");
        } finally {
          proto.setNoDelay = original;
        }
      });
    }

    test(`${name}: 50 small request/response round trips`, async () => {
      const t = await open("echo");
      for (let i = 0; i < 50; i++) {
        await t.write(enc.encode(`PING ${i}\r\n`));
        assert.equal(await readUntil(t, "\r\n"), `PING ${i}\r\n`);
      }
      t.close();
    });

    for (const tls of [false, true]) {
      test(`${name}: 1 MB write and echo (${tls ? "TLS" : "plain"}, back-pressure)`, async () => {
        const t = tls ? await open("tls", tlsOpts()) : await open("echo");
        const data = pattern(1 << 20);
        const reading = readBytes(t, data.byteLength);
        await t.write(data);
        assert.deepEqual(await reading, data);
        t.close();
      });

      test(`${name}: 64 writes of 32 KiB then echo (${tls ? "TLS" : "plain"})`, async () => {
        const t = tls ? await open("tls", tlsOpts()) : await open("echo");
        const data = pattern(64 * 32768);
        const reading = readBytes(t, data.byteLength);
        const writes: Promise<void>[] = [];
        for (let off = 0; off < data.byteLength; off += 32768) writes.push(t.write(data.subarray(off, off + 32768)));
        await Promise.all(writes);
        assert.deepEqual(await reading, data);
        t.close();
      });
    }

    test(`${name}: connection refused is a temporary ConnectionError`, async () => {
      const port = await freePort();
      const e = await rejects(connector.connect({ hostname: HOST, port }), ConnectionError, /refused/i);
      assert.equal((e as SmtpError).temporary, true);
      assert.equal((e as SmtpError).phase, "connect");
      assert.ok(e.message.includes(`127.0.0.1:${port}`));
    });

    test(`${name}: unknown host is a ConnectionError`, async () => {
      const e = await rejects(connector.connect({ hostname: "nonexistent.invalid", port: 25 }), ConnectionError);
      assert.equal((e as SmtpError).temporary, true);
    });

    test(`${name}: a connection reset while reading is a temporary ConnectionError`, async () => {
      const t = await open("reset");
      const e = await rejects(t.read(), ConnectionError);
      assert.equal((e as SmtpError).temporary, true);
      assert.equal(await t.read(), null);
      t.close();
    });

    test(`${name}: an aborted signal rejects before connecting`, async () => {
      const ac = new AbortController();
      ac.abort(new Error("stop"));
      const e = await rejects(open("echo", undefined, ac.signal), ConnectionError, /aborted/);
      assert.equal((e.cause as Error).message, "stop");
    });

    test(`${name}: abort during a stalled TLS handshake rejects and closes`, async () => {
      const ac = new AbortController();
      const reason = new ConnectionError("Connect deadline passed");
      setTimeout(() => ac.abort(reason), 100);
      const e = await rejects(open("silent", tlsOpts(), ac.signal), ConnectionError);
      assert.equal(e, reason, "an SmtpError reason is passed through");
    });

    test(`${name}: implicit TLS with the test CA, TLS info`, async () => {
      const t = await open("tls", tlsOpts());
      assert.ok(t.tls);
      if (!denoNative) {
        assert.match(t.tls.protocol ?? "", /^TLSv1\.[23]$/);
        assert.ok(t.tls.cipher);
      }
      const pc = t.tls.peerCertificate;
      assert.ok(pc, "peer certificate summary");
      assert.match(pc.subject ?? "", /CN=localhost/);
      assert.match(pc.issuer ?? "", /CN=smtpsend test CA/);
      assert.match(pc.fingerprint256 ?? "", /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      assert.ok(pc.validTo && !Number.isNaN(Date.parse(pc.validTo)));
      await t.write(enc.encode("over tls\r\n"));
      assert.equal(await readUntil(t, "\r\n"), "over tls\r\n");
      t.close();
      assert.equal(await t.read(), null);
    });

    test(`${name}: end of stream after TLS reads null`, async () => {
      const t = await open("tls-sni", tlsOpts());
      assert.equal(await readToEnd(t), "sni:localhost\n");
      assert.equal(await t.read(), null);
      t.close();
    });

    test(`${name}: an unknown CA is refused with TlsError`, async () => {
      const e = await rejects(open("tls", { servername: "localhost" }), TlsError, /Certificate for "localhost" was not accepted: /);
      assert.equal((e as SmtpError).temporary, false);
      assert.ok(e.cause);
    });

    test(`${name}: a wrong name is refused with TlsError (implicit TLS)`, async () => {
      await rejects(open("tls-other", tlsOpts()), TlsError, /Certificate for "localhost" was not accepted: /);
    });

    test(`${name}: the server name is verified, not the host connected to`, async () => {
      const t = await open("tls-other", tlsOpts({ servername: "other.example" }));
      assert.match(t.tls?.peerCertificate?.subject ?? "", /CN=other\.example/);
      t.close();
    });

    test(`${name}: SNI carries the server name`, async () => {
      const t = await open("tls-sni", tlsOpts());
      assert.equal(await readToEnd(t), "sni:localhost\n");
    });

    test(`${name}: an IP server name sends no SNI and is checked against IP SANs`, async () => {
      const t = await open("tls-sni", tlsOpts({ servername: HOST }));
      assert.equal(await readToEnd(t), "sni:-\n");
      await rejects(open("tls", tlsOpts({ servername: "127.0.0.2" })), TlsError, /Certificate for "127\.0\.0\.2" was not accepted/);
      await rejects(open("tls-other", tlsOpts({ servername: HOST })), TlsError, /was not accepted/);
    });

    test(`${name}: verify: false accepts a wrong name`, async () => {
      const t = await open("tls-other", tlsOpts({ verify: false }));
      await t.write(enc.encode("x\r\n"));
      assert.equal(await readUntil(t, "\r\n"), "x\r\n");
      t.close();
    });

    test(`${name}: verify: false and an unknown CA`, async () => {
      const p = open("tls", { servername: "localhost", verify: false });
      if (denoNative) {
        await rejects(p, TlsError, /Deno still checks the certificate chain/);
      } else {
        (await p).close();
      }
    });

    test(`${name}: a TLS 1.1-only server is refused`, async () => {
      // Debian's OpenSSL 3 serves TLS 1.1 at SECLEVEL=0; without that server the test would prove nothing.
      assert.ok(fx.ports["tls-old"] !== undefined, "tls_server.py could not start its TLS 1.1 server (this OpenSSL cannot serve TLS 1.1)");
      await rejects(open("tls-old", tlsOpts()), TlsError, /TLS handshake with "localhost" failed/);
    });

    test(`${name}: client certificate (implicit TLS)`, async () => {
      const t = await open("tls-mtls", tlsOpts({ cert: fx.clientCert, key: fx.clientKey }));
      assert.equal(await readUntil(t, "\n"), "cn:smtpsend-client\n");
      t.close();
    });

    test(`${name}: a client certificate with a server name other than the host connected to`, async () => {
      // tls-other does not ask for a client certificate; the name checked must be "other.example".
      const t = await open("tls-other", tlsOpts({ servername: "other.example", cert: fx.clientCert, key: fx.clientKey }));
      assert.match(t.tls?.peerCertificate?.subject ?? "", /CN=other\.example/);
      t.close();
      const sni = await open("tls-sni", tlsOpts({ cert: fx.clientCert, key: fx.clientKey }));
      assert.equal(await readToEnd(sni), "sni:localhost\n");
    });

    test(`${name}: client certificate with an encrypted key`, async () => {
      const p = open("tls-mtls", tlsOpts({ cert: fx.clientCert, key: fx.clientKeyEncrypted, passphrase: "hunter2" }));
      if (denoNative) return void await rejects(p, TlsError, /passphrase/);
      const t = await p;
      assert.equal(await readUntil(t, "\n"), "cn:smtpsend-client\n");
      t.close();
    });

    test(`${name}: a server requiring a client certificate refuses us without one`, async () => {
      // TLS 1.3: the refusal may come after our side's handshake completed.
      try {
        const t = await open("tls-mtls", tlsOpts());
        await rejects(readToEnd(t), ConnectionError);
      } catch (e) {
        assert.ok(e instanceof TlsError, String(e));
      }
    });

    test(`${name}: STARTTLS upgrade, then an exchange over TLS`, async () => {
      const t = await toStartTls("starttls");
      const info = await t.startTls(tlsOpts());
      assert.equal(t.tls, info);
      assert.match(info.peerCertificate?.subject ?? "", /CN=localhost/);
      if (!denoNative) assert.match(info.protocol ?? "", /^TLSv1\.[23]$/);
      await t.write(enc.encode("secret\r\n"));
      assert.equal(await readUntil(t, "\r\n"), "secret\r\n");
      await rejects(t.startTls(tlsOpts()), TypeError);
      t.close();
      assert.equal(await t.read(), null);
    });

    test(`${name}: a write issued during the STARTTLS handshake waits for it`, async () => {
      const t = await toStartTls("starttls");
      const upgrading = t.startTls(tlsOpts());
      const writing = t.write(enc.encode("early\r\n"));
      await upgrading;
      await writing;
      assert.equal(await readUntil(t, "\r\n"), "early\r\n");
      t.close();
    });

    test(`${name}: STARTTLS with a wrong name is refused with TlsError`, async () => {
      const t = await toStartTls("starttls-other");
      await rejects(t.startTls(tlsOpts()), TlsError, /Certificate for "localhost" was not accepted: /);
      assert.equal(await t.read(), null);
      await rejects(t.write(enc.encode("x")), ConnectionError);
    });

    test(`${name}: STARTTLS with an unknown CA is refused with TlsError`, async () => {
      const t = await toStartTls("starttls");
      await rejects(t.startTls({ servername: "localhost" }), TlsError, /was not accepted/);
    });

    test(`${name}: STARTTLS to an IP server name`, async () => {
      const t = await toStartTls("starttls");
      await t.startTls(tlsOpts({ servername: HOST }));
      await t.write(enc.encode("ip\r\n"));
      assert.equal(await readUntil(t, "\r\n"), "ip\r\n");
      t.close();
    });

    test(`${name}: STARTTLS with a client certificate`, async () => {
      const t = await toStartTls("starttls-mtls");
      const p = t.startTls(tlsOpts({ cert: fx.clientCert, key: fx.clientKey }));
      if (denoNative) return void await rejects(p, TlsError, /client certificate/);
      await p;
      assert.equal(await readUntil(t, "\n"), "cn:smtpsend-client\n");
      t.close();
    });

    test(`${name}: bytes received before the STARTTLS handshake are a ProtocolError`, async () => {
      const t = await toStartTls("inject-split");
      await new Promise((r) => setTimeout(r, 400)); // "250 injected" has arrived by now
      const e = await rejects(t.startTls(tlsOpts()), ProtocolError, /before the TLS handshake/);
      assert.equal((e as SmtpError).phase, "starttls");
      assert.equal(await t.read(), null, "the transport is closed, the injected bytes are never read");
    });

    test(`${name}: startTls() while a read() is pending is refused`, async () => {
      const t = await toStartTls("starttls");
      const pending = t.read();
      await rejects(t.startTls(tlsOpts()), TypeError, /pending/);
      t.close();
      assert.equal(await pending, null);
    });
  }
});
