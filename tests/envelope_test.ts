import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeWords } from "../src/message/encoding.ts";
import { deriveEnvelope, prepareRaw, type PrepareRawOptions } from "../src/message/envelope.ts";
import { parseHeaderBlock } from "../src/message/headers.ts";
import { concatBytes } from "../src/protocol/bytes.ts";
import { DataEncoder } from "../src/protocol/data.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function run(message: string | Uint8Array | AsyncIterable<Uint8Array>, options: PrepareRawOptions = {}) {
  const input = typeof message === "string" ? enc.encode(message) : message;
  const p = await prepareRaw(input, {
    now: () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
    utcOffset: 0,
    random: (n) => new Uint8Array(n).fill(7),
    ...options,
  });
  const parts: Uint8Array[] = [];
  for await (const c of p.stream()) parts.push(c);
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of parts) {
    out.set(c, o);
    o += c.length;
  }
  return { ...p, text: dec.decode(out), bytes: out };
}

async function* chunked(text: string, size: number): AsyncGenerator<Uint8Array> {
  const b = enc.encode(text);
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

const MSG = "From: Me <me@example.org>\r\nTo: a@example.net, Team: b@example.net;\r\nCc: c@example.net\r\n" +
  "Bcc: hidden@example.net,\r\n secret@example.net\r\nSubject: hi\r\n\r\nbody line\r\nBcc: not-a-header@example.net\r\n";

test("deriveEnvelope() takes the sender from -f, then the identity, then From:", () => {
  assert.equal(deriveEnvelope(MSG, { sender: "f@example.org", recipients: ["x@example.net"] }).from, "f@example.org");
  assert.equal(deriveEnvelope(MSG, { sender: "<>", recipients: ["x@example.net"] }).from, "");
  assert.equal(deriveEnvelope(MSG, { sender: "", recipients: ["x@example.net"] }).from, "");
  assert.equal(deriveEnvelope(MSG, { identity: "Id <id@example.org>", recipients: ["x@example.net"] }).from, "id@example.org");
  assert.equal(deriveEnvelope(MSG, { recipients: ["x@example.net"] }).from, "me@example.org");
});

test("deriveEnvelope() prefers From: over Sender: unless From: lists several mailboxes", () => {
  const h = "From: author@example.org\r\nSender: agent@example.org\r\n\r\n";
  assert.equal(deriveEnvelope(h, { recipients: ["x@example.net"] }).from, "author@example.org");
  const multi = "From: a@example.org, b@example.org\r\nSender: agent@example.org\r\n\r\n";
  assert.equal(deriveEnvelope(multi, { recipients: ["x@example.net"] }).from, "agent@example.org");
  assert.equal(deriveEnvelope("Sender: agent@example.org\r\n\r\n", { recipients: ["x@example.net"] }).from, "agent@example.org");
  assert.throws(() => deriveEnvelope("From: a@example.org, b@example.org\r\n\r\n", { recipients: ["x@example.net"] }), /several mailboxes/);
  assert.throws(() => deriveEnvelope("Subject: x\r\n\r\n", { recipients: ["x@example.net"] }), /No envelope sender/);
});

test("deriveEnvelope() with -t reads To, Cc and Bcc (groups expanded) and adds the arguments, Postfix style", () => {
  assert.deepEqual(deriveEnvelope(MSG, { readRecipients: true }), {
    from: "me@example.org",
    to: ["a@example.net", "b@example.net", "c@example.net", "hidden@example.net", "secret@example.net"],
  });
  assert.deepEqual(deriveEnvelope(MSG, { readRecipients: true, recipients: ["extra@example.net", "A@example.net", "a@EXAMPLE.net"] }).to, [
    "a@example.net",
    "b@example.net",
    "c@example.net",
    "hidden@example.net",
    "secret@example.net",
    "extra@example.net",
    "A@example.net",
  ]);
  assert.deepEqual(deriveEnvelope(MSG, { recipients: ["Name <x@example.net>, y@example.net"] }).to, ["x@example.net", "y@example.net"]);
});

test("deriveEnvelope() with -t uses only the Resent-* set when any Resent-* field exists", () => {
  const h = "Resent-From: fwd@example.org\r\nResent-To: new@example.net\r\nResent-Bcc: newbcc@example.net\r\n" +
    "From: orig@example.org\r\nTo: old@example.net\r\nCc: oldcc@example.net\r\n\r\n";
  assert.deepEqual(deriveEnvelope(h, { readRecipients: true }), { from: "fwd@example.org", to: ["new@example.net", "newbcc@example.net"] });
});

test("deriveEnvelope() qualifies bare recipients with sendto-domain and refuses them otherwise", () => {
  const h = "From: me@example.org\r\nTo: root, Admins: admin, x@other.example;\r\n\r\n";
  assert.deepEqual(deriveEnvelope(h, { readRecipients: true, recipients: ["postmaster"], qualifyDomain: "example.org" }).to, [
    "root@example.org",
    "admin@example.org",
    "x@other.example",
    "postmaster@example.org",
  ]);
  assert.throws(() => deriveEnvelope(h, { readRecipients: true }), TypeError);
  assert.throws(() => deriveEnvelope(h, { recipients: ["root"] }), /no "@"/);
  assert.throws(() => deriveEnvelope(h, { recipients: ["root"], qualifyDomain: "bad domain" }), /not a valid domain/);
});

test("deriveEnvelope() with keepLocal keeps bare recipients apart for the MDA, even when only they are given", () => {
  const h = "From: me@example.org\r\nTo: root, a@example.net\r\n\r\n";
  assert.deepEqual(deriveEnvelope(h, { readRecipients: true, keepLocal: true, qualifyDomain: "example.org", recipients: ["bob", "root"] }), {
    from: "me@example.org",
    to: ["a@example.net"],
    local: ["root", "bob"],
  });
  assert.deepEqual(deriveEnvelope(h, { keepLocal: true, recipients: ["bob"] }), { from: "me@example.org", to: [], local: ["bob"] });
  assert.throws(() => deriveEnvelope(h, { keepLocal: true, recipients: [] }), /No recipients/);
});

test("deriveEnvelope() refuses missing recipients, bad addresses and injection", () => {
  assert.throws(() => deriveEnvelope(MSG, {}), /No recipients/);
  assert.throws(() => deriveEnvelope("From: me@example.org\r\n\r\n", { readRecipients: true }), /No recipients/);
  assert.throws(() => deriveEnvelope(MSG, { recipients: ["a@evil.example@good.example"] }), TypeError);
  assert.throws(() => deriveEnvelope(MSG, { recipients: ["x@example.net>\r\nRCPT TO:<y@example.net"] }), TypeError);
  assert.throws(() => deriveEnvelope(MSG, { sender: "a@b.example, c@d.example", recipients: ["x@example.net"] }), /exactly one/);
  assert.throws(() => deriveEnvelope("From: x\r\nTo: u@good.example(x)evil.example\r\n\r\n", { sender: "me@example.org", readRecipients: true }), /To: field/);
  // As written (the client converts the domain only for a server without SMTPUTF8), deduped by the A-label form.
  assert.deepEqual(
    deriveEnvelope("To: b@bücher.example, b@XN--BCHER-KVA.example\r\n\r\n", { sender: "me@example.org", readRecipients: true }).to,
    ["b@bücher.example"],
  );
});

test("prepareRaw() removes Bcc with its continuation lines and adds Date and Message-ID, body untouched", async () => {
  const r = await run(MSG, { readRecipients: true });
  assert.equal(
    r.text,
    "From: Me <me@example.org>\r\nTo: a@example.net, Team: b@example.net;\r\nCc: c@example.net\r\nSubject: hi\r\n" +
      "Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <a4dqobyha4dqobyha4dqobyh@example.org>\r\n" +
      "\r\nbody line\r\nBcc: not-a-header@example.net\r\n",
  );
  assert.deepEqual(r.removed, ["Bcc"]);
  assert.equal(r.added.length, 2);
  assert.equal(r.envelope.to.length, 5);
});

test("prepareRaw() keeps bare LF line endings and adds From: from -F and the sender", async () => {
  const r = await run("To: a@example.net\nBCC: x@example.net\n\tmore@example.net\nResent-Bcc: y@example.net\n\nbody\n", {
    sender: "me@example.org",
    fullName: "Jörg Müller",
    readRecipients: true,
  });
  assert.equal(
    r.text,
    "To: a@example.net\nDate: Tue, 02 Jan 2024 03:04:05 +0000\nMessage-ID: <a4dqobyha4dqobyha4dqobyh@example.org>\n" +
      "From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <me@example.org>\n\nbody\n",
  );
  assert.deepEqual(r.removed, ["BCC", "Resent-Bcc"]);
  // Resent-* present: only Resent-Bcc counts for -t.
  assert.deepEqual(r.envelope.to, ["y@example.net"]);
});

test("prepareRaw() leaves existing Date, Message-ID and From alone and can skip additions", async () => {
  const msg = "From: a@example.org\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <x@y>\r\nTo: b@example.net\r\n\r\nhi";
  const r = await run(msg, { readRecipients: true, fullName: "Ignored" });
  assert.equal(r.text, msg);
  assert.deepEqual(r.added, []);
  const s = await run("To: b@example.net\r\n\r\nhi", { sender: "a@example.org", readRecipients: true, addDate: false, addMessageId: false, addFrom: false });
  assert.equal(s.text, "To: b@example.net\r\n\r\nhi");
  const n = await run("To: b@example.net\r\n\r\nhi", { sender: "<>", readRecipients: true, addDate: false, addMessageId: false });
  assert.equal(n.text, "To: b@example.net\r\n\r\nhi", "no From: for the null sender");
  assert.match((await run("To: b@example.net\r\n\r\nhi", { sender: "<>", readRecipients: true })).text, /^Message-ID: <[a-z2-7]+@localhost>$/m);
});

test("prepareRaw() handles a message without body, without final newline, and without header", async () => {
  const noBody = await run("To: b@example.net\r\nSubject: x", { sender: "a@example.org", readRecipients: true, addFrom: false });
  assert.equal(noBody.text, "To: b@example.net\r\nSubject: x\r\nDate: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <a4dqobyha4dqobyha4dqobyh@example.org>\r\n");
  const headerOnly = await run("To: b@example.net\r\nBcc: c@example.net", { sender: "a@example.org", readRecipients: true, addDate: false, addMessageId: false, addFrom: false });
  assert.equal(headerOnly.text, "To: b@example.net\r\n");
  const noHeader = await run("just a body line\nsecond\n", { sender: "a@example.org", recipients: ["b@example.net"], addMessageId: false, addFrom: false });
  assert.equal(noHeader.text, "Date: Tue, 02 Jan 2024 03:04:05 +0000\r\n\r\njust a body line\nsecond\n");
  const brokenHeader = await run("Subject: x\nnot a header line\nmore\n", { sender: "a@example.org", recipients: ["b@example.net"], addMessageId: false, addFrom: false, addDate: false });
  assert.equal(brokenHeader.text, "Subject: x\n\nnot a header line\nmore\n");
  const mbox = await run("From me@example.org Mon Jan  1 00:00:00 2024\nTo: b@example.net\n\nhi\n", { sender: "a@example.org", readRecipients: true, addMessageId: false, addFrom: false, addDate: false });
  assert.equal(mbox.text, "To: b@example.net\n\nhi\n");
  const empty = await run("", { sender: "a@example.org", recipients: ["b@example.net"], addMessageId: false, addFrom: false });
  assert.equal(empty.text, "Date: Tue, 02 Jan 2024 03:04:05 +0000\r\n");
});

test("prepareRaw() reads a stream in any chunking and gives the same bytes", async () => {
  const want = (await run(MSG, { readRecipients: true })).text;
  for (const size of [1, 2, 3, 7, 64, 1 << 20]) {
    const r = await run(chunked(MSG, size), { readRecipients: true });
    assert.equal(r.text, want, `chunks of ${size}`);
  }
});

test("prepareRaw() buffers only the header and passes body chunks through as they come", async () => {
  let pulled = 0;
  const body = new Uint8Array(65536).fill(0x61);
  async function* source(): AsyncGenerator<Uint8Array> {
    pulled++;
    yield enc.encode("To: b@example.net\r\n\r\n");
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield body;
    }
  }
  const p = await prepareRaw(source(), { sender: "a@example.org", readRecipients: true });
  assert.ok(pulled <= 2, `pulled ${pulled} chunks before the first write`);
  let n = 0;
  let total = 0;
  for await (const c of p.stream()) {
    n++;
    total += c.length;
    assert.ok(pulled <= n + 1, "one chunk in, one chunk out");
  }
  assert.ok(total > 100 * 65536);
  assert.throws(() => p.stream(), TypeError, "a stream can be read once");
});

test("prepareRaw() refuses a header block over the cap with a clear error", async () => {
  const big = "X-Big: " + "a".repeat(2000) + "\r\n";
  await assert.rejects(prepareRaw(enc.encode(big.repeat(10) + "\r\nbody"), { sender: "a@example.org", recipients: ["b@example.net"], maxHeaderBytes: 10000 }), RangeError);
  await assert.rejects(prepareRaw(chunked("X-Big: " + "a".repeat(50000), 1000), { sender: "a@example.org", recipients: ["b@example.net"], maxHeaderBytes: 10000 }), /larger than 10000 bytes/);
  await assert.rejects(prepareRaw(enc.encode(MSG), { readRecipients: true, fullName: "x\r\nBcc: v@example.org" }), TypeError);
});

test("prepareRaw() refuses a bare CR in the header: on the wire it would start a Bcc: line that is neither removed nor sent to", async () => {
  const opts: PrepareRawOptions = { readRecipients: true };
  const attacks = [
    "From: me@example.org\nTo: a@example.net\nSubject: hi\rBcc: secret@example.net\n\nbody\n",
    "From: me@example.org\r\nTo: a@example.net\r\nSubject: hi\r\rX-Injected: 1\r\n\r\nbody\r\n",
    "From: me@example.org\nTo: a@example.net,\r Bcc: secret@example.net\n\nbody\n",
    "From: me@example.org\nTo: a@example.net\n\rBcc: secret@example.net\n", // an empty line made of a bare CR
    "From: me@example.org\nTo: a@example.net\nSubject: hi\r", // bare CR as the very last byte
    "From me@example.org Mon Jan  1 00:00:00 2024\rBcc: secret@example.net\nTo: a@example.net\n\nbody\n",
  ];
  for (const msg of attacks) {
    await assert.rejects(run(msg, opts), /bare CR/, JSON.stringify(msg));
    for (const size of [1, 2, 5]) await assert.rejects(run(chunked(msg, size), opts), /bare CR/, `${JSON.stringify(msg)} in chunks of ${size}`);
  }
  // deriveEnvelope() reads the same lines the wire carries: Bcc is a field there, not part of Subject.
  assert.deepEqual(deriveEnvelope(attacks[0]!, opts).to, ["a@example.net", "secret@example.net"]);
});

test("prepareRaw() refuses NUL in the header but passes bare CR and NUL in the body through", async () => {
  await assert.rejects(run("From: me@example.org\nTo: a@example.net\nSubject: a\0b\n\nbody\n", { readRecipients: true }), /NUL/);
  await assert.rejects(run("From: me@example.org\nTo: a@example.net\0Bcc: x@example.net\n\nbody\n", { readRecipients: true }), TypeError);
  const body = "line\rwith bare CR\0 and NUL\r\n";
  const r = await run(`From: me@example.org\r\nTo: a@example.net\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\n${body}`, { readRecipients: true });
  assert.ok(r.text.endsWith(`\r\n\r\n${body}`));
  // A line that is not a field ends the header; what follows is body, bare CR or not.
  const broken = await run("To: a@example.net\nnot a field\rBcc: x@example.net\n", { sender: "me@example.org", readRecipients: true, addDate: false, addMessageId: false, addFrom: false });
  assert.equal(broken.text, "To: a@example.net\n\nnot a field\rBcc: x@example.net\n");
  assert.deepEqual(broken.envelope.to, ["a@example.net"]);
});

test("prepareRaw() keeps CRLF split across chunks as one line ending", async () => {
  const msg = "From: me@example.org\r\nTo: a@example.net\r\nBcc: b@example.net\r\n\r\nbody\r\n";
  const want = (await run(msg, { readRecipients: true })).text;
  for (const size of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) {
    const r = await run(chunked(msg, size), { readRecipients: true });
    assert.equal(r.text, want, `chunks of ${size}`);
    assert.deepEqual(r.envelope.to, ["a@example.net", "b@example.net"]);
  }
});

test("prepareRaw() encodes a -F full name that looks like an encoded word, so it displays literally", async () => {
  for (const name of ["=?UTF-8?B?DQ oQmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?=", "=?UTF-8?B?DQ-o=?=", "=?utf-8?q?=0d=0a?="]) {
    const r = await run("To: a@example.net\n\nbody\n", { sender: "me@example.org", fullName: name, readRecipients: true, addDate: false, addMessageId: false });
    const from = r.added[0]!.replace(/\r\n(?=[ \t])/g, "");
    assert.match(from, /^From: (?:=\?UTF-8\?[QB]\?[^?\s]*\?=\s+)+<me@example\.org>$/, from);
    assert.equal(decodeWords(from.replace(/^From: |\s*<me@example\.org>$/g, "")), name);
  }
  await assert.rejects(run("To: a@example.net\n\nbody\n", { sender: "=?x?=@example.org", readRecipients: true }), /must not contain "=\?"/);
});

test("prepareRaw() output on the wire never carries a Bcc: line, and every To:/Cc: line there is in the envelope", async () => {
  const pieces = ["From: me@example.org", "To: a@example.net", "Cc: c@example.net", "Bcc: s@example.net", " t@example.net,", "\tu@example.net", "Subject: hi", "", "body", "X: 1"];
  const ends = ["\r\n", "\n", "\r", "\r\r", "\n\r", "\r\r\n", "\0\n"];
  let seed = 11;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) % n;
  let refused = 0;
  for (let round = 0; round < 400; round++) {
    let text = "";
    for (let i = rnd(8) + 1; i > 0; i--) text += pieces[rnd(pieces.length)]! + ends[rnd(ends.length)]!;
    let r;
    try {
      r = await run(text, { sender: "me@example.org", readRecipients: true, recipients: ["x@example.net"] });
    } catch (e) {
      assert.ok(e instanceof TypeError, `${JSON.stringify(text)}: ${e}`);
      refused++;
      continue;
    }
    const e = new DataEncoder({ onLongLine: "allow" });
    const wire = concatBytes([e.push(r.bytes), e.end()]);
    const fields = parseHeaderBlock(wire);
    assert.ok(!fields.some((f) => /^bcc$/i.test(f.name)), JSON.stringify(text));
    for (const f of fields.filter((f) => /^(to|cc)$/i.test(f.name))) {
      for (const a of f.value.split(",").map((s) => s.trim()).filter(Boolean)) {
        assert.ok(r.envelope.to.includes(a), `${a} of ${JSON.stringify(text)} not in ${r.envelope.to}`);
      }
    }
  }
  assert.ok(refused > 50 && refused < 350, `refused ${refused}`);
});
