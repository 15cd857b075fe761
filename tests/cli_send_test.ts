/**
 * The whole command in-process against an in-memory SMTP server: sendmail
 * mode (a lone dot is data, with or without -i; -t, Bcc, From:/Date:/Message-ID:, dash recipients,
 * DSN flags), exit codes under server faults, compose mode, the queue flags
 * and --serverinfo.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { main } from "../src/cli/main.ts";
import { peekHeader } from "../src/cli/input.ts";
import type { Connector } from "../deps.ts";
import { ConnectionError } from "../src/errors.ts";
import { FakeHost, type FakeHostOptions } from "./support/fake_host.ts";
import { fakeSmtp, type FakeSmtpOptions } from "./fixtures/cli/fake_smtp.ts";
import { wrapTransport } from "./support/wrap_transport.ts";

const HOME = "/home/user";
const RC = { [`${HOME}/.smtpsendrc`]: { text: "hostname = mx.example.org:25\n", mode: 0o600 } };
const NOW = () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5));

async function run(argv: string[], stdin: string, hostOptions: FakeHostOptions = {}, server: FakeSmtpOptions = {}) {
  const host = new FakeHost({ files: RC, stdin, ...hostOptions });
  const srv = fakeSmtp(server);
  const code = await main(argv, {
    host,
    connector: srv.connector,
    now: NOW,
    random: (n) => new Uint8Array(n).fill(7),
  });
  return { code, host, srv };
}

async function text(stream: AsyncIterable<Uint8Array>): Promise<string> {
  let s = "";
  const d = new TextDecoder();
  for await (const c of stream) s += d.decode(c, { stream: true });
  return s;
}

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield new TextEncoder().encode(p);
}

describe("a line holding only '.' is data on every input path", () => {
  const MSG = "From: me@example.org\nSubject: dots\n\nline 1\n.\nline 3\n.\r\n..two\n.";
  // What the server receives (it un-stuffs): every line, the final "." too, in CRLF.
  const SENT_BODY = "line 1\r\n.\r\nline 3\r\n.\r\n..two\r\n.\r\n";

  test("with no flag, -i, -oi, -O IgnoreDots, -O IgnoreDots=false: the whole input is sent", async () => {
    for (const flags of [[], ["-i"], ["-oi"], ["-O", "IgnoreDots=true"], ["-O", "IgnoreDots=false"], ["-oem", "-oi", "--"]]) {
      const r = await run([...flags, "you@example.net"], MSG);
      assert.equal(r.code, 0, r.host.stderr);
      const data = r.srv.messages()[0]!.data;
      assert.ok(data.endsWith(`\r\n\r\n${SENT_BODY}`), `${flags.join(" ")}: ${JSON.stringify(data)}`);
    }
  });

  test("split across reads at every position around the dot", async () => {
    const input = "From: me@example.org\n\na\n.\r\nb\n.\nc\n";
    for (let i = 1; i < input.length; i++) {
      for (const j of [i + 1, i + 2]) {
        if (j >= input.length) continue;
        const r = await run(["-t", "you@example.net"], "", {
          stdinChunks: [input.slice(0, i), input.slice(i, j), input.slice(j)],
        });
        assert.equal(r.code, 0, r.host.stderr);
        assert.ok(r.srv.messages()[0]!.data.endsWith("\r\n\r\na\r\n.\r\nb\r\n.\r\nc\r\n"), `split at ${i}, ${j}`);
      }
    }
  });

  test("-t: headers after nothing, recipients read, the body whole", async () => {
    const r = await run(["-t"], "From: me@example.org\nTo: you@example.net\n\n.\nafter\n");
    assert.equal(r.code, 0, r.host.stderr);
    assert.deepEqual(r.srv.messages()[0]!.to, ["you@example.net"]);
    assert.ok(r.srv.messages()[0]!.data.endsWith("\r\n\r\n.\r\nafter\r\n"));
  });

  test("a body that is just a lone dot keeps it", async () => {
    const r = await run(["-f", "me@example.org", "you@example.net"], "Subject: x\n\n.\n");
    assert.equal(r.code, 0, r.host.stderr);
    assert.ok(r.srv.messages()[0]!.data.endsWith("\r\n\r\n.\r\n"), r.srv.messages()[0]!.data);
  });

  test("-odq then -q: the queued message is whole", async () => {
    const host = new FakeHost({ files: RC, stdin: MSG });
    const srv = fakeSmtp();
    const io = { host, connector: srv.connector, now: NOW };
    assert.equal(await main(["-odq", "you@example.net"], io), 0, host.stderr);
    assert.equal(await main(["-q"], io), 0, host.stderr);
    assert.ok(srv.messages()[0]!.data.endsWith(`\r\n\r\n${SENT_BODY}`), srv.messages()[0]!.data);
  });

  test("--queue-on-failure: the message is whole", async () => {
    const r = await run(["--queue-on-failure", "you@example.net"], MSG);
    assert.equal(r.code, 0, r.host.stderr);
    assert.ok(r.srv.messages()[0]!.data.endsWith(`\r\n\r\n${SENT_BODY}`));
  });

  test("the MDA gets the whole message on its standard input", async () => {
    const got: Uint8Array[] = [];
    const r = await run(["-f", "me@example.org", "localuser"], MSG, {
      files: { [`${HOME}/.smtpsendrc`]: { text: 'hostname = mx.example.org:25\nmda "/usr/bin/procmail -d %T"\n', mode: 0o600 } },
      run: (_argv, o) => {
        got.push(o.stdin ?? new Uint8Array(0));
        return { status: 0 };
      },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(got.length, 1);
    const text = new TextDecoder().decode(got[0]);
    assert.ok(text.endsWith("\n\nline 1\n.\nline 3\n.\r\n..two\n."), JSON.stringify(text));
  });

  test("compose mode: the body from standard input keeps its lone dot lines", async () => {
    const r = await run(["-f", "me@example.org", "--subject", "S", "you@example.net"], "para 1\n.\npara 2\n");
    assert.equal(r.code, 0, r.host.stderr);
    assert.ok(r.srv.messages()[0]!.data.includes("para 1\r\n.\r\npara 2"), r.srv.messages()[0]!.data);
  });

  test("-i, -oi are listed as ignored under -v", async () => {
    const r = await run(["-v", "-i", "-oi", "you@example.net"], MSG);
    assert.equal(r.code, 0, r.host.stderr);
    assert.match(r.host.stderr, /ignoring -i\b/);
    assert.match(r.host.stderr, /ignoring -oi\b/);
  });
});

describe("peekHeader()", () => {
  test("reads the header and replays every byte", async () => {
    const p = await peekHeader(chunks("From: A <a@x.example>\nSub", "ject: s\n\nbody ", "more\n"));
    assert.deepEqual(p.fields.map((f) => f.name), ["From", "Subject"]);
    assert.equal(await text(p.stream), "From: A <a@x.example>\nSubject: s\n\nbody more\n");
  });
});

describe("sendmail mode", () => {
  test("recipients from arguments; Date:, Message-ID: added; From: added from -f and -F", async () => {
    const r = await run(["-f", "me@example.org", "-F", "Joe Smith", "you@example.net"], "Subject: hi\n\nbody\n");
    assert.equal(r.code, 0, r.host.stderr);
    const m = r.srv.messages()[0]!;
    assert.equal(m.from, "me@example.org");
    assert.deepEqual(m.to, ["you@example.net"]);
    assert.match(m.data, /^Subject: hi\r\n/);
    assert.match(m.data, /\r\nDate: Tue, 02 Jan 2024 \d\d:\d\d:05 [+-]\d{4}\r\n/);
    assert.match(m.data, /\r\nMessage-ID: <[^>]+@example\.org>\r\n/);
    assert.match(m.data, /\r\nFrom: Joe Smith <me@example\.org>\r\n\r\nbody\r\n$/);
  });

  test("-t reads To:, Cc:, Bcc: (Bcc: removed), adds the arguments, drops duplicates", async () => {
    const msg = "From: me@example.org\nTo: a@example.net, B <b@example.net>\nCc: c@example.net\nBcc: hidden@example.net\nSubject: t\n\nbody\n";
    const r = await run(["-t", "extra@example.net", "a@example.net"], msg);
    assert.equal(r.code, 0, r.host.stderr);
    const m = r.srv.messages()[0]!;
    assert.deepEqual(m.to.sort(), ["a@example.net", "b@example.net", "c@example.net", "extra@example.net", "hidden@example.net"]);
    assert.ok(!/^Bcc:/im.test(m.data));
    assert.ok(!m.data.includes("hidden@example.net"));
  });

  test("a recipient after -- that starts with '-' is an address", async () => {
    const r = await run(["-f", "me@example.org", "--", "-dash@example.net"], "Subject: x\n\nbody\n");
    assert.equal(r.code, 0, r.host.stderr);
    assert.deepEqual(r.srv.messages()[0]!.to, ["-dash@example.net"]);
    assert.ok(r.srv.sessions[0]!.lines.includes("RCPT TO:<-dash@example.net>"));
  });

  test("a recipient from the header that starts with '-' is an address", async () => {
    const r = await run(["-t"], "From: me@example.org\nTo: -dash@example.net\n\nbody\n");
    assert.equal(r.code, 0, r.host.stderr);
    assert.deepEqual(r.srv.messages()[0]!.to, ["-dash@example.net"]);
  });

  test("-N, -R, -V and -B go into MAIL and RCPT parameters when the server offers DSN", async () => {
    const r = await run(["-N", "failure,delay", "-R", "hdrs", "-V", "id-42", "-B", "7BIT", "you@example.net"], "From: me@example.org\n\nbody\n");
    assert.equal(r.code, 0, r.host.stderr);
    const lines = r.srv.sessions[0]!.lines;
    const mail = lines.find((l) => l.startsWith("MAIL FROM:"))!;
    assert.match(mail, /RET=HDRS/);
    assert.match(mail, /ENVID=id-42/);
    assert.doesNotMatch(mail, /BODY=8BITMIME/);
    assert.ok(lines.some((l) => /^RCPT TO:<you@example\.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;you@example\.net$/.test(l)), lines.join("\n"));
  });

  test("-V with spaces is sent xtext-encoded (ENVID=id+20x); a -V with a tab is a usage error (64) and nothing is sent", async () => {
    const r = await run(["-V", "id x", "you@example.net"], "From: me@example.org\n\nbody\n");
    assert.equal(r.code, 0, r.host.stderr);
    const mail = r.srv.sessions[0]!.lines.find((l) => l.startsWith("MAIL FROM:"))!;
    assert.match(mail, / ENVID=id\+20x(?: |$)/);
    const bad = await run(["-V", "id\tx", "you@example.net"], "From: me@example.org\n\nbody\n");
    assert.equal(bad.code, 64);
    assert.match(bad.host.stderr, /-V: /);
    assert.equal(bad.srv.sessions.length, 0);
  });

  test("IDN addresses, raw and compose mode: A-labels without SMTPUTF8, as written with it (the library's rule); a UTF-8 local part → 65", async () => {
    const plain = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN"];
    const utf8 = [...plain, "SMTPUTF8"];
    const lines = (r: Awaited<ReturnType<typeof run>>) => r.srv.sessions[0]!.lines.filter((l) => /^(MAIL|RCPT)/.test(l));
    for (const compose of [false, true]) {
      const argv = compose ? ["--subject", "s", "-f", "me@bücher.example", "a@bücher.example"] : ["-f", "me@bücher.example", "a@bücher.example"];
      const input = compose ? "text\n" : "Subject: s\n\nbody\n";
      const no = await run(argv, input, {}, { extensions: plain });
      assert.equal(no.code, 0, no.host.stderr);
      assert.deepEqual(lines(no).map((l) => l.replace(/ (BODY|SIZE)=\S+/g, "")), ["MAIL FROM:<me@xn--bcher-kva.example>", "RCPT TO:<a@xn--bcher-kva.example>"], `compose ${compose}`);
      const yes = await run(argv, input, {}, { extensions: utf8 });
      assert.equal(yes.code, 0, yes.host.stderr);
      assert.match(lines(yes)[0]!, /^MAIL FROM:<me@bücher\.example>.* SMTPUTF8/, `compose ${compose}`);
      assert.equal(lines(yes)[1], "RCPT TO:<a@bücher.example>");
      const local = await run(compose ? ["--subject", "s", "-f", "me@example.org", "jörg@bücher.example"] : ["-f", "me@example.org", "jörg@bücher.example"], input, {}, { extensions: plain });
      assert.equal(local.code, 65, local.host.stderr);
      assert.match(local.host.stderr, /non-ASCII local part, which needs SMTPUTF8/);
      assert.deepEqual(local.srv.sessions[0]!.lines.filter((l) => /^(MAIL|RCPT|DATA)/.test(l)), []);
    }
  });

  test("no sender anywhere → 65", async () => {
    const r = await run(["you@example.net"], "Subject: no from\n\nbody\n");
    assert.equal(r.code, 65);
    assert.match(r.host.stderr, /No envelope sender/);
    assert.equal(r.srv.sessions.length, 0);
  });

  test("an invalid recipient → 65, nothing sent", async () => {
    const r = await run(["not an address@@"], "From: me@example.org\n\nbody\n");
    assert.equal(r.code, 65);
    assert.equal(r.srv.sessions.length, 0);
  });

  test("a bare local recipient without an MDA is qualified with qualifydomain", async () => {
    const r = await run(["root"], "From: me@example.org\n\nbody\n", {
      files: { [`${HOME}/.smtpsendrc`]: { text: "hostname = mx.example.org:25\nqualifydomain example.org\n", mode: 0o600 } },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.deepEqual(r.srv.messages()[0]!.to, ["root@example.org"]);
  });

  test("a large message streams through with its bytes intact", async () => {
    // 1000 lines of 962 octets on the wire: just under the fake server's SIZE 1000000.
    const body = "0123456789abcdef".repeat(60) + "\n";
    const msg = "From: me@example.org\nSubject: big\n\n" + body.repeat(1000);
    const r = await run(["-i", "you@example.net"], msg);
    assert.equal(r.code, 0, r.host.stderr);
    const data = r.srv.messages()[0]!.data;
    assert.equal(data.split("\r\n").filter((l) => l === body.trimEnd()).length, 1000);
  });

  test("standard input over the server's SIZE: exit 65, the SIZE limit named, nothing delivered", async () => {
    const body = "0123456789abcdef".repeat(60) + "\n";
    const r = await run(["-i", "you@example.net"], "From: me@example.org\nSubject: big\n\n" + body.repeat(1100));
    assert.equal(r.code, 65, r.host.stderr);
    assert.match(r.host.stderr, /SIZE limit of 1000000 octets.*nothing was delivered/);
    assert.equal(r.srv.messages().length, 0);
  });
});

describe("exit codes for bad messages", () => {
  test("a line over 998 octets → 65 (the client refuses to send it)", async () => {
    const r = await run(["you@example.net"], "From: me@example.org\n\n" + "x".repeat(1200) + "\n");
    assert.equal(r.code, 65);
    assert.match(r.host.stderr, /998/);
  });
});

describe("exit codes under server faults", () => {
  const msg = "From: me@example.org\nSubject: x\n\nbody\n";
  const cases: [string, FakeSmtpOptions, number, RegExp][] = [
    ["every recipient 550 5.1.1 → 67", { rcpt: () => "550 5.1.1 <x>: Recipient address rejected: User unknown" }, 67, /No recipient accepted/],
    ["recipient 450 → 75", { rcpt: () => "450 4.2.0 Mailbox busy" }, 75, /450/],
    ["recipient 554 5.7.1 relay denied → 65", { rcpt: () => "554 5.7.1 Relay access denied" }, 65, /Relay access denied/],
    ["MAIL 553 → 65", { mail: () => "553 5.1.8 Sender rejected" }, 65, /Sender <me@example\.org> refused/],
    ["end of data 554 → 65", { dataReply: "554 5.6.0 Content rejected" }, 65, /Message refused/],
    ["end of data 451 → 75", { dataReply: "451 4.3.0 Try again" }, 75, /451/],
    ["greeting 554 → 69", { greeting: "554 5.3.0 No SMTP service here" }, 69, /refused the session/],
    ["greeting 421 → 75", { greeting: "421 4.3.2 Too busy" }, 75, /421/],
    ["name does not resolve → 68", {
      connectError: () => Object.assign(new Error("getaddrinfo ENOTFOUND mx.example.org"), { code: "ENOTFOUND" }),
    }, 68, /Cannot connect to mx\.example\.org:25/],
    ["connection refused → 75", {
      connectError: () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:25"), { code: "ECONNREFUSED" }),
    }, 75, /ECONNREFUSED/],
  ];
  for (const [name, server, code, pattern] of cases) {
    test(name, async () => {
      const r = await run(["you@example.net"], msg, {}, server);
      assert.equal(r.code, code, r.host.stderr);
      assert.match(r.host.stderr, pattern);
      assert.equal(r.host.stderr.split("\n").length, 2, "exactly one line");
      assert.match(r.host.stderr, /^smtpsend: /);
    });
  }

  test("one recipient refused: nothing is sent at all (all or nothing), exit per that refusal", async () => {
    const r = await run(["good@example.net", "bad@example.net"], msg, {}, {
      rcpt: (a) => (a.startsWith("bad") ? "550 5.1.1 User unknown" : undefined),
    });
    assert.equal(r.code, 67);
    assert.equal(r.srv.messages().length, 0);
    assert.match(r.host.stderr, /<bad@example\.net> 550/);
  });
});

describe("compose mode", () => {
  test("--subject, --attach (streamed from a file), --html; body from stdin", async () => {
    const r = await run(
      ["-f", "me@example.org", "--subject", "Report Grüße", "--attach", `${HOME}/r.pdf`, "--html", `${HOME}/b.html`, "you@example.net"],
      "Plain body\n",
      { files: { ...RC, [`${HOME}/r.pdf`]: { text: "%PDF-1.4 fake", mode: 0o644 }, [`${HOME}/b.html`]: { text: "<p>Hi</p>", mode: 0o644 } } },
    );
    assert.equal(r.code, 0, r.host.stderr);
    const m = r.srv.messages()[0]!;
    assert.equal(m.from, "me@example.org");
    assert.deepEqual(m.to, ["you@example.net"]);
    assert.match(m.data, /^Subject: Report =\?UTF-8\?Q\?Gr=C3=BC=C3=9Fe\?=\r$/m);
    assert.match(m.data, /multipart\/mixed/);
    assert.match(m.data, /multipart\/alternative/);
    assert.match(m.data, /filename="r\.pdf"/);
    assert.match(m.data, new RegExp(btoa("%PDF-1.4 fake")));
    assert.match(m.data, /Plain body/);
  });

  test("the sender comes from the configured identity when -f is not given", async () => {
    const r = await run(["--subject", "S", "you@example.net"], "hi\n", {
      files: { [`${HOME}/.smtpsendrc`]: { text: "identity me@example.org\nhostname mx.example.org:25\ndefault\n", mode: 0o600 } },
    });
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(r.srv.messages()[0]!.from, "me@example.org");
  });

  test("a missing attachment → 66 before connecting", async () => {
    const r = await run(["-f", "me@example.org", "--subject", "S", "--attach", "/nope.pdf", "you@example.net"], "hi\n");
    assert.equal(r.code, 66);
    assert.match(r.host.stderr, /Cannot read the attachment "\/nope\.pdf"/);
    assert.equal(r.srv.sessions.length, 0);
  });

  test("no sender → 64", async () => {
    const r = await run(["--subject", "S", "you@example.net"], "hi\n");
    assert.equal(r.code, 64);
    assert.match(r.host.stderr, /Compose mode needs a sender/);
  });
});

describe("queue flags", () => {
  const msg = "From: me@example.org\nSubject: queued\n\nbody\n";
  const QDIR = `${HOME}/Mail/queued-mail`;

  test("-odq stores the message, -bp lists it, -q sends it, the queue is empty after", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const srv = fakeSmtp();
    const io = { host, connector: srv.connector, now: NOW };
    assert.equal(await main(["-odq", "you@example.net"], io), 0, host.stderr);
    assert.equal(srv.sessions.length, 0);
    assert.ok((await host.readDir(QDIR)).some((n) => n.endsWith(".eml")));
    assert.equal(await main(["-bp"], io), 0, host.stderr);
    assert.match(host.stdout, /me@example\.org/);
    assert.match(host.stdout, /you@example\.net/);
    assert.equal(await main(["-q"], io), 0, host.stderr);
    assert.equal(srv.messages().length, 1);
    assert.match(srv.messages()[0]!.data, /Subject: queued/);
    host.stdout = "";
    assert.equal(await main(["--queue-list"], io), 0);
    assert.match(host.stdout, /Mail queue is empty/);
  });

  test("--queue-on-failure: a temporary failure keeps it queued (exit 0); a later -q delivers it", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const down = fakeSmtp({ greeting: "421 4.3.2 Not now" });
    assert.equal(await main(["--queue-on-failure", "you@example.net"], { host, connector: down.connector, now: NOW }), 0);
    assert.match(host.stderr, /stays queued as [A-Za-z0-9]+/);
    const up = fakeSmtp();
    assert.equal(await main(["-q"], { host, connector: up.connector, now: NOW }), 0, host.stderr);
    assert.equal(up.messages().length, 1);
  });

  test("--queue-on-failure: a permanent failure exits with its status", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const srv = fakeSmtp({ rcpt: () => "550 5.1.1 User unknown" });
    const code = await main(["--queue-on-failure", "you@example.net"], { host, connector: srv.connector, now: NOW });
    assert.equal(code, 67, host.stderr);
  });

  test("--queue-on-failure: sent at once → exit 0, nothing left", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const srv = fakeSmtp();
    assert.equal(await main(["--queue-on-failure", "you@example.net"], { host, connector: srv.connector, now: NOW }), 0, host.stderr);
    assert.equal(srv.messages().length, 1);
    host.stdout = "";
    await main(["-bp"], { host, connector: srv.connector, now: NOW });
    assert.match(host.stdout, /Mail queue is empty/);
  });

  test("--queue-remove removes an entry; an unknown id → 66", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const srv = fakeSmtp();
    const io = { host, connector: srv.connector, now: NOW };
    assert.equal(await main(["--queue", "you@example.net"], io), 0);
    const id = (await host.readDir(QDIR)).find((n) => n.endsWith(".json"))!.replace(/\.json$/, "");
    assert.equal(await main(["--queue-remove", id], io), 0, host.stderr);
    assert.equal(await main(["--queue-remove", id], io), 66);
    assert.match(host.stderr, /No queue entry/);
  });

  test("-q with the server still down → 75, entry kept", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const io = { host, connector: fakeSmtp().connector, now: NOW };
    assert.equal(await main(["-odq", "you@example.net"], io), 0);
    const down = fakeSmtp({ connectError: () => Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
    assert.equal(await main(["-q"], { host, connector: down.connector, now: NOW }), 75);
    assert.match(host.stderr, /deferred/);
  });
});

describe("SIZE= when standard input is a regular file", () => {
  // A FakeHost "/dev/stdin" file stands for `smtpsend … < file` (stat follows the link to the file).
  const CRLF_MSG = "From: me@example.org\r\nTo: you@example.net\r\nBcc: hidden@example.net,\r\n  other@example.net\r\nSubject: sized\r\n\r\nbody\r\n.\r\nmore\r\n";
  const sizeParam = (p: string): number | undefined => {
    const m = /(?:^| )SIZE=(\d+)/.exec(p);
    return m ? Number(m[1]) : undefined;
  };
  const withFile = (content: string, extra: Record<string, { text: string; mode: number }> = {}) => ({
    files: { ...RC, "/dev/stdin": { text: content, mode: 0o644 }, ...extra },
  });

  test("CRLF input: SIZE= is the exact size of what is sent (Bcc: removed, Date:/Message-ID: added)", async () => {
    const r = await run(["-t"], CRLF_MSG, withFile(CRLF_MSG));
    assert.equal(r.code, 0, r.host.stderr);
    const m = r.srv.messages()[0]!;
    assert.ok(!m.data.includes("hidden@"));
    assert.match(m.data, /\r\nMessage-ID: /);
    assert.equal(sizeParam(m.mailParams), new TextEncoder().encode(m.data).length, m.mailParams);
  });

  test("LF input: SIZE= errs low by exactly the CR each line gains on the wire", async () => {
    const lf = CRLF_MSG.replaceAll("\r\n", "\n");
    const r = await run(["-t"], lf, withFile(lf));
    assert.equal(r.code, 0, r.host.stderr);
    const m = r.srv.messages()[0]!;
    const wire = new TextEncoder().encode(m.data).length;
    // The input's lines that are sent (all but the two of the folded Bcc: field) each gain a CR;
    // the added Date: and Message-ID: are counted with CR LF already.
    const keptInputLines = lf.split("\n").length - 1 - 2;
    assert.ok(sizeParam(m.mailParams)! <= wire);
    assert.equal(sizeParam(m.mailParams), wire - keptInputLines, m.mailParams);
  });

  test("an mbox 'From ' line and a file read partly before (Linux fdinfo offset) are not counted", async () => {
    const mbox = `From me@example.org Thu Jan  1 00:00:00 2026\r\n${CRLF_MSG}`;
    const skipped = "ALREADY-READ\n";
    const r = await run(["-t"], mbox, withFile(skipped + mbox, { "/proc/self/fdinfo/0": { text: `pos:\t${skipped.length}\nflags:\t0100000\n`, mode: 0o444 } }));
    assert.equal(r.code, 0, r.host.stderr);
    const m = r.srv.messages()[0]!;
    assert.ok(!m.data.startsWith("From "));
    assert.equal(sizeParam(m.mailParams), new TextEncoder().encode(m.data).length, m.mailParams);
  });

  test("a pipe (no regular file behind standard input): no SIZE=", async () => {
    const r = await run(["-t"], CRLF_MSG);
    assert.equal(r.code, 0, r.host.stderr);
    assert.equal(sizeParam(r.srv.messages()[0]!.mailParams), undefined);
  });

  test("a file larger than the server's SIZE limit is refused before any data is sent (exit 65)", async () => {
    const big = `From: me@example.org\r\nTo: you@example.net\r\nSubject: big\r\n\r\n${"x".repeat(70)}\r\n`.repeat(1).padEnd(5000, "y");
    const r = await run(["-t"], big, withFile(big), { extensions: ["PIPELINING", "SIZE 2000"] });
    assert.equal(r.code, 65, r.host.stderr);
    assert.match(r.host.stderr, /SIZE limit of 2000/);
    assert.equal(r.srv.messages().length, 0);
    assert.ok(!r.srv.sessions[0]!.lines.includes("DATA"), "no DATA");
  });
});

/**
 * A connector whose connections, once the end-of-data dot has been written
 * (and passed on: the server has the message), fail every read with the
 * error the client reports when the final reply never comes: an SmtpError
 * with `maybeDelivered: true`. It goes through the CLI's real error paths.
 */
function noReplyAfterDot(inner: Connector): Connector {
  return {
    name: "no-reply-after-dot",
    async connect(options) {
      const t = await inner.connect(options);
      let tail = "";
      let dotSent = false;
      return wrapTransport(t, {
        // A read may already be waiting while the message is written (the client watches for early
        // replies): what it gets once the dot is out is dropped as well.
        read: async () => {
          const lost = () => new ConnectionError("Connection lost after the end of the message, before the server's reply", { phase: "message", maybeDelivered: true });
          if (dotSent) throw lost();
          const chunk = await t.read();
          if (dotSent) throw lost();
          return chunk;
        },
        write: async (data) => {
          tail = (tail + String.fromCharCode(...data.subarray(-5))).slice(-5);
          // Marked before the bytes go on: the server may answer within this very write.
          if (tail === "\r\n.\r\n") dotSent = true;
          await t.write(data);
        },
      });
    },
  };
}

describe("no reply to the final dot (err.maybeDelivered)", () => {
  const msg = "From: me@example.org\nSubject: maybe\n\nbody\n";
  const NOTE = /may already have accepted this message: it was sent whole, but no reply to its end came/;

  test("without --queue-on-failure: exit 75, and standard error says the server may have it (sending again may deliver twice)", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const srv = fakeSmtp();
    const code = await main(["you@example.net"], { host, connector: noReplyAfterDot(srv.connector), now: NOW });
    assert.equal(code, 75, host.stderr);
    // The library's own error line says it, once (the CLI adds no second line saying the same).
    assert.match(host.stderr, /^smtpsend: .*may already have accepted the message.*sending it again may deliver it twice/m);
    assert.equal(host.stderr.match(/may already have accepted/g)?.length, 1, host.stderr);
    assert.equal(srv.messages().length, 1, "the server did get it: the note is not idle talk");
  });

  test("--queue-on-failure: it stays queued (exit 0, nothing lost) and the note says a later flush may deliver it twice", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const srv = fakeSmtp();
    const code = await main(["--queue-on-failure", "you@example.net"], { host, connector: noReplyAfterDot(srv.connector), now: NOW });
    assert.equal(code, 0, host.stderr);
    const id = /stays queued as ([A-Za-z0-9]+)/.exec(host.stderr)?.[1];
    assert.ok(id, host.stderr);
    assert.match(host.stderr, NOTE);
    assert.match(host.stderr, new RegExp(`it stays queued as ${id} so that nothing is lost, and a later flush \\(smtpsend -q\\) may deliver it twice`));
    // Still queued: -q with a server that answers sends it (the second copy the note warned of).
    host.stdout = "";
    assert.equal(await main(["-bp"], { host, connector: srv.connector, now: NOW }), 0);
    assert.match(host.stdout, new RegExp(`^${id} `, "m"));
    assert.equal(await main(["-q"], { host, connector: srv.connector, now: NOW }), 0, host.stderr);
    assert.equal(srv.messages().length, 2);
  });

  test("-q: an entry whose flush got no final reply is deferred with the same note", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const srv = fakeSmtp();
    assert.equal(await main(["-odq", "you@example.net"], { host, connector: srv.connector, now: NOW }), 0, host.stderr);
    assert.equal(await main(["-q"], { host, connector: noReplyAfterDot(srv.connector), now: NOW }), 75);
    assert.match(host.stderr, /^smtpsend: [a-z0-9]+: deferred: /m);
    assert.match(host.stderr, /^smtpsend: [a-z0-9]+: the server may already have accepted this message/m);
  });

  test("local and SMTP recipients: the SMTP part is queued after local delivery, with the note", async () => {
    const mda: string[] = [];
    const host = new FakeHost({
      files: { [`${HOME}/.smtpsendrc`]: { text: 'hostname = mx.example.org:25\nmda "/usr/bin/procmail -d %T"\n', mode: 0o600 } },
      stdin: msg,
      run: (argv) => (mda.push(argv.at(-1)!), { status: 0 }),
    });
    const srv = fakeSmtp();
    const code = await main(["-f", "me@example.org", "bob", "you@example.net"], { host, connector: noReplyAfterDot(srv.connector), now: NOW });
    assert.equal(code, 0, host.stderr);
    assert.deepEqual(mda, ["bob"]);
    const id = /queued as ([a-z0-9]+) for <you@example\.net>/.exec(host.stderr)?.[1];
    assert.ok(id, host.stderr);
    assert.match(host.stderr, new RegExp(`it stays queued as ${id} so that nothing is lost, and a later flush \\(smtpsend -q\\) may deliver it twice`));
  });

  test("an ordinary temporary failure gets no such note", async () => {
    const host = new FakeHost({ files: RC, stdin: msg });
    const code = await main(["--queue-on-failure", "you@example.net"], { host, connector: fakeSmtp({ greeting: "421 4.3.2 Not now" }).connector, now: NOW });
    assert.equal(code, 0);
    assert.doesNotMatch(host.stderr, NOTE);
    const h2 = new FakeHost({ files: RC, stdin: msg });
    assert.equal(await main(["you@example.net"], { host: h2, connector: fakeSmtp({ greeting: "421 4.3.2 Not now" }).connector, now: NOW }), 75);
    assert.doesNotMatch(h2.stderr, NOTE);
  });
});

describe("--serverinfo", () => {
  test("reports greeting, TLS, capabilities, AUTH mechanisms and SIZE, then quits; no AUTH is attempted", async () => {
    const r = await run(["--serverinfo"], "", {
      files: { [`${HOME}/.smtpsendrc`]: { text: 'hostname = mx.example.org:587\nusername al\npassword "pw"\n', mode: 0o600 } },
    }, { starttls: true, users: { al: "pw" } });
    assert.equal(r.code, 0, r.host.stderr);
    const out = r.host.stdout;
    assert.match(out, /^SMTP server at mx\.example\.org, port 587 \(TLS mode: starttls-required\)$/m);
    assert.match(out, /^ {4}220 fake\.test ESMTP$/m);
    assert.match(out, /^ {4}Protocol: TLSv1\.3$/m);
    assert.match(out, /^ {4}Cipher: TLS_AES_256_GCM_SHA384$/m);
    assert.match(out, /^ {4}Certificate subject: CN=fake\.test$/m);
    assert.match(out, /^ {4}Certificate issuer: CN=Fake CA$/m);
    assert.match(out, /^ {4}Certificate expires: Jan {2}1 00:00:00 2030 GMT$/m);
    assert.match(out, /^ {4}PIPELINING$/m);
    assert.match(out, /^Authentication mechanisms: PLAIN LOGIN$/m);
    assert.match(out, /^Maximum message size: 1000000 octets \(0\.95 MiB\)$/m);
    assert.ok(!r.srv.sessions[0]!.lines.some((l) => l.startsWith("AUTH")));
    assert.equal(r.srv.sessions[0]!.lines.at(-1), "QUIT");
  });

  test("a server that cannot be reached → its exit status", async () => {
    const r = await run(["--serverinfo"], "", {}, {
      connectError: () => Object.assign(new Error("getaddrinfo ENOTFOUND mx.example.org"), { code: "ENOTFOUND" }),
    });
    assert.equal(r.code, 68);
  });
});

describe("a client certificate without its key", () => {
  const msg = "From: me@example.org\nSubject: cert\n\nbody\n";
  const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

  test("--cert-file alone: exit 78 naming --key-file and key_file; nothing is sent", async () => {
    const host = new FakeHost({ files: { ...RC, "/c.pem": { text: CERT, mode: 0o600 } }, stdin: msg });
    const srv = fakeSmtp();
    const code = await main(["--cert-file", "/c.pem", "you@example.net"], { host, connector: srv.connector, now: NOW });
    assert.equal(code, 78, host.stderr);
    assert.match(host.stderr, /holds no private key: give the key with --key-file FILE \(configuration: key_file\)/);
    assert.equal(srv.sessions.length, 0, "no connection was opened");
  });

  test("msmtprc tls_cert_file alone names tls_key_file", async () => {
    const files = {
      [`${HOME}/.msmtprc`]: { text: "account default\nhost mx.example.org\nport 25\ntls_cert_file /c.pem\n", mode: 0o600 },
      "/c.pem": { text: CERT, mode: 0o600 },
    };
    const host = new FakeHost({ files, stdin: msg });
    const code = await main(["you@example.net"], { host, connector: fakeSmtp().connector, now: NOW });
    assert.equal(code, 78, host.stderr);
    assert.match(host.stderr, /--key-file FILE \(configuration: tls_key_file\)/);
  });
});
