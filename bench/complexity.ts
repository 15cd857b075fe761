/**
 * Complexity: feeds every parser adversarial inputs of 1 KB, 10 KB, 100 KB and
 * 1 MB and prints the time per call and the growth factor per ×10 in input
 * size (≈10 linear, ≈100 quadratic). A growth above 20 per ×10 (the geometric
 * mean of the steps from 10 KB, less noisy than one step) gets a second
 * opinion from doubling the largest input (≈2 linear, ≈4 quadratic) and is
 * flagged when that is above 3, or when a size was skipped. Prints
 * figures; asserts nothing (the CI fuzz, tests/parser_fuzz_test.ts, only
 * catches hangs and blowups, with a per-input budget 100× above normal).
 *
 *   node --import tsx bench/complexity.ts [--only NAME] [--skip NAME,NAME] [--max 1000000] [--budget 5]
 *   bun bench/complexity.ts …        deno run -A bench/complexity.ts …
 *
 * Each call is repeated in batches of at least 20 ms, and the fastest batch's
 * mean of up to five is printed (on a shared machine other load only adds).
 * Once one size of a case takes longer than `--budget` seconds, its larger
 * sizes are skipped (shown as "skip"): they would take 10-100× longer.
 * A case that never returns (an endless loop) cannot be interrupted from
 * inside: `--skip` it and show it with a `timeout` instead.
 */
import process from "node:process";
import { parseAuthinfo } from "../src/config/authinfo.ts";
import { addressMatches } from "../src/config/common.ts";
import { parseMsmtprc } from "../src/config/msmtprc.ts";
import { parseRcfile } from "../src/config/rcfile.ts";
import { parseAddressList, isValidEnvelopeAddress } from "../src/message/address.ts";
import { compose } from "../src/message/compose.ts";
import { normalizeMessageId, parseHeaderBlock } from "../src/message/headers.ts";
import { BdatEncoder } from "../src/protocol/bdat.ts";
import { parseCapabilities } from "../src/protocol/capabilities.ts";
import { DataEncoder, scanMessage } from "../src/protocol/data.ts";
import { ReplyParser } from "../src/protocol/reply.ts";
import { xtextDecode } from "../src/protocol/xtext.ts";

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ONLY = opt("only");
const SKIP = (opt("skip") ?? "").split(",").filter(Boolean);
const MAX = Number(opt("max") ?? 1e6);
const BUDGET_MS = Number(opt("budget") ?? 5) * 1000;
const SIZES = [1e3, 1e4, 1e5, 1e6].filter((n) => n <= MAX);

/** `unit` repeated up to `n` characters (cut to exactly `n`). */
const fill = (unit: string, n: number): string => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const lines = (n: number, line: (i: number) => string): string => {
  let s = "";
  for (let i = 0; s.length < n; i++) s += line(i);
  return s;
};
const addressOptions = { maxLength: 1e8, maxAddressLength: 1e8 };
const reply = (ls: string[]) => ({ type: "reply" as const, code: 250, enhanced: null, lines: ls });
const feed = (data: Uint8Array, step: number) => () => {
  const p = new ReplyParser();
  for (let i = 0; i < data.length; i += step) {
    p.receiveData(data.subarray(i, i + step));
    while (p.nextEvent());
  }
};

/** name → (size → the call to time). Inputs are built before timing. */
const CASES: Record<string, (n: number) => () => unknown> = {
  // authinfo / netrc
  "authinfo: one line of spaces": (n) => { const t = "machine a" + fill(" ", n) + "b"; return () => parseAuthinfo(t); },
  "authinfo: NBSP runs": (n) => { const t = "machine x\u00a0" + fill("a\u00a0", n); return () => parseAuthinfo(t); },
  "authinfo: many entries": (n) => { const t = lines(n, (i) => `machine h${i} login u password p\n`); return () => parseAuthinfo(t); },
  "authinfo: long quoted value": (n) => { const t = `machine a password "${fill('\\"x', n)}"`; return () => parseAuthinfo(t); },
  "authinfo: macdef body": (n) => { const t = "macdef m\n" + lines(n, () => "x y z\n"); return () => parseAuthinfo(t); },
  // smtpsendrc / esmtprc
  "rcfile: one line of spaces": (n) => { const t = "hostname" + fill(" ", n) + "a"; return () => parseRcfile(t); },
  "rcfile: escapes in a value": (n) => { const t = `username "${fill("\\x41", n)}"`; return () => parseRcfile(t); },
  "rcfile: octal escapes bare": (n) => { const t = `username ${fill("\\101", n)}`; return () => parseRcfile(t); },
  "rcfile: many identities": (n) => { const t = lines(n, (i) => `identity u${i}@example.org\nhostname h${i}\n`); return () => parseRcfile(t); },
  "rcfile: comment lines": (n) => { const t = lines(n, () => "# comment comment\n") + "hostname a"; return () => parseRcfile(t); },
  "rcfile: NBSP runs": (n) => { const t = "hostname a" + fill("\u00a0", n); return () => parseRcfile(t); },
  // msmtprc
  "msmtprc: one line of spaces": (n) => { const t = "host a" + fill(" ", n) + "b"; return () => parseMsmtprc(t); },
  "msmtprc: many accounts": (n) => { const t = lines(n, (i) => `account a${i}\nhost h${i}\n`); return () => parseMsmtprc(t); },
  "msmtprc: many parents": (n) => {
    const names = lines(n / 2, (i) => `account p${i}\n`);
    const count = names.split("\n").length - 1;
    const t = names + "account z : " + Array.from({ length: count }, (_, i) => `p${i}`).join(",") + "\n";
    return () => parseMsmtprc(t);
  },
  "msmtprc: from glob vs long sender": (n) => { const a = fill("a", n) + "@x"; return () => addressMatches("*a*a*a*a*b@x", a); },
  "msmtprc: long from glob": (n) => { const p = fill("*a", n); const a = fill("a", 200); return () => addressMatches(p, a); },
  "msmtprc: unclosed [ in from glob": (n) => { const p = fill("[", n); return () => addressMatches(p, "[[[@x"); },
  // EHLO
  "capabilities: distinct params": (n) => { const l = ["mx"]; for (let i = 0; i * 8 < n; i++) l.push(`X-K p${i}`); return () => parseCapabilities(reply(l)); },
  "capabilities: one line, distinct params": (n) => { const l = ["mx", "X-K " + Array.from({ length: n / 8 }, (_, i) => `p${i}`).join(" ")]; return () => parseCapabilities(reply(l)); },
  "capabilities: distinct AUTH mechs": (n) => { const l = ["mx"]; for (let i = 0; i * 10 < n; i++) l.push(`AUTH M${i}`); return () => parseCapabilities(reply(l)); },
  "capabilities: distinct keywords": (n) => { const l = ["mx"]; for (let i = 0; i * 8 < n; i++) l.push(`K${i} a b`); return () => parseCapabilities(reply(l)); },
  // replies
  "reply: many replies, one chunk": (n) => { const d = bytes(lines(n, () => "250-ok\r\n250 ok\r\n")); return feed(d, d.length); },
  "reply: many replies, 1-byte chunks": (n) => { const d = bytes(lines(n, () => "250 ok\r\n")); return feed(d, 1); },
  "reply: long multi-line reply (capped)": (n) => { const d = bytes(lines(n, () => "250-" + "x".repeat(60) + "\r\n")); return feed(d, 4096); },
  "reply: no line ending (capped)": (n) => { const d = bytes(fill("2", n)); return feed(d, 1); },
  // addresses
  "address: many mailboxes": (n) => { const t = lines(n, (i) => `u${i}@example.org, `) + "z@example.org"; return () => parseAddressList(t, addressOptions); },
  "address: long quoted name": (n) => { const t = `"${fill('a\\"', n)}" <a@b.example>`; return () => parseAddressList(t, addressOptions); },
  "address: comments": (n) => { const t = fill("(c (d) e) ", n) + "a@b.example"; return () => parseAddressList(t, addressOptions); },
  "address: dots": (n) => { const t = fill("a.", n) + "a@" + fill("b.", n) + "c"; return () => parseAddressList(t, addressOptions); },
  "address: dots, no closing": (n) => { const t = "<" + fill("a.", n) + "a@"; return () => parseAddressList(t, addressOptions); },
  "address: encoded words": (n) => { const t = fill("=?utf-8?q?a?= ", n) + "<a@b.example>"; return () => parseAddressList(t, addressOptions); },
  "address: group nesting": (n) => { const t = fill("g: ", n) + "a@b;"; return () => parseAddressList(t, addressOptions); },
  "envelope: dotted local part": (n) => { const t = fill("a.", n) + "a@b.example"; return () => isValidEnvelopeAddress(t); },
  "envelope: dots then comma": (n) => { const t = fill("a.", n) + "a,"; return () => isValidEnvelopeAddress(t); },
  "envelope: long literal": (n) => { const t = "a@[" + fill("1.", n); return () => isValidEnvelopeAddress(t); },
  // headers and message ids
  "headers: many fields": (n) => { const d = bytes(lines(n, (i) => `X-H${i}: v\r\n`)); return () => parseHeaderBlock(d); },
  "headers: one folded field": (n) => { const d = bytes("Subject: a" + lines(n, () => "\r\n b")); return () => parseHeaderBlock(d); },
  "headers: long line of spaces": (n) => { const d = bytes("Subject:" + fill(" ", n) + "x\r\n"); return () => parseHeaderBlock(d); },
  "headers: bare CRs": (n) => { const d = bytes("Subject: a" + fill("\r", n)); return () => parseHeaderBlock(d); },
  "message-id: dots then comma": (n) => { const t = fill("a.", n) + "a,"; return () => normalizeMessageId(t); },
  "message-id: compose inReplyTo": (n) => {
    const t = fill("a.", n) + "a,";
    return () => compose({ from: "a@b.example", to: "c@d.example", text: "x", inReplyTo: t });
  },
  "message-id: compose references list": (n) => {
    const t = lines(n, (i) => `<m${i}@example.org> `);
    return () => compose({ from: "a@b.example", to: "c@d.example", text: "x", references: t });
  },
  // DATA / BDAT encoders
  "data: dot lines": (n) => { const d = latin1(lines(n, () => ".\r\n")); return () => { const e = new DataEncoder(); e.push(d); e.end(); }; },
  "data: bare CRs, 1-byte chunks": (n) => {
    const d = latin1(fill("\r", n));
    return () => { const e = new DataEncoder(); for (let i = 0; i < d.length; i++) e.push(d.subarray(i, i + 1)); e.end(); };
  },
  "data: long line (allowed)": (n) => { const d = latin1(fill("x", n)); return () => { const e = new DataEncoder({ onLongLine: "allow" }); e.push(d); e.end(); }; },
  "data: scanMessage mixed": (n) => { const d = latin1(fill("\r\n.\n\r\0\xff", n)); return () => scanMessage(d); },
  "bdat: bare LFs": (n) => { const d = latin1(fill("a\n", n)); return () => { const e = new BdatEncoder(); e.push(d); e.end(); }; },
  // xtext
  "xtext: decode": (n) => { const t = fill("+41", n - (n % 3)); return () => xtextDecode(t); },
};

const fmt = (ms: number): string =>
  ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`;
const label = (n: number): string => (n >= 1e6 ? `${n / 1e6} MB` : `${n / 1e3} KB`);

/** The class of the last error a timed call threw (a documented error is an answer too). */
let thrown: string | undefined;

/** Mean time of `call` over one batch of repetitions lasting at least 20 ms. */
function batch(call: () => unknown): number {
  let reps = 0;
  const start = performance.now();
  let now = start;
  do {
    try {
      call();
    } catch (e) {
      thrown = e instanceof Error ? e.constructor.name : typeof e;
    }
    reps++;
    now = performance.now();
  } while (now - start < 20);
  return (now - start) / reps;
}

/**
 * The fastest of up to 5 batches (fewer once 1 s is spent): other processes
 * on a shared machine only ever add time, so the minimum is the figure least
 * disturbed by them.
 */
function time(call: () => unknown): number {
  const start = performance.now();
  let best = Infinity;
  for (let i = 0; i < 5 && (i === 0 || performance.now() - start < 1000); i++) best = Math.min(best, batch(call));
  return best;
}

const runtime = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "deno"
  : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "bun"
  : `node ${process.version}`;
console.log(
  `complexity on ${runtime}: time per call; (×f) = step per ×10 of input; growth/×10 = geometric mean from 10 KB; ≈10 linear, ≈100 quadratic; above 20, ×2 → doubling the largest input (≈2 linear, ≈4 quadratic), flagged above 3`,
);
let flagged = 0;
for (const [name, make] of Object.entries(CASES)) {
  if (ONLY !== undefined && !name.includes(ONLY)) continue;
  if (SKIP.some((s) => name.includes(s))) continue;
  const cells: string[] = [];
  const times: number[] = [];
  let prev: number | undefined;
  let stop = false;
  let skipped = false;
  for (const n of SIZES) {
    if (stop) {
      skipped = true;
      cells.push(`${label(n)}: skip`);
      continue;
    }
    // Warm up on a small input so the JIT does not count as growth.
    time(make(Math.min(n, 1000)));
    thrown = undefined;
    const ms = time(make(n));
    times.push(ms);
    const f = prev === undefined ? undefined : ms / prev;
    cells.push(`${label(n)}: ${fmt(ms)}${f === undefined ? "" : ` (×${f.toFixed(1)})`}${thrown ? ` [${thrown}]` : ""}`);
    prev = ms;
    if (ms > BUDGET_MS) stop = true;
  }
  // Growth per ×10 over the whole measured range from 10 KB (the geometric
  // mean of the steps: one noisy step does not decide; at 1 KB fixed costs dominate).
  const from = times.length > 2 ? 1 : 0;
  const decades = times.length - 1 - from;
  const growth = decades > 0 ? (times[times.length - 1]! / times[from]!) ** (1 / decades) : NaN;
  // Above 20, a second opinion from doubling at the top size: ≈2 linear, ≈4
  // quadratic. On a loaded machine large linear inputs often show ×20-40 per
  // ×10 (allocation and GC), while a quadratic step shows ×80-100 and ×4 here.
  let note = "";
  let superLinear = skipped;
  if (!skipped && growth > 20 && times.length === SIZES.length) {
    const top = SIZES[SIZES.length - 1]!;
    thrown = undefined;
    const half = time(make(top / 2));
    const ratio = times[times.length - 1]! / half;
    note = `  ×2 → ×${ratio.toFixed(1)}`;
    superLinear = ratio > 3;
  }
  const flag = superLinear ? "  ! SUPER-LINEAR" : "";
  if (flag) flagged++;
  console.log(`${name.padEnd(40)} ${cells.join("  ")}  growth/×10 ${growth.toFixed(1)}${note}${flag}`);
}
console.log(flagged === 0 ? "no case grew faster than ×20 per ×10" : `${flagged} case(s) flagged`);
