/**
 * parseArgs(): every sendmail flag, the no-op flags MUAs send, long options,
 * `--` and recipients that start with "-", and usage errors (exit 64).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isComposeMode, parseArgs } from "../src/cli/args.ts";
import { CliError } from "../src/cli/errors.ts";
import { main } from "../src/cli/main.ts";
import { FakeHost } from "./support/fake_host.ts";
import { fakeSmtp } from "./fixtures/cli/fake_smtp.ts";

function usage(argv: string[], pattern?: RegExp): void {
  assert.throws(() => parseArgs(argv), (e: unknown) => {
    assert.ok(e instanceof CliError, String(e));
    assert.equal(e.exitCode, 64);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

describe("parseArgs() sendmail options", () => {
  test("defaults: send mode, no flags", () => {
    const a = parseArgs(["you@example.net"]);
    assert.equal(a.mode, "send");
    assert.deepEqual(a.recipients, ["you@example.net"]);
    assert.equal(a.readRecipients, false);
    assert.deepEqual(a.ignored, []);
    assert.equal(a.verbose, false);
    assert.equal(a.queue, false);
    assert.equal(a.pretend, false);
  });

  test("-f and -r set the envelope sender, attached or separate", () => {
    assert.equal(parseArgs(["-f", "me@example.org", "x@y.z"]).sender, "me@example.org");
    assert.equal(parseArgs(["-fme@example.org", "x@y.z"]).sender, "me@example.org");
    assert.equal(parseArgs(["-r", "me@example.org", "x@y.z"]).sender, "me@example.org");
    assert.equal(parseArgs(["-f", "", "x@y.z"]).sender, "");
    assert.equal(parseArgs(["-f", "<>", "x@y.z"]).sender, "<>");
  });

  test("-F, -t, -i, -oi, -v, -X, -C, -a", () => {
    const a = parseArgs(["-F", "Joe Smith", "-t", "-i", "-v", "-X", "/tmp/log", "-C", "/etc/rc", "-a", "work"]);
    assert.equal(a.fullName, "Joe Smith");
    assert.equal(a.readRecipients, true);
    // -i, -oi and -O IgnoreDots are accepted no-ops: a lone "." line is always data.
    assert.deepEqual(a.ignored, ["-i"]);
    assert.equal("ignoreDots" in a, false);
    assert.equal(a.verbose, true);
    assert.equal(a.traceFile, "/tmp/log");
    assert.equal(a.configFile, "/etc/rc");
    assert.equal(a.account, "work");
    assert.deepEqual(parseArgs(["-oi", "x@y.z"]).ignored, ["-oi"]);
    assert.deepEqual(parseArgs(["-O", "IgnoreDots=true", "x@y.z"]).ignored, ["-OIgnoreDots=true"]);
    assert.deepEqual(parseArgs(["-O", "IgnoreDots=false", "x@y.z"]).ignored, ["-OIgnoreDots=false"]);
  });

  test("grouped flags: -ti and -it, and a value after a group (-tf addr)", () => {
    for (const g of ["-ti", "-it"]) {
      const a = parseArgs([g]);
      assert.equal(a.readRecipients, true);
      assert.deepEqual(a.ignored, ["-i"]);
    }
    const b = parseArgs(["-tfme@example.org"]);
    assert.equal(b.readRecipients, true);
    assert.equal(b.sender, "me@example.org");
  });

  test("-N, -R, -V, -B", () => {
    const a = parseArgs(["-N", "success,failure", "-R", "hdrs", "-V", "env-123", "-B", "8bitmime", "x@y.z"]);
    assert.deepEqual(a.dsnNotify, ["SUCCESS", "FAILURE"]);
    assert.equal(a.dsnReturn, "HDRS");
    assert.equal(a.envelopeId, "env-123");
    assert.equal(a.bodyType, "8BITMIME");
    assert.equal(parseArgs(["-Nnever", "x@y.z"]).dsnNotify, "NEVER");
    assert.equal(parseArgs(["-B7BIT", "x@y.z"]).bodyType, "7BIT");
    assert.equal(parseArgs(["-R", "full", "x@y.z"]).dsnReturn, "FULL");
    // RFC 3461 allows spaces in an envelope id; they are xtext-encoded when sent.
    assert.equal(parseArgs(["-V", "id x", "x@y.z"]).envelopeId, "id x");
  });

  test("invalid values are usage errors", () => {
    usage(["-N", "sometimes", "x@y.z"], /-N/);
    usage(["-R", "all", "x@y.z"], /-R/);
    usage(["-V", "tab\there", "x@y.z"], /-V: .*U\+0009/);
    usage(["-V", "caf\u00e9", "x@y.z"], /-V: .*U\+00E9/);
    usage(["-V", "x".repeat(101), "x@y.z"], /-V: .*101 characters/);
    usage(["-V", "a b".repeat(25), "x@y.z"], /-V: .*RFC 3461 allows 100/);
    usage(["-B", "BINARYMIME", "x@y.z"], /-B/);
    usage(["-f"], /-f needs a value/);
    usage(["-X"], /-X needs a value/);
    usage(["-f", "a@b\r\nRCPT TO:<c@d>", "x@y.z"], /control character/);
    usage(["x@y.z\n"], /control character/);
  });

  test("the no-op flags MUAs send are accepted and ignored", () => {
    const argv = [
      "-oem", "-om", "-odi", "-odb", "-oee", "-G", "-h", "17", "-h17", "-L", "tag", "-Ltag", "-O", "ErrorMode=m",
      "-U", "-bm", "-em", "-ee", "-ep", "-eq", "-ew", "-n", "-s", "-c", "-m", "-Ac", "-Am", "-d", "0.1", "-d0.1",
      "-M", "Xvalue", "-p", "smtp", "-x", "-o", "i", "x@y.z",
    ];
    const a = parseArgs(argv);
    assert.equal(a.mode, "send");
    assert.deepEqual(a.recipients, ["x@y.z"]);
    assert.ok(a.ignored.includes("-oi")); // "-o i" is -oi
    assert.ok(a.ignored.includes("-oem"));
    assert.ok(a.ignored.includes("-h17"));
    assert.ok(a.ignored.includes("-Ltag"));
    assert.ok(a.ignored.includes("-OErrorMode=m"));
    assert.ok(a.ignored.includes("-U"));
    assert.ok(a.ignored.includes("-bm"));
    // A value-taking no-op consumes its value: "17" and "tag" are not recipients.
    assert.ok(!a.recipients.includes("17"));
    assert.ok(!a.recipients.includes("tag"));
  });

  test("Mutt's, git send-email's and fetchmail's command lines", () => {
    const mutt = parseArgs(["-oem", "-oi", "-f", "me@example.org", "--", "you@example.net", "-dash@example.net"]);
    assert.ok(mutt.ignored.includes("-oi"));
    assert.equal(mutt.sender, "me@example.org");
    assert.deepEqual(mutt.recipients, ["you@example.net", "-dash@example.net"]);
    const git = parseArgs(["-i", "you@example.net", "other@example.net"]);
    assert.deepEqual(git.recipients, ["you@example.net", "other@example.net"]);
    const fetchmail = parseArgs(["-f", "sender@example.org", "localuser"]);
    assert.deepEqual(fetchmail.recipients, ["localuser"]);
  });

  test("queue flags: -odq, -O DeliveryMode=q, -q, -q30m, -bp, --queue-remove", () => {
    assert.equal(parseArgs(["-odq", "x@y.z"]).queue, true);
    assert.equal(parseArgs(["-O", "DeliveryMode=q", "x@y.z"]).queue, true);
    assert.equal(parseArgs(["--queue", "x@y.z"]).queue, true);
    assert.equal(parseArgs(["-q"]).mode, "flush");
    assert.equal(parseArgs(["-q30m"]).mode, "flush");
    assert.equal(parseArgs(["--flush"]).mode, "flush");
    assert.equal(parseArgs(["-bp"]).mode, "queue-list");
    assert.equal(parseArgs(["--queue-list"]).mode, "queue-list");
    const r = parseArgs(["--queue-remove", "abc123", "--queue-remove=def456"]);
    assert.equal(r.mode, "queue-remove");
    assert.deepEqual(r.queueRemove, ["abc123", "def456"]);
    assert.equal(parseArgs(["--queue-on-failure", "x@y.z"]).queueOnFailure, true);
    usage(["--queue-remove", "../etc/passwd"], /queue id/);
    usage(["--queue", "--queue-on-failure", "x@y.z"], /Choose one/);
    usage(["-bp", "-q"], /Choose one/);
  });

  test("-bi and -I are newaliases (nothing to do); daemon and test modes are refused", () => {
    assert.equal(parseArgs(["-bi"]).mode, "newaliases");
    assert.equal(parseArgs(["-I"]).mode, "newaliases");
    for (const b of ["-bs", "-bd", "-bD", "-bt", "-bv", "-bh", "-bH", "-bP", "-ba"]) usage([b], /not supported/);
  });
});

describe("parseArgs() long options", () => {
  test("server and account overrides, with = or a separate value", () => {
    const a = parseArgs([
      "--host", "smtp.example.org", "--port=submission", "--tls", "starttls", "--user", "me", "--auth=plain",
      "--password-eval", "pass show mail", "--ca-file", "/ca.pem", "--cert-file=/c.pem", "--key-file", "/k.pem",
      "--helo", "client.example.org", "--allow-plaintext-auth", "--tls-no-verify", "--timeout", "2.5", "x@y.z",
    ]);
    assert.equal(a.host, "smtp.example.org");
    assert.equal(a.port, 587);
    assert.equal(a.tls, "starttls-required");
    assert.equal(a.user, "me");
    assert.deepEqual(a.auth, { auth: true, method: "PLAIN" });
    assert.equal(a.passwordEval, "pass show mail");
    assert.equal(a.caFile, "/ca.pem");
    assert.equal(a.certFile, "/c.pem");
    assert.equal(a.keyFile, "/k.pem");
    assert.equal(a.helo, "client.example.org");
    assert.equal(a.allowPlaintextAuth, true);
    assert.equal(a.tlsNoVerify, true);
    assert.equal(a.timeoutMs, 2500);
    assert.equal(parseArgs(["--host", "[::1]", "x@y.z"]).host, "::1");
    assert.equal(parseArgs(["--tls", "implicit", "x@y.z"]).tls, "implicit");
    assert.equal(parseArgs(["--tls", "none", "x@y.z"]).tls, "none");
    assert.equal(parseArgs(["--tls", "starttls-opportunistic", "x@y.z"]).tls, "starttls-opportunistic");
    assert.deepEqual(parseArgs(["--auth", "off", "x@y.z"]).auth, { auth: false });
  });

  test("modes: --version, --help, --serverinfo, --pretend", () => {
    assert.equal(parseArgs(["--version"]).mode, "version");
    assert.equal(parseArgs(["--help"]).mode, "help");
    assert.equal(parseArgs(["--help", "--serverinfo"]).mode, "help");
    assert.equal(parseArgs(["--serverinfo"]).mode, "serverinfo");
    const p = parseArgs(["--pretend", "x@y.z"]);
    assert.equal(p.pretend, true);
    assert.equal(p.mode, "send");
  });

  test("compose options", () => {
    const a = parseArgs(["--subject", "Report", "--attach", "a.pdf", "--attach=b.png", "--html", "body.html", "x@y.z"]);
    assert.equal(a.subject, "Report");
    assert.deepEqual(a.attachments, ["a.pdf", "b.png"]);
    assert.equal(a.html, "body.html");
    assert.equal(isComposeMode(a), true);
    assert.equal(isComposeMode(parseArgs(["x@y.z"])), false);
    usage(["--serverinfo", "--subject", "x"], /compose/);
  });

  test("bad long option values and unknown options are usage errors", () => {
    usage(["--port", "smtpx", "x@y.z"], /--port/);
    usage(["--port", "70000", "x@y.z"], /--port/);
    usage(["--tls", "maybe", "x@y.z"], /--tls/);
    usage(["--auth", "gssapi", "x@y.z"], /Unsupported authentication mechanism/);
    usage(["--timeout", "-1", "x@y.z"], /--timeout/);
    usage(["--host", "a b", "x@y.z"], /--host/);
    usage(["--helo", "bad name", "x@y.z"], /--helo/);
    usage(["--host"], /needs a value/);
    usage(["--version=1"], /takes no value/);
    usage(["--frobnicate"], /Unknown option "--frobnicate"/);
    usage(["-k", "x@y.z"], /Unknown option "-k"/);
    usage(["-tk", "x@y.z"], /Unknown option "-k" in "-tk"/);
    usage(["-Q", "reason"], /Unknown option "-Q"/);
  });
});

describe("parseArgs() recipients", () => {
  test("options and recipients mix (permutation); `--` ends options", () => {
    const a = parseArgs(["a@example.net", "-v", "b@example.net", "--", "-c@example.net", "--weird@example.net", "-t"]);
    assert.equal(a.verbose, true);
    assert.equal(a.readRecipients, false);
    assert.deepEqual(a.recipients, ["a@example.net", "b@example.net", "-c@example.net", "--weird@example.net", "-t"]);
  });

  test("a lone '-' is a recipient, not an option", () => {
    assert.deepEqual(parseArgs(["-"]).recipients, ["-"]);
  });
});

describe("main() usage handling", () => {
  test("unknown flag → exit 64 with one line on stderr, nothing sent", async () => {
    const host = new FakeHost({ stdin: "Subject: x\n\nbody\n" });
    const srv = fakeSmtp();
    const code = await main(["--no-such-flag", "x@example.net"], { host, connector: srv.connector });
    assert.equal(code, 64);
    assert.match(host.stderr, /^smtpsend: Unknown option "--no-such-flag"; see --help\n$/);
    assert.equal(srv.sessions.length, 0);
  });

  test("no recipients without -t → exit 64", async () => {
    const host = new FakeHost({ stdin: "Subject: x\n\nbody\n", env: { SMTPSERVER: "mx.example" } });
    const code = await main([], { host, connector: fakeSmtp().connector });
    assert.equal(code, 64);
    assert.match(host.stderr, /No recipients given/);
  });

  test("--version and --help print to stdout and exit 0", async () => {
    const host = new FakeHost();
    assert.equal(await main(["--version"], { host, connector: fakeSmtp().connector }), 0);
    assert.match(host.stdout, /^smtpsend \d+\.\d+\.\d+\n$/);
    const h2 = new FakeHost();
    assert.equal(await main(["--help"], { host: h2, connector: fakeSmtp().connector }), 0);
    assert.match(h2.stdout, /Usage:/);
    assert.match(h2.stdout, /-odq/);
  });

  test("-bi (newaliases) exits 0 without reading anything", async () => {
    const host = new FakeHost();
    assert.equal(await main(["-bi"], { host, connector: fakeSmtp().connector }), 0);
    assert.equal(host.stderr, "");
  });

  test("-bs is refused with exit 64", async () => {
    const host = new FakeHost();
    assert.equal(await main(["-bs"], { host, connector: fakeSmtp().connector }), 64);
    assert.match(host.stderr, /-bs is not supported/);
  });
});
