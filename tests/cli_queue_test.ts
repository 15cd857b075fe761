/**
 * The queue flags with identities (esmtp format) and local + SMTP recipients,
 * in-process against an in-memory host and SMTP server:
 *
 * - mail queued under any identity is listed (-bp), sent (-q, each entry with
 *   its own account) and removable (--queue-remove), wherever its queue
 *   directory is; the top-level `queue_dir` is a global default;
 * - a temporary SMTP failure after the MDA delivered the local recipients
 *   queues the SMTP part (exit 0) instead of exiting 75 and getting the
 *   local recipients the message twice on the caller's retry.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { main } from "../src/cli/main.ts";
import { Queue } from "../src/queue.ts";
import { FakeHost, type FakeRunHandler } from "./support/fake_host.ts";
import { fakeSmtp } from "./fixtures/cli/fake_smtp.ts";

const HOME = "/home/user";
const DEFAULT_QDIR = `${HOME}/Mail/queued-mail`;
const NOW = () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5));

function rcHost(rc: string, stdin: string, run?: FakeRunHandler): FakeHost {
  return new FakeHost({ files: { [`${HOME}/.smtpsendrc`]: { text: rc, mode: 0o600 } }, stdin, ...(run ? { run } : {}) });
}

/** Queue ids (the `.json` records) in a directory of the fake host. */
async function idsIn(host: FakeHost, dir: string): Promise<string[]> {
  const names = await host.readDir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5));
}

/** A host with new standard input over the same (in-memory) files. */
function sameFiles(host: FakeHost, stdin: string): FakeHost {
  const next = new FakeHost({ stdin });
  Object.defineProperty(next, "nodes", { value: host.nodes });
  return next;
}

describe("queue with esmtp identities", () => {
  const RC = [
    `queue_dir ${HOME}/q10`,
    "hostname mx.example.org:25",
    "identity me@a.example",
    "  hostname mx.a.example:25",
    "",
  ].join("\n");
  const MSG_A = "From: me@a.example\nTo: you@example.net\nSubject: via identity\n\nbody\n";

  test("identity mail queued with -odq is listed by -bp and sent by -q with the identity's server", async () => {
    const host = rcHost(RC, MSG_A);
    const srv = fakeSmtp();
    const io = { host, connector: srv.connector, now: NOW };
    assert.equal(await main(["-oi", "-odq", "-t"], io), 0, host.stderr);
    // The top-level queue_dir is the global default: the identity's mail goes there too.
    const ids = await idsIn(host, `${HOME}/q10`);
    assert.equal(ids.length, 1);
    assert.deepEqual(await idsIn(host, DEFAULT_QDIR), []);
    assert.equal(await main(["-bp"], io), 0, host.stderr);
    assert.match(host.stdout, new RegExp(`^${ids[0]} `, "m"));
    assert.match(host.stdout, /you@example\.net/);
    assert.equal(await main(["-q"], io), 0, host.stderr);
    assert.equal(srv.messages().length, 1);
    assert.equal(srv.sessions[0]!.connect.hostname, "mx.a.example");
    assert.match(srv.messages()[0]!.data, /Subject: via identity/);
    assert.deepEqual(await idsIn(host, `${HOME}/q10`), []);
  });

  test("-bp, -q and --queue-remove cover every account's queue directory and ~/Mail/queued-mail, each once", async () => {
    const rc = [
      `queue_dir ${HOME}/q10`,
      "hostname mx.example.org:25",
      "identity me@a.example",
      "  hostname mx.a.example:25",
      `  queue_dir ${HOME}/qa`,
      "identity me@b.example",
      "  hostname mx.b.example:25",
      `  queue_dir ${HOME}/q10/`, // the same directory as the top level, spelt differently
      "",
    ].join("\n");
    const host = rcHost(rc, "");
    const srv = fakeSmtp();
    const queueOne = async (from: string) => {
      const h = sameFiles(host, `From: ${from}\nTo: you@example.net\nSubject: from ${from}\n\nbody\n`);
      assert.equal(await main(["-odq", "-t"], { host: h, connector: srv.connector, now: NOW }), 0, h.stderr);
    };
    await queueOne("top@example.org");
    await queueOne("me@a.example");
    await queueOne("me@b.example");
    assert.equal((await idsIn(host, `${HOME}/q10`)).length, 2);
    assert.equal((await idsIn(host, `${HOME}/qa`)).length, 1);
    // An entry left in the default directory (e.g. queued before queue_dir was set), with a recorded account.
    await new Queue({ dir: DEFAULT_QDIR, host }).enqueue(
      { from: "me@b.example", to: ["old@example.net"], account: "me@b.example" },
      new TextEncoder().encode("From: me@b.example\r\nSubject: old\r\n\r\nold\r\n"),
    );
    assert.equal((await idsIn(host, DEFAULT_QDIR)).length, 1);

    const io = { host, connector: srv.connector, now: NOW };
    assert.equal(await main(["-bp"], io), 0, host.stderr);
    assert.match(host.stdout, /-- 1 Kbytes in 4 Requests\.$/m);
    for (const f of ["top@example.org", "me@a.example", "me@b.example"]) assert.match(host.stdout, new RegExp(f.replace(".", "\\.")));

    // --queue-remove finds the entry in the identity's own directory, even with -a naming another account.
    const [inA] = await idsIn(host, `${HOME}/qa`);
    assert.equal(await main(["--queue-remove", inA!, "-a", "me@b.example"], io), 0, host.stderr);
    assert.deepEqual(await idsIn(host, `${HOME}/qa`), []);
    assert.equal(await main(["--queue-remove", inA!], io), 66);

    // -q sends the other three, each through its account's server; each directory is flushed once.
    assert.equal(await main(["-q"], io), 0, host.stderr);
    const sent = srv.sessions.filter((s) => s.messages.length > 0).map((s) => `${s.connect.hostname} ${s.messages[0]!.from}`).sort();
    assert.deepEqual(sent, ["mx.b.example me@b.example", "mx.b.example me@b.example", "mx.example.org top@example.org"]);
    assert.equal(srv.messages().length, 3);
    host.stdout = "";
    assert.equal(await main(["-bp"], io), 0);
    assert.match(host.stdout, /Mail queue is empty/);
  });

  test("-q reports deferred entries from every directory and exits 75", async () => {
    const host = rcHost(RC, MSG_A);
    const up = fakeSmtp();
    assert.equal(await main(["-odq", "-t"], { host, connector: up.connector, now: NOW }), 0);
    const down = fakeSmtp({ connectError: () => Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
    assert.equal(await main(["-q"], { host, connector: down.connector, now: NOW }), 75);
    assert.match(host.stderr, /deferred/);
  });

  test("-bp without any queue directory yet: empty, and nothing is created", async () => {
    const host = rcHost(RC, "");
    assert.equal(await main(["-bp"], { host, connector: fakeSmtp().connector, now: NOW }), 0, host.stderr);
    assert.match(host.stdout, /Mail queue is empty/);
    assert.equal(await host.stat(`${HOME}/q10`), null);
    assert.equal(await host.stat(DEFAULT_QDIR), null);
  });
});

describe("local (MDA) and SMTP recipients in one message", () => {
  const RC = 'hostname mx.example.org:25\nmda "/usr/bin/procmail -d %T"\n';
  const MSG = "From: me@example.org\nSubject: mixed\n\nbody\n";
  const down = () => fakeSmtp({ greeting: "421 4.3.2 Not now" });

  test("SMTP fails temporarily after local delivery: the SMTP part is queued, exit 0; -q sends it to the SMTP recipient only", async () => {
    const mda: string[] = [];
    const host = rcHost(RC, MSG, (argv) => {
      mda.push(argv.at(-1)!);
      return { status: 0 };
    });
    const code = await main(["-f", "me@example.org", "bob", "you@example.net"], { host, connector: down().connector, now: NOW });
    assert.equal(code, 0, host.stderr);
    assert.deepEqual(mda, ["bob"]);
    assert.match(host.stderr, /421/);
    assert.match(host.stderr, /delivered locally to <bob>; queued as [0-9a-z]+ for <you@example\.net>/);
    const ids = await idsIn(host, DEFAULT_QDIR);
    assert.equal(ids.length, 1);
    const up = fakeSmtp();
    assert.equal(await main(["-q"], { host, connector: up.connector, now: NOW }), 0, host.stderr);
    assert.equal(up.messages().length, 1);
    assert.deepEqual(up.messages()[0]!.to, ["you@example.net"]);
    assert.match(up.messages()[0]!.data, /Subject: mixed/);
    assert.deepEqual(mda, ["bob"]); // never delivered locally again
  });

  test("if queueing fails too: exit 75, naming the recipients that already have the message", async () => {
    const rc = `${RC}queue_dir ${HOME}/not-a-dir\n`;
    const host = rcHost(rc, MSG, () => ({ status: 0 }));
    host.setFile(`${HOME}/not-a-dir`, "a file where the queue directory should be");
    const code = await main(["-f", "me@example.org", "bob", "you@example.net"], { host, connector: down().connector, now: NOW });
    assert.equal(code, 75, host.stderr);
    assert.match(host.stderr, /could not queue the message for <you@example\.net>/);
    assert.match(host.stderr, /already delivered locally to <bob>/);
  });

  test("a permanent SMTP failure after local delivery keeps its status and names the local recipients", async () => {
    const host = rcHost(RC, MSG, () => ({ status: 0 }));
    const srv = fakeSmtp({ rcpt: () => "550 5.1.1 User unknown" });
    const code = await main(["-f", "me@example.org", "bob", "you@example.net"], { host, connector: srv.connector, now: NOW });
    assert.equal(code, 67, host.stderr);
    assert.match(host.stderr, /already delivered locally to <bob>/);
    assert.deepEqual(await idsIn(host, DEFAULT_QDIR), []);
  });

  test("a local failure is not papered over: the SMTP part is not queued, the status is the MDA's", async () => {
    const host = rcHost(RC, MSG, () => ({ status: 75 }));
    const code = await main(["-f", "me@example.org", "bob", "you@example.net"], { host, connector: down().connector, now: NOW });
    assert.equal(code, 75, host.stderr);
    assert.deepEqual(await idsIn(host, DEFAULT_QDIR), []);
  });
});

describe("a queued message remembers where it was going", () => {
  const MSG = "From: me@example.org\nTo: you@example.net\nSubject: one-off\n\nbody\n";

  test("--queue with one-off server flags and no configuration: the entry keeps them (no secret); a plain -q delivers there", async () => {
    const pwRuns: string[][] = [];
    const run: FakeRunHandler = (argv) => {
      pwRuns.push([...argv]);
      return { status: 0, stdout: "s3cret-PW\n" };
    };
    const host = new FakeHost({ stdin: MSG, run });
    const srv = fakeSmtp({ users: { me: "s3cret-PW" }, requireAuth: true });
    const io = { host, connector: srv.connector, now: NOW };
    const argv = [
      "--queue", "--host", "mx.one.example", "--port", "2525", "--tls", "none", "--user", "me", "--auth", "plain",
      "--password-eval", "pass show mail", "--allow-plaintext-auth", "--helo", "client.example", "--timeout", "20",
      "-t",
    ];
    assert.equal(await main(argv, io), 0, host.stderr);
    assert.equal(srv.sessions.length, 0, "queued, not sent");
    assert.deepEqual(pwRuns, [], "no password looked up when queueing");
    const [id] = await idsIn(host, DEFAULT_QDIR);
    assert.ok(id);
    assert.equal(await main(["-bp"], io), 0, host.stderr);
    assert.match(host.stdout, /\(attempts: 0, server: mx\.one\.example:2525\)/);
    const text = new TextDecoder().decode(await host.readFile(`${DEFAULT_QDIR}/${id}.json`));
    assert.ok(!text.includes("s3cret"), "no secret in the record");
    assert.deepEqual(JSON.parse(text).server, {
      host: "mx.one.example",
      port: 2525,
      tls: "none",
      user: "me",
      auth: true,
      authMethod: "PLAIN",
      passwordCommand: ["/bin/sh", "-c", "pass show mail"],
      allowPlaintextAuth: true,
      helo: "client.example",
      timeoutMs: 20000,
    });

    // A later, plain -q (a fresh process: same files, no flags, still no configuration file).
    const later = new FakeHost({ run });
    Object.defineProperty(later, "nodes", { value: host.nodes });
    assert.equal(await main(["-q"], { host: later, connector: srv.connector, now: NOW }), 0, later.stderr);
    assert.equal(srv.messages().length, 1);
    const s = srv.sessions[0]!;
    assert.equal(s.connect.hostname, "mx.one.example");
    assert.equal(s.connect.port, 2525);
    assert.equal(s.tls, false);
    assert.equal(s.lines[0], "EHLO client.example");
    assert.equal(s.authUser, "me");
    assert.ok(s.lines.some((l) => l.startsWith("AUTH PLAIN")));
    assert.deepEqual(pwRuns, [["/bin/sh", "-c", "pass show mail"]], "the password command ran again at flush time");
    assert.deepEqual(await idsIn(host, DEFAULT_QDIR), []);
  });

  test("the server from SMTPSERVER is kept too (it may be unset at flush time); file settings are not copied", async () => {
    const host = new FakeHost({ stdin: MSG, env: { SMTPSERVER: "relay.example:2526" } });
    const srv = fakeSmtp();
    assert.equal(await main(["-odq", "-t"], { host, connector: srv.connector, now: NOW }), 0, host.stderr);
    const [id] = await idsIn(host, DEFAULT_QDIR);
    const doc = JSON.parse(new TextDecoder().decode(await host.readFile(`${DEFAULT_QDIR}/${id}.json`)));
    assert.deepEqual(doc.server, { host: "relay.example", port: 2526 });
    const later = sameFiles(host, "");
    assert.equal(await main(["-q"], { host: later, connector: srv.connector, now: NOW }), 0, later.stderr);
    assert.equal(srv.sessions[0]!.connect.hostname, "relay.example");
    assert.equal(srv.sessions[0]!.connect.port, 2526);

    // An identity from the file: only its name is kept, its server is looked up again.
    const rc = "identity me@example.org\n  hostname mx.old.example:25\n";
    const h2 = rcHost(rc, MSG);
    assert.equal(await main(["-odq", "-t"], { host: h2, connector: srv.connector, now: NOW }), 0, h2.stderr);
    const [id2] = await idsIn(h2, DEFAULT_QDIR);
    const doc2 = JSON.parse(new TextDecoder().decode(await h2.readFile(`${DEFAULT_QDIR}/${id2}.json`)));
    assert.equal(doc2.server, null);
    assert.equal(doc2.account, "me@example.org");
    h2.setFile(`${HOME}/.smtpsendrc`, "identity me@example.org\n  hostname mx.new.example:25\n", 0o600);
    assert.equal(await main(["-q"], { host: h2, connector: srv.connector, now: NOW }), 0, h2.stderr);
    assert.equal(srv.sessions.at(-1)!.connect.hostname, "mx.new.example");
  });

  test("-q's own flags still win over the entry's (-q --host elsewhere)", async () => {
    const host = new FakeHost({ stdin: MSG });
    const srv = fakeSmtp();
    const io = { host, connector: srv.connector, now: NOW };
    assert.equal(await main(["--queue", "--host", "mx.one.example", "--port", "2525", "-t"], io), 0, host.stderr);
    assert.equal(await main(["-q", "--host", "mx.two.example"], io), 0, host.stderr);
    assert.equal(srv.sessions[0]!.connect.hostname, "mx.two.example");
    assert.equal(srv.sessions[0]!.connect.port, 25, "a different host does not inherit the entry's port");
  });

  test("--queue-on-failure keeps the one-off server for the later flush", async () => {
    const host = new FakeHost({ stdin: MSG });
    const down = fakeSmtp({ greeting: "421 4.3.2 Not now" });
    assert.equal(await main(["--queue-on-failure", "--host", "mx.one.example", "--port", "2525", "-t"], { host, connector: down.connector, now: NOW }), 0);
    assert.equal(down.sessions[0]!.connect.port, 2525);
    const up = fakeSmtp();
    assert.equal(await main(["-q"], { host, connector: up.connector, now: NOW }), 0, host.stderr);
    assert.equal(up.sessions[0]!.connect.hostname, "mx.one.example");
    assert.equal(up.sessions[0]!.connect.port, 2525);
  });
});

describe("-q rides Queue.flushWith: one connection per account", () => {
  const RC = ["hostname mx.example.org:25", "identity me@a.example", "  hostname mx.a.example:25", ""].join("\n");
  const msg = (from: string, n: number) => `From: ${from}\nTo: you@example.net\nSubject: n${n}\n\nbody ${n}\n`;

  test("three entries of one account and two of another: two connections, each carrying its account's messages", async () => {
    const host = rcHost(RC, "");
    const srv = fakeSmtp();
    const senders = ["me@a.example", "other@example.org", "me@a.example", "other@example.org", "me@a.example"];
    for (const [i, from] of senders.entries()) {
      const h = sameFiles(host, msg(from, i));
      assert.equal(await main(["-odq", "-t"], { host: h, connector: srv.connector, now: NOW }), 0, h.stderr);
    }
    assert.equal((await idsIn(host, DEFAULT_QDIR)).length, 5);
    assert.equal(await main(["-q"], { host, connector: srv.connector, now: NOW }), 0, host.stderr);
    assert.equal(srv.sessions.length, 2, "one connection per account, not one per entry");
    const byHost = new Map(srv.sessions.map((s) => [s.connect.hostname, s.messages.map((m) => m.from)]));
    assert.deepEqual(byHost.get("mx.a.example"), ["me@a.example", "me@a.example", "me@a.example"]);
    assert.deepEqual(byHost.get("mx.example.org"), ["other@example.org", "other@example.org"]);
    assert.deepEqual(await idsIn(host, DEFAULT_QDIR), []);
  });

  test("530 during -q: credentials asked for once, one reconnect with AUTH, every entry sent over it", async () => {
    const rc = "hostname mx.example.org:587\n";
    const host = new FakeHost({
      files: { [`${HOME}/.smtpsendrc`]: { text: rc, mode: 0o600 } },
      terminals: ["stderr"],
      prompts: ["al", "typed-pw", "n"],
    });
    const srv = fakeSmtp({ starttls: true, requireAuth: true, users: { al: "typed-pw" } });
    for (let i = 0; i < 3; i++) {
      const h = sameFiles(host, msg("me@example.org", i));
      assert.equal(await main(["--queue", "-t"], { host: h, connector: srv.connector, now: NOW }), 0, h.stderr);
    }
    assert.equal(await main(["-q"], { host, connector: srv.connector, now: NOW }), 0, host.stderr);
    assert.equal(srv.sessions.length, 2, "the refused connection, then one authenticated connection");
    assert.equal(srv.sessions[0]!.authUser, null);
    assert.equal(srv.sessions[0]!.messages.length, 0);
    assert.equal(srv.sessions[1]!.authUser, "al");
    assert.equal(srv.sessions[1]!.messages.length, 3);
    assert.equal(host.questions.length, 3, "user, password, and the offer to save: once for the whole flush");
    assert.deepEqual(await idsIn(host, DEFAULT_QDIR), []);
  });
});
