/**
 * CPU cost of the sans-I/O session core alone (src/protocol/session.ts): no
 * socket, no server. Replays a pipelined session of `--messages` messages of
 * about `--size` octets with one round trip per message (RFC 2920 §3.1: a
 * message's content and end of data, then the next MAIL, RCPT and DATA, and
 * the four replies fed back at once). Prints user+system CPU µs per message
 * (median of `--runs`, every run shown); asserts nothing. The figure is the
 * core's share of a driver's budget per message: encoding the content,
 * writing commands, parsing replies, matching them, bookkeeping.
 *
 *   node --import tsx bench/session_core.ts [--messages 20000] [--size 2000] [--runs 5]
 *   bun bench/session_core.ts …        deno run -A bench/session_core.ts …
 *
 * Run it on a quiet machine, or pinned (`taskset -c 0 …`): CPU time is less
 * sensitive to neighbours than wall time, not immune.
 */
import process from "node:process";
import { Session } from "../src/protocol/session.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`--${name} must be a positive integer`);
  return v;
}

const messages = arg("messages", 20_000);
const size = arg("size", 2000);
const runs = arg("runs", 5);
const enc = new TextEncoder();
const line = "x".repeat(76) + "\r\n";
const body = enc.encode(line.repeat(Math.max(1, Math.round(size / line.length))));
const envelopeReplies = enc.encode("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
const boundaryReplies = enc.encode("250 2.0.0 Ok: queued as 4XyZ\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n");
const mail = { type: "MAIL", from: "sender@example.org", parameters: [["SIZE", String(body.length)]] } as const;
const rcpt = { type: "RCPT", to: "rcpt@example.net" } as const;

function drain(s: Session, replies: number): void {
  for (let n = 0; n < replies; n++) {
    const ev = s.nextEvent();
    if (ev.type !== "reply" || ev.outcome === "rejected") throw new Error(`unexpected event ${JSON.stringify(ev)}`);
  }
}

function run(): { cpuUs: number; octets: number } {
  const s = new Session();
  s.receive(enc.encode("220 mx.example ESMTP\r\n"));
  drain(s, 1);
  s.send({ type: "EHLO", name: "client.example" });
  s.receive(enc.encode("250-mx.example\r\n250-PIPELINING\r\n250-SIZE 0\r\n250 8BITMIME\r\n"));
  drain(s, 1);
  const start = process.cpuUsage();
  let octets = s.sendAll([mail, rcpt, { type: "DATA" }]).length;
  s.receive(envelopeReplies);
  drain(s, 3);
  for (let i = 1; i < messages; i++) {
    octets += s.send({ type: "CONTENT", chunk: body }).length;
    octets += s.sendAll([{ type: "END-OF-DATA" }, mail, rcpt, { type: "DATA" }]).length;
    s.receive(boundaryReplies);
    drain(s, 4);
  }
  const used = process.cpuUsage(start);
  return { cpuUs: (used.user + used.system) / messages, octets };
}

run(); // warm-up
const results = Array.from({ length: runs }, run);
const sorted = results.map((r) => r.cpuUs).sort((a, b) => a - b);
console.log(
  `session core, ${messages} messages of ${body.length} octets, one round trip each: ` +
    `${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} CPU µs/message (median; runs ${results.map((r) => r.cpuUs.toFixed(1)).join(", ")}), ` +
    `${(results[0]!.octets / 1e6).toFixed(1)} MB written per run`,
);
