/**
 * Child-process entry for the queue crash tests (tests/queue_crash_test.ts).
 * Runs under whichever runtime started it (node --import tsx, bun, deno run -A).
 *
 *   queue_worker.ts enqueue DIR COUNT PREFIX [RCPT...]   enqueue COUNT messages, print "ENQUEUED <n> <id>" after each
 *   queue_worker.ts flush DIR PORT [--force]             flushWith 127.0.0.1:PORT, print "SUMMARY <json>"
 *
 * Message n (1-based) has "Message-ID: <PREFIX-n@queue.test>" and goes to
 * RCPT... (default "rcpt@queue.test").
 *
 * SMTPSEND_QUEUE_START_GATE=<file>: "flush" prints READY and waits until <file>
 * exists, so several flushers start at the same moment.
 *
 * SMTPSEND_QUEUE_CRASH_AT=<point>[:<n>] makes this process SIGKILL itself the
 * n-th time (default 1st) it reaches <point>. The seam lives entirely here, in
 * a Host wrapper and a Transport wrapper around the real ones; the queue code
 * has no test hooks. Points:
 *
 *   enqueue-mid-write         half the message written to its temp file, no fsync
 *   enqueue-before-fsync      the whole message in its temp file, not fsynced or renamed
 *   enqueue-after-msg-rename  message file in place, envelope not written
 *   enqueue-before-commit     envelope temp file written, not renamed (not committed)
 *   enqueue-after-commit      envelope renamed into place (committed), enqueue not yet resolved
 *   flush-after-claim         entry claimed, nothing sent
 *   flush-mid-data            after the server's 354, half of the message data written
 *   flush-after-250           the final 250 received, entry not yet removed (the duplicate window)
 *   flush-after-remove        envelope removed after delivery, message file not yet
 *   flush-after-state         new per-recipient state written over the claim, not yet released
 */
import { writeSync } from "node:fs";
import process from "node:process";
import type { Connector, Host, Transport } from "../../deps.ts";
import { Queue } from "../../src/queue.ts";
import { HOST_METHODS, testConnector, testHost } from "./queue_host.ts";
import { wrapTransport } from "./wrap_transport.ts";

const [spec, nthText] = (process.env.SMTPSEND_QUEUE_CRASH_AT ?? "").split(":");
const point = spec ?? "";
const nth = Number(nthText ?? "1") || 1;
let hits = 0;

function out(line: string): void {
  writeSync(1, line + "\n"); // synchronous: must be out before a SIGKILL
}

/** Counts a visit to `name`; true when this is the visit to die at. */
function reached(name: string): boolean {
  return point === name && ++hits === nth;
}

async function die(name: string): Promise<never> {
  out(`CRASH ${name}`);
  process.kill(process.pid, "SIGKILL");
  await new Promise(() => {}); // never resumes
  throw new Error("unreachable");
}

async function collect(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  if (data instanceof Uint8Array) return data;
  const parts: Uint8Array[] = [];
  for await (const c of data) parts.push(c);
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

// Matched against paths relative to the queue directory.
const TMP_EML = /^tmp\/[^/]+\.eml\./;
const TMP_JSON = /^tmp\/[^/]+\.json\./;
const ENTRY_JSON = /^[0-9a-z]+\.json$/;
const CLAIM = /^[0-9a-z]+\.claim\./;

function crashingHost(base: Host, dir: string): Host {
  const h = {} as Host;
  for (const k of HOST_METHODS) {
    (h as unknown as Record<string, unknown>)[k] = (base[k] as (...a: unknown[]) => unknown).bind(base);
  }
  const rel = (p: string): string => (p.startsWith(dir + "/") ? p.slice(dir.length + 1) : p);
  h.writeFile = async (path, data, options) => {
    if (TMP_EML.test(rel(path))) {
      if (reached("enqueue-mid-write")) {
        const bytes = await collect(data);
        await base.writeFile(path, bytes.subarray(0, bytes.length >> 1), { ...options, sync: false });
        await die("enqueue-mid-write");
      }
      if (reached("enqueue-before-fsync")) {
        await base.writeFile(path, data, { ...options, sync: false });
        await die("enqueue-before-fsync");
      }
    }
    await base.writeFile(path, data, options);
    if (TMP_JSON.test(rel(path)) && command === "enqueue" && reached("enqueue-before-commit")) await die("enqueue-before-commit");
  };
  h.rename = async (fromPath, toPath) => {
    await base.rename(fromPath, toPath);
    const from = rel(fromPath);
    const to = rel(toPath);
    if (TMP_EML.test(from) && reached("enqueue-after-msg-rename")) await die("enqueue-after-msg-rename");
    if (TMP_JSON.test(from) && ENTRY_JSON.test(to) && reached("enqueue-after-commit")) await die("enqueue-after-commit");
    if (ENTRY_JSON.test(from) && CLAIM.test(to) && reached("flush-after-claim")) await die("flush-after-claim");
    if (TMP_JSON.test(from) && CLAIM.test(to) && reached("flush-after-state")) await die("flush-after-state");
  };
  h.remove = async (path, options) => {
    const isClaim = CLAIM.test(rel(path));
    if (isClaim && reached("flush-after-250")) await die("flush-after-250");
    await base.remove(path, options);
    if (isClaim && reached("flush-after-remove")) await die("flush-after-remove");
  };
  return h;
}

function crashingConnector(base: Connector): Connector {
  const dec = new TextDecoder();
  return {
    name: `${base.name}+crash`,
    async connect(options): Promise<Transport> {
      const t = await base.connect(options);
      let after354 = false;
      return wrapTransport(t, {
        async read() {
          const b = await t.read();
          if (b && /(^|\n)354[ -]/.test(dec.decode(b))) after354 = true;
          return b;
        },
        async write(data) {
          if (after354) {
            after354 = false;
            if (reached("flush-mid-data")) {
              await t.write(data.subarray(0, data.length >> 1));
              await new Promise((r) => setTimeout(r, 100)); // let the half reach the server
              await die("flush-mid-data");
            }
          }
          return t.write(data);
        },
      });
    },
  };
}

function message(prefix: string, n: number, to: readonly string[]): Uint8Array {
  const body = `This is message ${n} of the crash test.\r\n`.repeat(60); // ~2.4 kB: something to cut in half
  return new TextEncoder().encode(
    `From: sender@queue.test\r\nTo: ${to.join(", ")}\r\nSubject: crash test ${n}\r\nMessage-ID: <${prefix}-${n}@queue.test>\r\n\r\n${body}`,
  );
}

const [command, dir, ...rest] = process.argv.slice(2);

async function main(): Promise<void> {
  if (!dir) throw new Error("usage: queue_worker.ts enqueue|flush DIR ...");
  const host = crashingHost((await testHost()).host, dir.replace(/\/+$/, ""));
  const queue = new Queue({ dir, host, backoff: { initialMs: 60_000 } });
  if (command === "enqueue") {
    const count = Number(rest[0]);
    const prefix = rest[1]!;
    const to = rest.length > 2 ? rest.slice(2) : ["rcpt@queue.test"];
    for (let n = 1; n <= count; n++) {
      const id = await queue.enqueue({ from: "sender@queue.test", to, account: "test" }, message(prefix, n, to));
      out(`ENQUEUED ${n} ${id}`);
    }
  } else if (command === "flush") {
    const port = Number(rest[0]);
    const gate = process.env.SMTPSEND_QUEUE_START_GATE;
    if (gate) {
      // Line up with the other flushers: report ready, then start together when the gate file appears.
      out("READY");
      while (!(await host.stat(gate).catch(() => null))) await new Promise((r) => setTimeout(r, 2));
    }
    const connector = crashingConnector(await testConnector());
    const summary = await queue.flushWith(
      { host: "127.0.0.1", port, tls: "none", name: "worker.queue.test", connector, timeouts: { connect: 5000, greeting: 5000, mail: 5000, rcpt: 5000, data: 5000, dataBlock: 5000, dataEnd: 5000 } },
      { force: rest.includes("--force") },
    );
    const { items, ...totals } = summary;
    out(`SUMMARY ${JSON.stringify({ ...totals, reasons: items.filter((i) => i.reason).map((i) => i.reason) })}`);
  } else {
    throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    out(`ERROR ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    process.exit(1);
  },
);
