/**
 * Typed access to the real mail servers that `scripts/test-servers.sh start` runs on
 * 127.0.0.1 for the interop tests (Postfix + Dovecot SASL, smtp-sink fault ports, an
 * aiosmtpd OAuth server). Reads the `SMTPSEND_TEST_*` environment variables that
 * `scripts/test.sh` exports from `$SMTPSEND_TEST_DIR/env`, or that env file itself
 * when the variables are absent (running one test file by hand). Port table:
 * `tests/fixtures/servers/README.md`.
 *
 * Uses only `node:fs`, `node:path` and `node:process`, so it works on Node, Bun and Deno.
 *
 * @example
 * ```ts
 * const s = servers();
 * // ... send to `user@smtpsend.test` through s.ports.submission, STARTTLS with
 * //     { ca: s.tls.ca, servername: s.tls.serverName }, AUTH as s.users.alice ...
 * const msg = await waitForMaildirMessage("user", (m) => m.header("subject") === subject);
 * ```
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

/** A SASL account in the Dovecot passdb (password generated at each server start). */
export interface SaslUser {
  /** Login name, e.g. `alice@smtpsend.test`. */
  readonly user: string;
  /** Plaintext password (every mechanism works: PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256). */
  readonly password: string;
}

/** Postfix ports (and the aiosmtpd OAuth ports). All on {@link TestServers.host}. */
export interface ServerPorts {
  /** No TLS, no AUTH; relay allowed from 127.0.0.0/8 (other domains are accepted and discarded). */
  readonly plain: number;
  /** STARTTLS offered (optional), no AUTH. */
  readonly starttls: number;
  /** STARTTLS required (MAIL before it: 530 5.7.0); AUTH only after STARTTLS; MAIL without AUTH: 530 5.7.0. */
  readonly submission: number;
  /** Implicit TLS (RFC 8314), then AUTH required as on `submission`. */
  readonly submissions: number;
  /** STARTTLS with a certificate for `other.example` (signed by the test CA). */
  readonly wrongName: number;
  /** STARTTLS with a `localhost` certificate signed by an unknown CA ({@link TlsFiles.unknownCa}). */
  readonly unknownCa: number;
  /** No TLS at all, AUTH offered in cleartext; MAIL without AUTH: 530 5.7.0. */
  readonly clearAuth: number;
  /** STARTTLS required and a client certificate from the test CA required (no cert: 421 4.7.1 after the handshake). */
  readonly clientCert: number;
  /** As `plain`, but EHLO offers no 8BITMIME, SMTPUTF8 or CHUNKING (`smtpd_discard_ehlo_keywords`): a 7-bit-only server. */
  readonly no8bit: number;
  /** As `plain` (CHUNKING offered), but `message_size_limit = 100000`: a larger message or BDAT chunk gets 552 5.3.4. */
  readonly small: number;
  /** As `small`, but EHLO does not advertise SIZE: a bigger stream meets the 552 in the middle of the message. */
  readonly smallNoSize: number;
  /** aiosmtpd: STARTTLS, then AUTH XOAUTH2 OAUTHBEARER; MAIL without AUTH: 530 5.7.0. */
  readonly oauth: number;
  /** aiosmtpd: the same over implicit TLS. */
  readonly oauthTls: number;
}

/** smtp-sink ports (greeting host `sink.smtpsend.test`); the flag each runs with is in brackets. */
export interface SinkPorts {
  /** [none] accepts everything; messages dumped to {@link SinkPorts.dumpDir}. */
  readonly normal: number;
  /** [-e] greeting without "ESMTP"; EHLO gets 500 5.5.1, HELO works. */
  readonly helo: number;
  /** [-P] greeting `220 ********` (Cisco PIX), EHLO gets 500. */
  readonly pix: number;
  /** [-p] EHLO without PIPELINING. */
  readonly noPipelining: number;
  /** [-E] EHLO without ENHANCEDSTATUSCODES. */
  readonly noEnhanced: number;
  /** [-q CONNECT] closes at once without a greeting. */
  readonly dropConnect: number;
  /** [-q .] closes without a reply after the end-of-data dot. */
  readonly dropDot: number;
  /** [-Q CONNECT] greeting `421 4.0.0 Server closing connection`, then closes. */
  readonly tempfailConnect: number;
  /** [-Q MAIL] MAIL gets 421 4.0.0, then closes. */
  readonly tempfailMailClose: number;
  /** [-r RCPT] every RCPT gets `450 4.3.0 Error: command failed`. */
  readonly tempfailRcpt: number;
  /** [-r .] end-of-data gets 450 4.3.0. */
  readonly tempfailDot: number;
  /** [-f CONNECT] greeting `554 5.3.0 No SMTP service here` (then it still reads commands). */
  readonly rejectConnect: number;
  /** [-f MAIL] MAIL gets `500 5.3.0 Error: command failed`. */
  readonly rejectMail: number;
  /** [-f RCPT] every RCPT gets `550 5.1.1 Recipient address rejected: User unknown`. */
  readonly rejectRcpt: number;
  /** [-f .] end-of-data gets 500 5.3.0. */
  readonly rejectDot: number;
  /** [-W CONNECT:delay] greeting after {@link SinkPorts.delaySeconds}. */
  readonly slowGreeting: number;
  /** [-w delay] the 354 reply to DATA after {@link SinkPorts.delaySeconds}. */
  readonly slowData: number;
  /** [-W .:delay] the reply to end-of-data after {@link SinkPorts.delaySeconds}. */
  readonly slowDot: number;
  /** [-A 0] after 354, at once `550 This violates SMTP` and close (without reading the data). */
  readonly abortData: number;
  /** Delay of the slow ports, seconds (SMTPSEND_TEST_SINK_DELAY, default 3). */
  readonly delaySeconds: number;
  /** Where the `normal` sink writes one file per message. */
  readonly dumpDir: string;
}

/** Throwaway TLS material made at each server start. File paths plus PEM contents. */
export interface TlsFiles {
  /** Test CA certificate file (trust this one). */
  readonly caFile: string;
  /** Test CA certificate, PEM. */
  readonly ca: string;
  /** A second, unrelated CA (never trust it, except to test trust configuration). */
  readonly unknownCaFile: string;
  readonly unknownCa: string;
  /** Client certificate (CN and SAN email `alice@smtpsend.test`) from the test CA, and its key. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Name in the server certificates: `localhost` (SANs DNS:localhost and IP:127.0.0.1). */
  readonly serverName: string;
  /** Name in the WRONGNAME port's certificate: `other.example`. */
  readonly wrongServerName: string;
}

/** The aiosmtpd OAuth server's account and its recordings. */
export interface OAuthInfo {
  readonly user: string;
  /** The one valid bearer token. */
  readonly token: string;
  /** Where accepted messages are written (`<name>.eml` + `<name>.json`). */
  readonly spoolDir: string;
  /** JSON lines, one per AUTH attempt (see {@link OAuthAttempt}). */
  readonly attemptsFile: string;
}

/** Dovecot's POP3 listener (port offset 50) and the mailbox it serves. */
export interface PopInfo {
  readonly port: number;
  /** Login name (`popper@smtpsend.test`). */
  readonly user: string;
  readonly password: string;
  /** The mailbox, a Maildir (`new/`, `cur/`, `tmp/`) that Postfix never delivers to. */
  readonly maildir: string;
}

/** Everything the running test servers offer. */
export interface TestServers {
  /** State dir (SMTPSEND_TEST_DIR). Logs are in `<dir>/log/`. */
  readonly dir: string;
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** `smtpsend.test`: mailboxes user, alice, bob, postmaster (also `@localhost`). */
  readonly domain: string;
  readonly ports: ServerPorts;
  readonly sink: SinkPorts;
  readonly tls: TlsFiles;
  /**
   * SASL users: `alice` is SMTPSEND_TEST_USER, `bob` is SMTPSEND_TEST_USER2;
   * `carol` (SMTPSEND_TEST_USER3) has only a SHA512-CRYPT hash stored, so
   * SCRAM and CRAM-MD5 fail for her while PLAIN and LOGIN work.
   */
  readonly users: { readonly alice: SaslUser; readonly bob: SaslUser; readonly carol: SaslUser };
  /** Mechanisms the Postfix AUTH ports advertise, e.g. `["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]`. */
  readonly mechanisms: readonly string[];
  readonly oauth: OAuthInfo;
  /** Dovecot's POP3 server (cleartext USER/PASS) and its one mailbox, which only tests put mail in. */
  readonly pop3: PopInfo;
  /** Maildir of `user@smtpsend.test` (has `new/`, `cur/`, `tmp/`). */
  readonly maildir: string;
  /** Parent of every Maildir: `<mailBase>/<local-part>/`. */
  readonly mailBase: string;
}

/** One file read back from a Maildir, the smtp-sink dump dir or the OAuth spool. */
export interface StoredMessage {
  /** Absolute path of the file. */
  readonly file: string;
  /** The file's bytes. */
  readonly bytes: Uint8Array;
  /** The bytes decoded as UTF-8 (lossy). */
  readonly text: string;
  /** Header fields in order, unfolded, names as written. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** The text after the first empty line. */
  readonly body: string;
  /** First value of a header field, case-insensitive name; `undefined` if absent. */
  header(name: string): string | undefined;
  /** Every value of a header field, case-insensitive name. */
  headerAll(name: string): string[];
}

/** A message the OAuth server accepted, with its SMTP envelope. */
export interface OAuthMessage extends StoredMessage {
  readonly envelope: {
    readonly mailFrom: string;
    readonly rcptTos: readonly string[];
    readonly mailOptions: readonly string[];
    readonly rcptOptions: readonly string[];
    readonly authUser: string | null;
    readonly mechanism: string | null;
    readonly tls: boolean;
  };
}

/** One AUTH attempt on the OAuth server. */
export interface OAuthAttempt {
  readonly mechanism: "XOAUTH2" | "OAUTHBEARER";
  readonly user: string | null;
  readonly ok: boolean;
  /** Whether the client sent an initial response on the AUTH line. */
  readonly initialResponse: boolean;
  /** After a failure: the client's answer to the error challenge as sent (`"AQ=="`, `""`, ...). */
  readonly errorAck?: string;
  readonly time: number;
}

const DEFAULT_DIR = "/tmp/smtpsend-test";
let cached: TestServers | undefined;

function envFileVars(dir: string): Record<string, string> {
  const file = join(dir, "env");
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

function loadVars(): Record<string, string> {
  const env = process.env;
  const dir = env.SMTPSEND_TEST_DIR ?? DEFAULT_DIR;
  const vars: Record<string, string> = { ...envFileVars(dir) };
  for (const [k, v] of Object.entries(env)) if (k.startsWith("SMTPSEND_TEST_") && v !== undefined) vars[k] = v;
  return vars;
}

/**
 * Whether the test servers' settings are available (environment or env file).
 * @returns `true` when {@link servers} will not throw for lack of settings.
 */
export function serversAvailable(): boolean {
  return loadVars().SMTPSEND_TEST_PLAIN_PORT !== undefined;
}

/**
 * The running test servers. Read once, then cached.
 * @returns Ports, TLS files, users, token and mail locations.
 * @throws {Error} when neither `SMTPSEND_TEST_*` variables nor `$SMTPSEND_TEST_DIR/env` exist.
 */
export function servers(): TestServers {
  if (cached) return cached;
  const v = loadVars();
  const str = (key: string): string => {
    const value = v[`SMTPSEND_TEST_${key}`];
    if (value === undefined || value === "") {
      throw new Error(
        `Test server setting "SMTPSEND_TEST_${key}" is missing: run "scripts/test-servers.sh start" ` +
          `(or the whole suite with "npm test")`,
      );
    }
    return value;
  };
  const num = (key: string): number => {
    const n = Number(str(key));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Test server setting "SMTPSEND_TEST_${key}" is not a number`);
    return n;
  };
  const pem = (file: string): string => readFileSync(file, "utf8");
  const port = (name: string): number => num(`${name}_PORT`);
  const tlsFiles = {
    caFile: str("CA"),
    unknownCaFile: str("UNKNOWN_CA"),
    clientCertFile: str("CLIENT_CERT"),
    clientKeyFile: str("CLIENT_KEY"),
  };
  const dir = str("DIR");
  cached = {
    dir,
    host: str("HOST"),
    domain: str("DOMAIN"),
    ports: {
      plain: port("PLAIN"),
      starttls: port("STARTTLS"),
      submission: port("SUBMISSION"),
      submissions: port("SUBMISSIONS"),
      wrongName: port("WRONGNAME"),
      unknownCa: port("UNKNOWNCA"),
      clearAuth: port("CLEARAUTH"),
      clientCert: port("CLIENTCERT"),
      no8bit: port("NO8BIT"),
      small: port("SMALL"),
      smallNoSize: port("SMALL_NOSIZE"),
      oauth: port("OAUTH"),
      oauthTls: port("OAUTH_TLS"),
    },
    sink: {
      normal: port("SINK"),
      helo: port("SINK_HELO"),
      pix: port("SINK_PIX"),
      noPipelining: port("SINK_NOPIPELINING"),
      noEnhanced: port("SINK_NOENH"),
      dropConnect: port("SINK_DROP_CONNECT"),
      dropDot: port("SINK_DROP_DOT"),
      tempfailConnect: port("SINK_421_CONNECT"),
      tempfailMailClose: port("SINK_421_MAIL"),
      tempfailRcpt: port("SINK_TEMPFAIL_RCPT"),
      tempfailDot: port("SINK_TEMPFAIL_DOT"),
      rejectConnect: port("SINK_REJECT_CONNECT"),
      rejectMail: port("SINK_REJECT_MAIL"),
      rejectRcpt: port("SINK_REJECT_RCPT"),
      rejectDot: port("SINK_REJECT_DOT"),
      slowGreeting: port("SINK_SLOW_GREETING"),
      slowData: port("SINK_SLOW_DATA"),
      slowDot: port("SINK_SLOW_DOT"),
      abortData: port("SINK_ABORT_DATA"),
      delaySeconds: Number(str("SINK_DELAY")),
      dumpDir: str("SINK_DUMP_DIR"),
    },
    tls: {
      ...tlsFiles,
      ca: pem(tlsFiles.caFile),
      unknownCa: pem(tlsFiles.unknownCaFile),
      clientCert: pem(tlsFiles.clientCertFile),
      clientKey: pem(tlsFiles.clientKeyFile),
      serverName: str("TLS_NAME"),
      wrongServerName: str("WRONG_TLS_NAME"),
    },
    users: {
      alice: { user: str("USER"), password: str("PASSWORD") },
      bob: { user: str("USER2"), password: str("PASSWORD2") },
      carol: { user: str("USER3"), password: str("PASSWORD3") },
    },
    mechanisms: str("SASL_MECHANISMS").split(","),
    oauth: {
      user: str("OAUTH_USER"),
      token: str("OAUTH_TOKEN"),
      spoolDir: str("OAUTH_SPOOL"),
      attemptsFile: join(dir, "oauth", "auth.jsonl"),
    },
    pop3: {
      port: port("POP3"),
      user: str("POP3_USER"),
      password: str("POP3_PASSWORD"),
      maildir: str("POP3_MAILDIR"),
    },
    maildir: str("MAILDIR"),
    mailBase: str("MAIL_BASE"),
  };
  return cached;
}

/**
 * The Maildir of a test mailbox.
 * @param user `"user"`, `"alice"`, or a full address such as `"bob@smtpsend.test"` / `"user@localhost"`.
 * @returns The Maildir path (with `new/`, `cur/`, `tmp/`).
 */
export function maildirOf(user: string): string {
  const local = user.includes("@") ? user.slice(0, user.lastIndexOf("@")) : user;
  return join(servers().mailBase, local.toLowerCase());
}

const decoder = new TextDecoder("utf-8");

function parseMessage(file: string, bytes: Uint8Array): StoredMessage {
  const text = decoder.decode(bytes);
  const m = /\r?\n\r?\n/.exec(text);
  const head = m ? text.slice(0, m.index) : text;
  const body = m ? text.slice(m.index + m[0].length) : "";
  const headers: [string, string][] = [];
  for (const line of head.split(/\r?\n/)) {
    const last = headers[headers.length - 1];
    if (/^[ \t]/.test(line) && last) last[1] += ` ${line.trim()}`;
    else {
      const colon = line.indexOf(":");
      if (colon > 0) headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
    }
  }
  const headerAll = (name: string): string[] =>
    headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, value]) => value);
  return { file, bytes, text, headers, body, header: (name) => headerAll(name)[0], headerAll };
}

function readFiles(dir: string, accept: (name: string) => boolean): { file: string; mtime: number }[] {
  if (!existsSync(dir)) return [];
  const out: { file: string; mtime: number }[] = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith(".") || !accept(name)) continue;
    const file = join(dir, name);
    try {
      const st = statSync(file);
      if (st.isFile()) out.push({ file, mtime: st.mtimeMs });
    } catch {
      // moved from new/ to cur/ or removed meanwhile
    }
  }
  return out.sort((a, b) => a.mtime - b.mtime || (a.file < b.file ? -1 : 1));
}

function readMessages(dir: string, accept: (name: string) => boolean = () => true): StoredMessage[] {
  const out: StoredMessage[] = [];
  for (const { file } of readFiles(dir, accept)) {
    try {
      out.push(parseMessage(file, new Uint8Array(readFileSync(file))));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Every message delivered to a test mailbox so far (`new/` and `cur/`), oldest first.
 * Postfix adds `Return-Path:` (the MAIL FROM), `Delivered-To:` and `Received:` on top.
 * @param user Mailbox, as for {@link maildirOf}.
 * @returns The messages.
 */
export function readMaildir(user: string): StoredMessage[] {
  const dir = maildirOf(user);
  return [...readMessages(join(dir, "new")), ...readMessages(join(dir, "cur"))];
}

/** Messages the normal smtp-sink port has dumped, oldest first (headers `X-Mail-Args:`, `X-Rcpt-Args:` first). */
export function readSinkMessages(): StoredMessage[] {
  return readMessages(servers().sink.dumpDir);
}

/** Messages the OAuth server accepted, oldest first, with their envelopes. */
export function readOAuthMessages(): OAuthMessage[] {
  const out: OAuthMessage[] = [];
  for (const msg of readMessages(servers().oauth.spoolDir, (n) => n.endsWith(".json"))) {
    try {
      const eml = msg.file.replace(/\.json$/, ".eml");
      const parsed = parseMessage(eml, new Uint8Array(readFileSync(eml)));
      out.push({ ...parsed, envelope: JSON.parse(msg.text) as OAuthMessage["envelope"] });
    } catch {
      // half written
    }
  }
  return out;
}

/** Every AUTH attempt the OAuth server has seen, oldest first. */
export function readOAuthAttempts(): OAuthAttempt[] {
  const file = servers().oauth.attemptsFile;
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as OAuthAttempt);
}

async function poll<T>(what: string, read: () => T[], predicate: (m: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = read();
    const hit = all.find(predicate);
    if (hit !== undefined) return hit;
    if (Date.now() >= deadline) {
      throw new Error(`No matching message in ${what} after ${timeoutMs} ms (${all.length} other messages there)`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Wait until a message matching `predicate` is delivered to a test mailbox.
 * Delivery is asynchronous after the 250 to end-of-data (usually under 100 ms).
 * Tip: put a unique token in the Subject or Message-ID and match on it.
 * @param user Mailbox, as for {@link maildirOf}.
 * @param predicate Chooses the message.
 * @param timeoutMs How long to wait (default 10 000).
 * @returns The first matching message.
 * @throws {Error} when none arrives in time.
 */
export function waitForMaildirMessage(
  user: string,
  predicate: (m: StoredMessage) => boolean,
  timeoutMs = 10_000,
): Promise<StoredMessage> {
  return poll(`the Maildir of "${user}"`, () => readMaildir(user), predicate, timeoutMs);
}

/**
 * Wait until the normal smtp-sink port has dumped a message matching `predicate`.
 * @param predicate Chooses the message.
 * @param timeoutMs How long to wait (default 10 000).
 * @returns The first matching message.
 */
export function waitForSinkMessage(
  predicate: (m: StoredMessage) => boolean,
  timeoutMs = 10_000,
): Promise<StoredMessage> {
  return poll("the smtp-sink dump dir", readSinkMessages, predicate, timeoutMs);
}

/**
 * Wait until the OAuth server has accepted a message matching `predicate`.
 * @param predicate Chooses the message (it sees the envelope too).
 * @param timeoutMs How long to wait (default 10 000).
 * @returns The first matching message.
 */
export function waitForOAuthMessage(
  predicate: (m: OAuthMessage) => boolean,
  timeoutMs = 10_000,
): Promise<OAuthMessage> {
  return poll("the OAuth server's spool", readOAuthMessages, predicate, timeoutMs);
}

/** The Exim 4.96 instance (Debian exim4-daemon-heavy, GnuTLS): see tests/fixtures/servers/README.md. */
export interface EximServer {
  /** STARTTLS offered (optional); AUTH PLAIN LOGIN NTLM offered only after it; CHUNKING; SIZE 10 MB. */
  readonly port: number;
  /** Implicit TLS; MAIL without AUTH gets `530 5.7.0 Authentication required`. */
  readonly tlsPort: number;
  /** As {@link EximServer.port}, with `message_size_limit` {@link EximServer.sizeLimit} (552 above it, mid-BDAT too). */
  readonly smallPort: number;
  /** Bytes accepted on {@link EximServer.smallPort} (65536). */
  readonly sizeLimit: number;
  /** The one account, for PLAIN, LOGIN and NTLM (`spa`). */
  readonly user: SaslUser;
  /** Parent of Exim's Maildirs: `<mailBase>/<local-part>/` for user, alice, bob, postmaster. */
  readonly mailBase: string;
  /** Exim's main log: one line per connection start and end, with the client's port. */
  readonly log: string;
  /** MAIL FROM hooks: the reply comes after 60 s (`slow`); 550 and Exim closes the connection (`drop`). */
  readonly senders: { readonly slow: string; readonly drop: string };
}

/**
 * The running Exim instance. Separate from {@link servers} so that files not using Exim keep
 * working with an env file written before Exim was added.
 * @returns Ports, account, Maildir base and log file.
 * @throws {Error} when the Exim settings are missing (servers not started by this checkout's script).
 */
export function eximServer(): EximServer {
  const v = loadVars();
  const str = (key: string): string => {
    const value = v[`SMTPSEND_TEST_${key}`];
    if (value === undefined || value === "") {
      throw new Error(
        `Test server setting "SMTPSEND_TEST_${key}" is missing: Exim is not running; run "scripts/setup.sh" ` +
          `once, then "scripts/test-servers.sh start" (or the whole suite with "npm test")`,
      );
    }
    return value;
  };
  const num = (key: string): number => {
    const n = Number(str(key));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Test server setting "SMTPSEND_TEST_${key}" is not a number`);
    return n;
  };
  return {
    port: num("EXIM_PORT"),
    tlsPort: num("EXIM_TLS_PORT"),
    smallPort: num("EXIM_SMALL_PORT"),
    sizeLimit: num("EXIM_SIZE_LIMIT"),
    user: { user: str("EXIM_USER"), password: str("EXIM_PASSWORD") },
    mailBase: str("EXIM_MAIL_BASE"),
    log: str("EXIM_LOG"),
    senders: { slow: "slow@smtpsend.test", drop: "drop@smtpsend.test" },
  };
}

/**
 * Every message Exim delivered to a mailbox so far, oldest first. Exim adds `Return-path:`,
 * `Envelope-to:` and `Received:` on top.
 * @param user `"user"`, `"alice"`, … or a full address.
 * @returns The messages.
 */
export function readEximMaildir(user: string): StoredMessage[] {
  const local = user.includes("@") ? user.slice(0, user.lastIndexOf("@")) : user;
  const dir = join(eximServer().mailBase, local.toLowerCase());
  return [...readMessages(join(dir, "new")), ...readMessages(join(dir, "cur"))];
}

/**
 * Wait until Exim has delivered a message matching `predicate` to a mailbox.
 * @param user Mailbox, as for {@link readEximMaildir}.
 * @param predicate Chooses the message.
 * @param timeoutMs How long to wait (default 10 000).
 * @returns The first matching message.
 */
export function waitForEximMessage(
  user: string,
  predicate: (m: StoredMessage) => boolean,
  timeoutMs = 10_000,
): Promise<StoredMessage> {
  return poll(`Exim's Maildir of "${user}"`, () => readEximMaildir(user), predicate, timeoutMs);
}

/**
 * The lines of Exim's main log about one client connection (matched by its source port).
 * @param clientPort The client's local port.
 * @returns The lines, oldest first.
 */
export function eximLogLines(clientPort: number): string[] {
  const file = eximServer().log;
  if (!existsSync(file)) return [];
  const re = new RegExp(`\\[127\\.0\\.0\\.1\\]:${clientPort}(?!\\d)`);
  return readFileSync(file, "utf8").split("\n").filter((l) => re.test(l));
}
