/**
 * The command line, parsed (pure): sendmail-compatible short options with
 * getopt semantics, smtpsend's long options, and recipients.
 *
 * Rules:
 * - Short options may be grouped (`-ti`); an option that takes a value takes
 *   the rest of its word (`-fme@x`, `-oi`, `-bm`, `-odq`) or else the next word
 *   (`-f me@x`, `-h 3`, `-L tag`).
 * - Options and recipients may be mixed (GNU getopt permutation); after `--`
 *   every word is a recipient, so a recipient starting with `-` is an address.
 * - Long options take `--name value` or `--name=value`.
 * - Unknown options are a usage error (exit 64).
 *
 * sendmail flags accepted and ignored (as Postfix and esmtp do): `-Ac -Am`,
 * `-bm`, `-c`, `-d X`, `-e x` (`-em -ee -ep -eq -ew`), `-G`, `-h N`, `-L tag`,
 * `-M xV`, `-m`, `-n`, `-O option=value`, `-o x` (e.g. `-oem -om -odi -odb`),
 * `-p proto`, `-s`, `-U`, `-x` (AIX's mail sets it; Exim ignores it too),
 * and `-i`, `-oi`, `-O IgnoreDots`: a line holding only `.` never ends the
 * input, with or without them. `-odq` and `-O DeliveryMode=q`
 * queue the message; `-bi`/`-I` (newaliases) do nothing and exit 0.
 * Refused with exit 64: `-ba -bd -bD -bh -bH -bP -bs -bt -bv`, `-Q`.
 *
 * @module
 */
import { dsnNotifyOf, dsnReturnOf, portOf } from "../config/common.ts";
import { parseAuthValue } from "../config/rcfile.ts";
import type { DsnNotify, TlsMode } from "../config/types.ts";
import { envelopeIdValue } from "../protocol/xtext.ts";
import { usageError } from "./errors.ts";

/** What the command is asked to do. */
export type CliMode =
  | "send"
  | "version"
  | "help"
  | "serverinfo"
  | "queue-list"
  | "flush"
  | "queue-remove"
  | "newaliases";

/** The parsed command line. */
export interface CliArgs {
  /** What to do. `--pretend` is a flag on top of the mode. */
  readonly mode: CliMode;
  /** Recipient arguments, in order. */
  readonly recipients: readonly string[];
  /** `-f`/`-r`: the envelope sender (`""` for `<>`). */
  readonly sender?: string;
  /** `-F`: full name for a generated `From:`. */
  readonly fullName?: string;
  /** `-t`: read recipients from `To:`, `Cc:`, `Bcc:`. */
  readonly readRecipients: boolean;
  /** `-v`: the protocol trace on standard error. */
  readonly verbose: boolean;
  /** `-X FILE`: append the trace, with timestamps, to FILE. */
  readonly traceFile?: string;
  /** `-C FILE`: the configuration file. */
  readonly configFile?: string;
  /** `-a NAME` / `--account NAME`: the account (identity) to use. */
  readonly account?: string;
  /** `-N`: DSN NOTIFY. */
  readonly dsnNotify?: DsnNotify;
  /** `-R`: DSN RET. */
  readonly dsnReturn?: "FULL" | "HDRS";
  /** `-V`: DSN ENVID. */
  readonly envelopeId?: string;
  /** `-B`: body type. */
  readonly bodyType?: "7BIT" | "8BITMIME";
  /** `--queue`, `-odq`: queue instead of sending. */
  readonly queue: boolean;
  /** `--queue-on-failure`: send now, keep it queued when that fails temporarily. */
  readonly queueOnFailure: boolean;
  /** `--queue-remove ID` (repeatable). */
  readonly queueRemove: readonly string[];
  /** `--pretend`: print the resolved configuration, connect to nothing. */
  readonly pretend: boolean;
  /** `--host`. */
  readonly host?: string;
  /** `--port`. */
  readonly port?: number;
  /** `--tls`. */
  readonly tls?: TlsMode;
  /** `--user`. */
  readonly user?: string;
  /** `--auth on|off|MECHANISM`. */
  readonly auth?: { readonly auth: boolean; readonly method?: string };
  /** `--password-eval CMD` (a shell command line you typed). */
  readonly passwordEval?: string;
  /** `--ca-file`. */
  readonly caFile?: string;
  /** `--cert-file`. */
  readonly certFile?: string;
  /** `--key-file`. */
  readonly keyFile?: string;
  /** `--helo`. */
  readonly helo?: string;
  /** `--allow-plaintext-auth`. */
  readonly allowPlaintextAuth: boolean;
  /** `--tls-no-verify`. */
  readonly tlsNoVerify: boolean;
  /** `--timeout SECONDS`, in milliseconds. */
  readonly timeoutMs?: number;
  /** `--subject` (compose mode). */
  readonly subject?: string;
  /** `--attach FILE` (repeatable; compose mode). */
  readonly attachments: readonly string[];
  /** `--html FILE` (compose mode). */
  readonly html?: string;
  /** Flags accepted and ignored, as written (shown with `-v`). */
  readonly ignored: readonly string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Short options that take a value (sendmail's getopt string plus smtpsend's `-a`, `-X`). */
const SHORT_WITH_VALUE = new Set(["A", "a", "B", "b", "C", "d", "e", "F", "f", "h", "L", "M", "N", "O", "o", "p", "R", "r", "V", "X"]);
/** Short options without a value. */
const SHORT_FLAGS = new Set(["c", "G", "I", "i", "m", "n", "q", "s", "t", "U", "v", "x"]);

const LONG_WITH_VALUE = new Set([
  "host", "port", "tls", "user", "auth", "password-eval", "ca-file", "cert-file", "key-file", "helo", "subject",
  "attach", "html", "queue-remove", "timeout", "account", "config", "from",
]);
const LONG_FLAGS = new Set([
  "version", "help", "serverinfo", "pretend", "allow-plaintext-auth", "tls-no-verify", "queue", "flush",
  "queue-list", "queue-on-failure", "read-recipients", "verbose",
]);

const TLS_VALUES: Readonly<Record<string, TlsMode>> = {
  implicit: "implicit",
  tls: "implicit",
  ssl: "implicit",
  smtps: "implicit",
  starttls: "starttls-required",
  "starttls-required": "starttls-required",
  required: "starttls-required",
  "starttls-opportunistic": "starttls-opportunistic",
  opportunistic: "starttls-opportunistic",
  none: "none",
  off: "none",
  no: "none",
};

function checkText(value: string, what: string): string {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw usageError(`${what} contains a control character: ${JSON.stringify(value)}`);
  return value;
}

/**
 * Parses the command line.
 *
 * @param argv The arguments without the program name.
 * @returns The parsed arguments.
 * @throws {CliError} With exit status 64 on an unknown option, a missing or
 *   invalid value, or an unsupported sendmail mode.
 * @example
 * ```ts
 * parseArgs(["-oi", "-f", "me@example.org", "--", "-odd@example.net"]).recipients; // ["-odd@example.net"]
 * ```
 */
export function parseArgs(argv: readonly string[]): CliArgs {
  const a: Mutable<CliArgs> = {
    mode: "send",
    recipients: [],
    readRecipients: false,
    verbose: false,
    queue: false,
    queueOnFailure: false,
    queueRemove: [],
    pretend: false,
    allowPlaintextAuth: false,
    tlsNoVerify: false,
    attachments: [],
    ignored: [],
  };
  const recipients: string[] = [];
  const ignored: string[] = [];
  const attachments: string[] = [];
  const queueRemove: string[] = [];
  const modes = new Set<CliMode>();

  const short = (opt: string, value: string | undefined, word: string): void => {
    const v = value ?? "";
    switch (opt) {
      case "f":
      case "r":
        a.sender = checkText(v, `-${opt}`);
        return;
      case "F":
        a.fullName = checkText(v, "-F");
        return;
      case "t":
        a.readRecipients = true;
        return;
      case "i":
        // A lone "." line is always data: -i asks for what smtpsend always does.
        ignored.push(word);
        return;
      case "v":
        a.verbose = true;
        return;
      case "X":
        if (v === "") throw usageError("-X needs a file name");
        a.traceFile = v;
        return;
      case "C":
        if (v === "") throw usageError("-C needs a file name");
        a.configFile = v;
        return;
      case "a":
        if (v === "") throw usageError("-a needs an account name");
        a.account = v;
        return;
      case "N": {
        const n = dsnNotifyOf(v);
        if (n === undefined) throw usageError(`-N takes "never" or a list of success, failure, delay; got ${JSON.stringify(v)}`);
        a.dsnNotify = n;
        return;
      }
      case "R": {
        const r = dsnReturnOf(v);
        if (r === undefined) throw usageError(`-R takes "full" or "hdrs"; got ${JSON.stringify(v)}`);
        a.dsnReturn = r;
        return;
      }
      case "V":
        // RFC 3461 §4.4: printable US-ASCII and spaces, sent as xtext of at most 100 characters.
        try {
          envelopeIdValue(v);
        } catch (e) {
          throw usageError(`-V: ${(e as Error).message}`);
        }
        a.envelopeId = v;
        return;
      case "B": {
        const t = v.toUpperCase();
        if (t !== "7BIT" && t !== "8BITMIME") throw usageError(`-B takes 7BIT or 8BITMIME; got ${JSON.stringify(v)}`);
        a.bodyType = t;
        return;
      }
      case "b":
        switch (v) {
          case "m":
            ignored.push(word);
            return;
          case "p":
            modes.add("queue-list");
            return;
          case "i":
            modes.add("newaliases");
            return;
          default:
            throw usageError(`-b${v} is not supported: smtpsend only sends mail (-bm), lists the queue (-bp) or ignores -bi`);
        }
      case "I":
        modes.add("newaliases");
        return;
      case "q":
        modes.add("flush");
        return;
      case "o":
        // -oi: a lone "." line is always data anyway.
        if (v === "dq") a.queue = true;
        else ignored.push(word);
        return;
      case "O": {
        const m = /^\s*([A-Za-z]+)\s*=\s*(.*)$/.exec(v);
        const name = m?.[1]?.toLowerCase();
        const val = (m?.[2] ?? "").trim().toLowerCase();
        if (name === "deliverymode" && (val === "q" || val === "queue" || val === "queueonly")) a.queue = true;
        else ignored.push(word); // -O IgnoreDots: a lone "." line is always data anyway
        return;
      }
      default:
        // -A -d -e -h -L -M -p (with a value); -c -G -m -n -s -U -x (flags)
        ignored.push(word);
    }
  };

  const long = (name: string, value: string | undefined): void => {
    const v = value ?? "";
    switch (name) {
      case "version":
        modes.add("version");
        return;
      case "help":
        modes.add("help");
        return;
      case "serverinfo":
        modes.add("serverinfo");
        return;
      case "pretend":
        a.pretend = true;
        return;
      case "queue":
        a.queue = true;
        return;
      case "flush":
        modes.add("flush");
        return;
      case "queue-list":
        modes.add("queue-list");
        return;
      case "queue-remove":
        if (!/^[A-Za-z0-9]+$/.test(v)) throw usageError(`--queue-remove takes a queue id (letters and digits); got ${JSON.stringify(v)}`);
        modes.add("queue-remove");
        queueRemove.push(v);
        return;
      case "queue-on-failure":
        a.queueOnFailure = true;
        return;
      case "read-recipients":
        a.readRecipients = true;
        return;
      case "verbose":
        a.verbose = true;
        return;
      case "allow-plaintext-auth":
        a.allowPlaintextAuth = true;
        return;
      case "tls-no-verify":
        a.tlsNoVerify = true;
        return;
      case "host":
        if (v === "" || /[\s\0]/.test(v)) throw usageError(`--host takes a host name; got ${JSON.stringify(v)}`);
        a.host = v.startsWith("[") && v.endsWith("]") ? v.slice(1, -1) : v;
        return;
      case "port": {
        const p = portOf(v);
        if (p === undefined) throw usageError(`--port takes a port number or service name; got ${JSON.stringify(v)}`);
        a.port = p;
        return;
      }
      case "tls": {
        const t = TLS_VALUES[v.toLowerCase()];
        if (t === undefined) {
          throw usageError(`--tls takes implicit, starttls, starttls-opportunistic or none; got ${JSON.stringify(v)}`);
        }
        a.tls = t;
        return;
      }
      case "user":
        if (v === "") throw usageError("--user needs a user name");
        a.user = checkText(v, "--user");
        return;
      case "auth":
        try {
          a.auth = parseAuthValue(v, "--auth");
        } catch (e) {
          throw usageError((e as Error).message);
        }
        return;
      case "password-eval":
        if (v.trim() === "") throw usageError("--password-eval needs a command");
        a.passwordEval = v;
        return;
      case "ca-file":
        a.caFile = v;
        return;
      case "cert-file":
        a.certFile = v;
        return;
      case "key-file":
        a.keyFile = v;
        return;
      case "helo":
        if (!/^[\x21-\x7e]+$/.test(v)) throw usageError(`--helo takes a domain or address literal; got ${JSON.stringify(v)}`);
        a.helo = v;
        return;
      case "timeout": {
        const s = Number(v);
        if (!(s > 0) || !Number.isFinite(s)) throw usageError(`--timeout takes a number of seconds; got ${JSON.stringify(v)}`);
        a.timeoutMs = Math.round(s * 1000);
        return;
      }
      case "subject":
        a.subject = checkText(v, "--subject");
        return;
      case "attach":
        if (v === "") throw usageError("--attach needs a file name");
        attachments.push(v);
        return;
      case "html":
        if (v === "") throw usageError("--html needs a file name");
        a.html = v;
        return;
      case "account":
        short("a", v, `--account=${v}`);
        return;
      case "config":
        short("C", v, `--config=${v}`);
        return;
      case "from":
        short("f", v, `--from=${v}`);
        return;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === "--") {
      recipients.push(...argv.slice(i + 1));
      break;
    }
    if (word.startsWith("--")) {
      const eq = word.indexOf("=");
      const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
      let value = eq === -1 ? undefined : word.slice(eq + 1);
      if (LONG_WITH_VALUE.has(name)) {
        if (value === undefined) {
          if (i + 1 >= argv.length) throw usageError(`--${name} needs a value`);
          value = argv[++i]!;
        }
      } else if (LONG_FLAGS.has(name)) {
        if (value !== undefined) throw usageError(`--${name} takes no value`);
      } else {
        throw usageError(`Unknown option "--${name}"; see --help`);
      }
      long(name, value);
      continue;
    }
    if (word.startsWith("-") && word.length > 1) {
      for (let j = 1; j < word.length; j++) {
        const opt = word[j]!;
        if (SHORT_WITH_VALUE.has(opt)) {
          let value = word.slice(j + 1);
          if (value === "") {
            if (i + 1 >= argv.length) throw usageError(`-${opt} needs a value`);
            value = argv[++i]!;
          }
          short(opt, value, `-${opt}${value}`);
          break;
        }
        if (opt === "q") {
          // -q[time], -qI…, -qR…, -qS…: flush the whole queue once.
          short("q", undefined, word);
          if (j + 1 < word.length) ignored.push(word);
          break;
        }
        if (!SHORT_FLAGS.has(opt)) {
          throw usageError(`Unknown option "-${opt}"${word.length > 2 ? ` in "${word}"` : ""}; see --help`);
        }
        short(opt, undefined, `-${opt}`);
      }
      continue;
    }
    recipients.push(word);
  }

  for (const r of recipients) checkText(r, "Recipient");
  a.recipients = recipients;
  a.ignored = ignored;
  a.attachments = attachments;
  a.queueRemove = queueRemove;

  // One mode; help and version win over everything.
  if (modes.has("help")) a.mode = "help";
  else if (modes.has("version")) a.mode = "version";
  else {
    const list = [...modes];
    if (list.length > 1) {
      throw usageError(`Choose one of ${list.map(modeFlag).join(", ")}`);
    }
    a.mode = list[0] ?? "send";
  }
  if (a.queue && a.queueOnFailure) throw usageError("Choose one of --queue (-odq) and --queue-on-failure");
  if (a.mode !== "send" && (a.subject !== undefined || a.attachments.length > 0 || a.html !== undefined)) {
    throw usageError(`--subject, --attach and --html compose a message to send; they do not go with ${modeFlag(a.mode)}`);
  }
  return a;
}

function modeFlag(mode: CliMode): string {
  switch (mode) {
    case "serverinfo":
      return "--serverinfo";
    case "queue-list":
      return "-bp (--queue-list)";
    case "flush":
      return "-q (--flush)";
    case "queue-remove":
      return "--queue-remove";
    case "newaliases":
      return "-bi";
    case "version":
      return "--version";
    case "help":
      return "--help";
    default:
      return "sending";
  }
}

/** Whether the arguments ask for compose mode (`--subject`, `--attach` or `--html`). */
export function isComposeMode(args: CliArgs): boolean {
  return args.subject !== undefined || args.attachments.length > 0 || args.html !== undefined;
}
