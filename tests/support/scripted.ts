/**
 * A scripted in-memory server for byte-exact client transcript tests
 * (design note 9). It is a Connector: no sockets, so the exact bytes the
 * client writes, and how they are grouped into writes, can be asserted.
 *
 * Script steps run in order:
 * - `{ send: "220 hi\r\n" }`: the server sends these bytes (one read() chunk).
 * - `{ expect: "EHLO x\r\n" }`: the client must write exactly these bytes next
 *   (possibly across several writes).
 * - `{ close: true }`: the server closes the connection.
 * - `{ hang: true }`: the server stops responding (reads never resolve until close).
 * - `{ startTls: true }`: the client must call startTls() next.
 *
 * A mismatch is recorded in `errors` and closes the connection.
 */
import type { Connector, ConnectOptions, TlsInfo, TlsOptions, Transport } from "../../deps.ts";
import { ProtocolError } from "../../src/errors.ts";

export type Step =
  | { readonly send: string | Uint8Array }
  | { readonly expect: string }
  | { readonly close: true }
  | { readonly hang: true }
  | { readonly startTls: true };

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface Scripted {
  readonly connector: Connector;
  /** Every write() the client made, as text, in order. */
  readonly writes: string[];
  /** Script mismatches. */
  readonly errors: string[];
  /** Options passed to connect(). */
  readonly connects: ConnectOptions[];
  /** Options passed to startTls(). */
  readonly tlsUpgrades: TlsOptions[];
  /** Index of the next step (equals script length when the whole script ran). */
  position(): number;
}

export function scripted(script: readonly Step[], opts: { local?: string } = {}): Scripted {
  const writes: string[] = [];
  const errors: string[] = [];
  const connects: ConnectOptions[] = [];
  const tlsUpgrades: TlsOptions[] = [];
  let pos = 0;
  let written = "";
  let closed = false;
  let tls: TlsInfo | null = null;
  let pendingRead: ((v: Uint8Array | null) => void) | null = null;
  const inbox: Uint8Array[] = [];

  const fail = (msg: string) => {
    errors.push(msg);
    closed = true;
    flush();
  };
  const flush = () => {
    if (!pendingRead) return;
    if (inbox.length) {
      const r = pendingRead;
      pendingRead = null;
      r(inbox.shift()!);
    } else if (closed) {
      const r = pendingRead;
      pendingRead = null;
      r(null);
    }
  };
  // Advance through server-side steps until the script needs client input.
  const advance = () => {
    while (pos < script.length && !closed) {
      const step = script[pos]!;
      if ("send" in step) {
        inbox.push(typeof step.send === "string" ? enc.encode(step.send) : step.send);
        pos++;
      } else if ("close" in step) {
        closed = true;
        pos++;
      } else if ("expect" in step) {
        if (written.length < step.expect.length) break;
        const got = written.slice(0, step.expect.length);
        if (got !== step.expect) {
          fail(`step ${pos}: expected ${JSON.stringify(step.expect)}, got ${JSON.stringify(written)}`);
          return;
        }
        written = written.slice(step.expect.length);
        pos++;
      } else if ("hang" in step) {
        break;
      } else {
        break; // startTls: wait for the call
      }
    }
    if (pos >= script.length && written.length > 0) {
      fail(`unexpected bytes after the script ended: ${JSON.stringify(written)}`);
    }
    flush();
  };

  const transport: Transport = {
    read() {
      return new Promise((resolve) => {
        pendingRead = resolve;
        flush();
      });
    },
    async write(data: Uint8Array) {
      if (closed) throw new Error("write after close");
      writes.push(dec.decode(data));
      written += dec.decode(data);
      const step = script[pos];
      if (step && "startTls" in step) {
        fail(`step ${pos}: expected startTls(), got write ${JSON.stringify(dec.decode(data))}`);
        return;
      }
      advance();
    },
    async startTls(options: TlsOptions) {
      const step = script[pos];
      if (inbox.length) throw new ProtocolError("Bytes received before the TLS handshake", { phase: "starttls" });
      if (!step || !("startTls" in step)) {
        fail(`step ${pos}: unexpected startTls()`);
        throw new Error("unexpected startTls");
      }
      tlsUpgrades.push(options);
      tls = { protocol: "TLSv1.3", cipher: "TEST" };
      pos++;
      advance();
      return tls;
    },
    close() {
      closed = true;
      flush();
    },
    get tls() {
      return tls;
    },
    localAddress: { address: opts.local ?? "192.0.2.7", port: 40000 },
    remoteAddress: { address: "192.0.2.25", port: 25 },
  };

  const connector: Connector = {
    name: "scripted",
    async connect(options: ConnectOptions) {
      connects.push(options);
      if (options.tls) tls = { protocol: "TLSv1.3", cipher: "TEST" };
      advance();
      return transport;
    },
  };
  return { connector, writes, errors, connects, tlsUpgrades, position: () => pos };
}
