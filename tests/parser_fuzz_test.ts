// Seeded fuzz of every parser (issue 10 item 14): hostile input never hangs,
// never goes super-linear, and only DOCUMENTED error types escape.
//
// Each parser gets a corpus of known-bad inputs (the findings that were
// fixed) followed by seeded hostile inputs of up to 64 KiB (tests/support/fuzz.ts).
// Per input two things are checked:
// - the error, if any, is one the parser documents (ConfigError for the rc
//   files, ProtocolError for replies, TypeError/RangeError where the JSDoc
//   says so), never a SyntaxError, never an engine error from an undefined
//   access or a stack overflow;
// - it finished within a generous budget (2 s for at most 64 KiB, where the
//   slowest normal input takes well under 20 ms: 100x and more). An input
//   over budget is run once more and fails only if it is over again, so a
//   scheduling hiccup on a loaded machine does not fail the suite; this only
//   catches hangs and super-linear blowups. Growth curves are measured by
//   bench/complexity.ts, not here.
//
// Replay: the seed is printed and in every test name and failure message.
//   FUZZ_SEED=<n> node --import tsx --test tests/parser_fuzz_test.ts
//   FUZZ_ROUNDS=20 … runs 20x the inputs (longer local runs).
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { findCredentials, parseAuthinfo } from "../src/config/authinfo.ts";
import { addressMatches, globMatch, parseGlob } from "../src/config/common.ts";
import { parseMsmtprc } from "../src/config/msmtprc.ts";
import { parseHostPort, parseRcfile } from "../src/config/rcfile.ts";
import { ConfigError, ProtocolError } from "../src/errors.ts";
import { isValidEnvelopeAddress, parseAddressList, parseMailbox } from "../src/message/address.ts";
import { compose } from "../src/message/compose.ts";
import { decodeWords } from "../src/message/encoding.ts";
import { prepareRaw } from "../src/message/envelope.ts";
import { assertRawHeader, normalizeMessageId, parseHeaderBlock } from "../src/message/headers.ts";
import { BdatEncoder } from "../src/protocol/bdat.ts";
import { parseCapabilities } from "../src/protocol/capabilities.ts";
import { DataEncoder, scanMessage } from "../src/protocol/data.ts";
import { parseReplies, ReplyParser } from "../src/protocol/reply.ts";
import { xtextDecode } from "../src/protocol/xtext.ts";
import { chunks, hostile, latin1Bytes, MAX_INPUT, prng, type Rng } from "./support/fuzz.ts";

const SEED = Number(process.env.FUZZ_SEED) || 0x10f0a14;
const SCALE = Math.max(1, Number(process.env.FUZZ_ROUNDS) || 1);
const BUDGET_MS = 2000;
console.log(`parser fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED}), ${SCALE}x rounds`);

type ErrorClass = abstract new (...args: never[]) => Error;

/** Engine errors that mean a bug (undefined access, bad call, stack overflow), whatever their class. */
const INTERNAL =
  /^(Cannot read|Cannot set|Cannot destructure|Cannot convert)|undefined is not|null is not|is not a function|is not an object|is not iterable|is not a constructor|call stack|Invalid string length|Invalid array length/i;

function show(input: string): string {
  const head = JSON.stringify(input.slice(0, 160));
  return input.length > 160 ? `${head}… (${input.length} chars)` : head;
}

function checkError(e: unknown, allowed: readonly ErrorClass[], where: string): void {
  const name = e instanceof Error ? e.constructor.name : typeof e;
  const message = e instanceof Error ? e.message : String(e);
  assert.ok(
    allowed.some((c) => e instanceof c),
    `${where}: undocumented ${name}: ${message}`,
  );
  assert.ok(!INTERNAL.test(message), `${where}: internal error escaped as ${name}: ${message}`);
}

/**
 * Runs `run` on the corpus, then on `rounds` seeded hostile inputs; each must
 * end within the budget and throw nothing but `allowed`.
 */
function fuzz(
  name: string,
  rounds: number,
  vocabulary: readonly string[],
  corpus: readonly string[],
  allowed: readonly ErrorClass[],
  run: (input: string, rng: Rng) => unknown,
): void {
  test(`${name}: only documented errors, each input within ${BUDGET_MS} ms (seed ${SEED})`, async () => {
    let salt = 0;
    for (const c of name) salt = (Math.imul(salt, 31) + c.charCodeAt(0)) >>> 0;
    const rng = prng(SEED ^ salt);
    const inputs = [...corpus];
    const total = corpus.length + rounds * SCALE;
    for (let i = 0; i < total; i++) {
      const input = i < corpus.length ? inputs[i]! : hostile(rng, vocabulary);
      assert.ok(input.length <= 4 * MAX_INPUT);
      const where = `${name}, input ${i} of seed ${SEED}: ${show(input)}`;
      const once = async (): Promise<number> => {
        const local = prng(SEED + i); // the same chunking etc. on a rerun
        const start = performance.now();
        try {
          await run(input, local);
        } catch (e) {
          checkError(e, allowed, where);
        }
        return performance.now() - start;
      };
      if ((await once()) > BUDGET_MS) {
        const again = await once();
        assert.ok(again <= BUDGET_MS, `${where}: took ${again.toFixed(0)} ms twice (budget ${BUDGET_MS} ms)`);
      }
    }
  });
}

// ------------------------------------------------------------ addresses

const ADDRESS_WORDS = [
  "a", "b@example.org", "<a@b.example>", "<", ">", "@", ",", ";", ":", '"', "(", ")", "\\", ".", " ",
  "=?utf-8?q?a=0D=0ABcc:_x@evil.example?=", "=?utf-8?b?w6k=?=", "=?", "?=", "[1.2.3.4]", "[IPv6:1::2]",
  "[255.255.255.256]", "Group:", "user", "example.org", "bücher.example", "xn--bcher-kva", '"Doe, Jane"',
  "(comment (nested))", "\r\n ", "postmaster", "a.b.c", "..",
];
fuzz("parseAddressList()/parseMailbox()/isValidEnvelopeAddress()", 250, ADDRESS_WORDS, [
  "a.".repeat(30000) + "a@",
  "(".repeat(5000) + "a@b",
  '"' + "\\".repeat(20001) + '" <a@b>',
  "g: ".repeat(5000) + "a@b;",
  "a@[" + "1.".repeat(20000),
], [TypeError, RangeError], (input, rng) => {
  parseAddressList(input);
  try {
    parseMailbox(input);
  } catch (e) {
    checkError(e, [TypeError, RangeError], "parseMailbox()");
  }
  // isValidEnvelopeAddress() answers; it documents no error at all.
  let ok: unknown;
  try {
    ok = isValidEnvelopeAddress(input, { utf8: rng.int(2) === 0, allowEmpty: rng.int(2) === 0 });
  } catch (e) {
    assert.fail(`isValidEnvelopeAddress() threw ${String(e)}`);
  }
  assert.equal(typeof ok, "boolean");
});

// ------------------------------------------------------------ rc files

const RC_WORDS = [
  "hostname", "host", "port", "username", "user", "password", "pass", "passwordeval", "starttls", "tls",
  "certificate_passphrase", "helo", "qualifydomain", "force sender", "force reverse_path", "mda", "identity",
  "default", "preconnect", "auth", "ca_file", "requires_auth", "(a|a)*", "queue", "timeout", "dsn_notify",
  "message_id", "=", " = ", "\n", '"', "'", "\\x4", "\\0", "\\101", "\\", "#", "a@b.example", "[::1]:25",
  "mail.example.org:587", "enabled", "required", "on", "off", "~/x",
];
fuzz("parseRcfile() (smtpsendrc/esmtprc)", 250, RC_WORDS, [
  "hostname" + " ".repeat(100000) + "a",
  `username "${"\\x41".repeat(20000)}"`,
  "hostname a\u00a0",
  "identity a\n".repeat(5000),
], [ConfigError], (input, rng) => {
  parseRcfile(input, { file: "/h/.smtpsendrc", format: rng.int(2) ? "esmtp" : "smtpsend", home: "/h" });
  try {
    parseHostPort(input, "f:1");
  } catch (e) {
    checkError(e, [ConfigError], "parseHostPort()");
  }
});

const MSMTP_WORDS = [
  "account", "defaults", "host", "port", "from", "user", "password", "passwordeval", "auth", "tls",
  "tls_starttls", "tls_trust_file", "logfile", "account default : ", ":", ",", "a", "b", "%U", "%H", "%%", "%",
  "*", "?", "[b-a]", "[!a]", "[]]", "[", "\\", '"', "on", "off", "\n", " ", "\t", "#", "dsn_notify", "keepbcc",
  "auto_from", "maildomain", "tls_fingerprint", "timeout",
];
fuzz("parseMsmtprc()", 250, MSMTP_WORDS, [
  "host a" + " ".repeat(100000) + "b",
  "account a\nfrom [b-a]\n",
  "account x\n".repeat(3000),
  "account a\naccount b : " + "a,".repeat(20000) + "a\n",
], [ConfigError], (input, rng) => {
  const vars = rng.int(2) ? { user: "u", hostname: "h.example" } : {};
  parseMsmtprc(input, { file: "/h/.msmtprc", home: "/h", vars });
});

fuzz("globMatch()/addressMatches() (msmtprc from patterns)", 250, MSMTP_WORDS.concat(["a@x", "@", "."]), [
  "*a*a*a*a*b@x",
  "[b-a]",
  "[" + "a-".repeat(5000),
  "[".repeat(60000),
  "[!]".repeat(20000),
], [], (input, rng) => {
  // The pattern is the user's (one line); the address may come from a message.
  const pattern = input.slice(0, 256);
  const address = rng.int(2) ? "a".repeat(rng.int(4096)) + "@x" : hostile(rng, ["a", "@", "x", "."]).slice(0, 4096);
  assert.equal(typeof globMatch(pattern, address), "boolean");
  assert.equal(typeof addressMatches(pattern, address), "boolean");
  const { problem } = parseGlob(input);
  assert.ok(problem === null || typeof problem === "string");
});

const AUTHINFO_WORDS = [
  "machine", "default", "login", "user", "password", "port", "protocol", "account", "macdef", "#", '"', "'",
  '\\"', "\\\\", "mail.example.org", "587", "smtp", "\n", "\n\n", " ", "\t",
];
fuzz("parseAuthinfo() (authinfo/netrc)", 250, AUTHINFO_WORDS, [
  "machine x\u00a0",
  "machine x\u2003login u",
  "machine h password " + '"' + '\\"'.repeat(20000) + '"',
  "macdef m\n" + "x\n".repeat(20000),
  " ".repeat(100000) + "machine",
], [ConfigError], (input, rng) => {
  const entries = parseAuthinfo(input, "/h/.authinfo");
  const found = findCredentials(entries, { host: rng.pick(["mail.example.org", "x", ""]), port: rng.pick([25, 587, "smtp"]) });
  assert.ok(found === undefined || typeof found.line === "number");
});

// ------------------------------------------------------------ replies and EHLO

const REPLY_WORDS = [
  "250", "250-", "250 ", "220 ", "354 ", "421 ", "5.1.1 ", "2.0.0 ", "\r\n", "\n", "\r", "SIZE ", "AUTH ",
  "AUTH=", "PLAIN", "LOGIN", "STARTTLS", "PIPELINING", "8BITMIME", "CHUNKING", "SIZE 10240000", "x", "-", " ",
];
fuzz("ReplyParser/parseReplies()", 250, REPLY_WORDS, [
  "250 ok\r\n".repeat(8000),
  "250-" + "x".repeat(70000),
  "2".repeat(65000),
], [ProtocolError], (input, rng) => {
  const p = new ReplyParser();
  let received = 0;
  for (const c of chunks(rng, latin1Bytes(input))) {
    p.receiveData(c); // documented never to throw for bad input
    received += c.length;
    try {
      while (p.nextEvent());
    } catch (e) {
      checkError(e, [ProtocolError], "ReplyParser.nextEvent()");
    }
    assert.ok(p.bufferedBytes >= 0 && p.bufferedBytes <= received);
  }
  parseReplies(input);
});

fuzz("parseCapabilities() (EHLO)", 250, REPLY_WORDS, [
  "250-mx\r\n" + Array.from({ length: 6000 }, (_, i) => `250-X p${i}\r\n`).join("") + "250 Z\r\n",
  "250-mx\r\n" + Array.from({ length: 6000 }, (_, i) => `250-AUTH M${i}\r\n`).join("") + "250 Z\r\n",
], [ProtocolError], (input, rng) => {
  let replies: ReturnType<typeof parseReplies> = [];
  try {
    replies = parseReplies(input);
  } catch (e) {
    checkError(e, [ProtocolError], "parseReplies()");
  }
  for (const r of replies) {
    try {
      parseCapabilities(r);
    } catch (e) {
      assert.ok(r.code < 200 || r.code > 299, `parseCapabilities() threw on a ${r.code} reply: ${String(e)}`);
      checkError(e, [TypeError], "parseCapabilities()");
    }
  }
  // Lines as a transport could hand them over, whatever they hold.
  const caps = parseCapabilities({ type: "reply", code: 250, enhanced: null, lines: input.split(rng.pick(["\n", "\r\n", " "])) });
  assert.ok(caps.auth.every((m) => /^[A-Z0-9_-]{1,20}$/.test(m)));
});

// ------------------------------------------------------------ headers and message ids

const HEADER_WORDS = [
  "Subject: ", "From: ", "To: ", "Bcc: ", "Message-ID: ", "References: ", ": ", ":", "\r\n", "\n", "\r", "\r\n ",
  "\n\t", " ", "X-", "=?utf-8?q?a?=", "=?utf-8?b?", "<a@b.example>", "\r\n\r\n", "body", "From ", "\0",
];
fuzz("parseHeaderBlock()/assertRawHeader()/decodeWords()/prepareRaw()", 200, HEADER_WORDS, [
  "Subject: a" + "\r\n b".repeat(20000),
  "Subject:" + " ".repeat(60000) + "x",
  "X: " + "=?utf-8?q?a?= ".repeat(4000),
], [TypeError, RangeError], async (input, rng) => {
  const bytes = rng.int(2) ? latin1Bytes(input) : new TextEncoder().encode(input);
  const fields = parseHeaderBlock(bytes); // documents no error
  for (const f of fields) assert.ok(f.end >= f.start);
  parseHeaderBlock(input);
  decodeWords(input); // documents no error
  try {
    assertRawHeader(bytes, 0, bytes.length);
  } catch (e) {
    checkError(e, [TypeError], "assertRawHeader()");
  }
  await prepareRaw(bytes, rng.int(2) ? { readRecipients: true } : { sender: "a@b.example", recipients: ["c@d.example"] });
});

const MSGID_WORDS = ["a", ".", "@", "<", ">", '"', "[", "]", "\\", " ", ",", "example.org", "a.b", "=?", "<a@b>", "\t"];
fuzz("normalizeMessageId()/compose() In-Reply-To and References", 250, MSGID_WORDS, [
  "a.".repeat(26) + "a,",
  "a.".repeat(20000) + "a,",
  "<" + "a.".repeat(20000) + "@" + "b.".repeat(10000) + ",",
  '"' + "@".repeat(40000),
], [TypeError, RangeError], (input, rng) => {
  try {
    normalizeMessageId(input);
  } catch (e) {
    checkError(e, [TypeError], "normalizeMessageId()");
  }
  const list = rng.int(2) ? input : input.split(/\s+/);
  compose({ from: "a@b.example", to: "c@d.example", text: "x", inReplyTo: input, references: list });
});

fuzz("compose() subject and header values", 40, HEADER_WORDS.concat(MSGID_WORDS), [
  "=?utf-8?q?" + "a".repeat(40000) + "?=",
  "x ".repeat(30000),
  "x".repeat(60000),
], [TypeError, RangeError], (input) => {
  compose({ from: "a@b.example", to: "c@d.example", subject: input, text: "x", headers: { "X-Fuzz": input } });
});

// ------------------------------------------------------------ DATA / BDAT encoders

const DATA_WORDS = ["\r\n.\r\n", "\n.\n", "\r.\r", ".", "..", "\r", "\n", "\r\n", "\0", "\xff", "\x80", "a", " ", "From "];
fuzz("DataEncoder/BdatEncoder/scanMessage()", 200, DATA_WORDS, [
  ".\r\n".repeat(20000),
  "\r".repeat(60000),
  "x".repeat(60000),
], [RangeError], (input, rng) => {
  const bytes = latin1Bytes(input);
  const scan = scanMessage(bytes); // documents no error
  assert.ok(scan.size >= 0);
  const policy = rng.int(2) ? "allow" : "error";
  const data = new DataEncoder({ onLongLine: policy });
  const bdat = new BdatEncoder({ onLongLine: policy });
  let dataOk = true;
  let bdatOk = true;
  for (const c of chunks(rng, bytes)) {
    try {
      if (dataOk) data.push(c);
    } catch (e) {
      checkError(e, [RangeError], "DataEncoder.push()");
      dataOk = false;
    }
    try {
      if (bdatOk) bdat.push(c);
    } catch (e) {
      checkError(e, [RangeError], "BdatEncoder.push()");
      bdatOk = false;
    }
  }
  if (dataOk) data.end();
  if (bdatOk) bdat.end();
  if (policy === "allow") assert.ok(dataOk && bdatOk, "onLongLine: allow never throws");
});

fuzz("xtextDecode()", 150, ["+", "+2B", "+4", "+zz", "a", "=", " ", "\x7f", "é"], ["+".repeat(60000), "+41".repeat(20000)], [TypeError], (input) => {
  xtextDecode(input);
});
