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
 * - Every option is one row of `OPTIONS` (short letter, long name, whether it
 *   takes a value, what it does); a small loop drives them. A new flag (an
 *   msmtp long option, an alias of a sendmail one) is one more row.
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

function nonEmpty(value: string, message: string): string {
  if (value === "") throw usageError(message);
  return value;
}

/** The command line being parsed: the result so far, and the lists and modes it collects. */
interface Parsing {
  readonly a: Mutable<CliArgs>;
  readonly ignored: string[];
  readonly attachments: string[];
  readonly queueRemove: string[];
  readonly modes: Set<CliMode>;
}

/**
 * One option: its short letter and/or long name, whether it takes a value,
 * and what it does. `flag` is how messages name it (the short form when
 * there is one, as sendmail users type it); `word` is the option as written
 * (kept in the list of ignored flags).
 */
interface OptionSpec {
  readonly short?: string;
  readonly long?: string;
  /** Takes a value: the rest of the word or the next word (short), `=value` or the next word (long). */
  readonly value?: true;
  /** A short option that swallows the rest of its word without needing it (`-q30m`). */
  readonly restOfWord?: true;
  readonly apply: (p: Parsing, value: string, word: string, flag: string) => void;
}

const ignore = (p: Parsing, _v: string, word: string): void => {
  p.ignored.push(word);
};
const mode = (m: CliMode) => (p: Parsing): void => {
  p.modes.add(m);
};
const set = <K extends keyof CliArgs>(key: K, value: CliArgs[K]) => (p: Parsing): void => {
  p.a[key] = value;
};
/** A value option: `parse` checks and converts the value (throwing a usage error), the result goes to `key`. */
const store = <K extends keyof CliArgs>(key: K, parse: (v: string, flag: string) => CliArgs[K]) => (p: Parsing, v: string, _w: string, flag: string): void => {
  p.a[key] = parse(v, flag);
};

/**
 * Every option, one row each. sendmail's short options first (its getopt
 * string plus smtpsend's `-a`, `-X`), then smtpsend's long ones.
 */
const OPTIONS: readonly OptionSpec[] = [
  { short: "f", long: "from", value: true, apply: store("sender", checkText) },
  { short: "r", value: true, apply: store("sender", checkText) },
  { short: "F", value: true, apply: store("fullName", checkText) },
  { short: "t", long: "read-recipients", apply: set("readRecipients", true) },
  // A lone "." line is always data: -i asks for what smtpsend always does.
  { short: "i", apply: ignore },
  { short: "v", long: "verbose", apply: set("verbose", true) },
  { short: "X", value: true, apply: store("traceFile", (v) => nonEmpty(v, "-X needs a file name")) },
  { short: "C", long: "config", value: true, apply: store("configFile", (v) => nonEmpty(v, "-C needs a file name")) },
  { short: "a", long: "account", value: true, apply: store("account", (v) => nonEmpty(v, "-a needs an account name")) },
  {
    short: "N",
    value: true,
    apply: store("dsnNotify", (v) => {
      const n = dsnNotifyOf(v);
      if (n === undefined) throw usageError(`-N takes "never" or a list of success, failure, delay; got ${JSON.stringify(v)}`);
      return n;
    }),
  },
  {
    short: "R",
    value: true,
    apply: store("dsnReturn", (v) => {
      const r = dsnReturnOf(v);
      if (r === undefined) throw usageError(`-R takes "full" or "hdrs"; got ${JSON.stringify(v)}`);
      return r;
    }),
  },
  {
    short: "V",
    value: true,
    apply: store("envelopeId", (v) => {
      // RFC 3461 §4.4: printable US-ASCII and spaces, sent as xtext of at most 100 characters.
      try {
        envelopeIdValue(v);
      } catch (e) {
        throw usageError(`-V: ${(e as Error).message}`);
      }
      return v;
    }),
  },
  {
    short: "B",
    value: true,
    apply: store("bodyType", (v) => {
      const t = v.toUpperCase();
      if (t !== "7BIT" && t !== "8BITMIME") throw usageError(`-B takes 7BIT or 8BITMIME; got ${JSON.stringify(v)}`);
      return t;
    }),
  },
  { short: "b", value: true, apply: bMode },
  { short: "I", apply: mode("newaliases") },
  // -q[time], -qI…, -qR…, -qS…: flush the whole queue once.
  { short: "q", long: "flush", restOfWord: true, apply: mode("flush") },
  // -odq queues; -oi and the rest: a lone "." line is always data anyway.
  { short: "o", value: true, apply: (p, v, word) => v === "dq" ? (p.a.queue = true) : ignore(p, v, word) },
  { short: "O", value: true, apply: oOption },
  // Accepted and ignored, as Postfix and esmtp do.
  ...["A", "d", "e", "h", "L", "M", "p"].map((short): OptionSpec => ({ short, value: true, apply: ignore })),
  ...["c", "G", "m", "n", "s", "U", "x"].map((short): OptionSpec => ({ short, apply: ignore })),

  { long: "version", apply: mode("version") },
  { long: "help", apply: mode("help") },
  { long: "serverinfo", apply: mode("serverinfo") },
  { long: "pretend", apply: set("pretend", true) },
  { long: "queue", apply: set("queue", true) },
  { long: "queue-list", apply: mode("queue-list") },
  {
    long: "queue-remove",
    value: true,
    apply: (p, v) => {
      if (!/^[A-Za-z0-9]+$/.test(v)) throw usageError(`--queue-remove takes a queue id (letters and digits); got ${JSON.stringify(v)}`);
      p.modes.add("queue-remove");
      p.queueRemove.push(v);
    },
  },
  { long: "queue-on-failure", apply: set("queueOnFailure", true) },
  { long: "allow-plaintext-auth", apply: set("allowPlaintextAuth", true) },
  { long: "tls-no-verify", apply: set("tlsNoVerify", true) },
  {
    long: "host",
    value: true,
    apply: store("host", (v) => {
      if (v === "" || /[\s\0]/.test(v)) throw usageError(`--host takes a host name; got ${JSON.stringify(v)}`);
      return v.startsWith("[") && v.endsWith("]") ? v.slice(1, -1) : v;
    }),
  },
  {
    long: "port",
    value: true,
    apply: store("port", (v) => {
      const port = portOf(v);
      if (port === undefined) throw usageError(`--port takes a port number or service name; got ${JSON.stringify(v)}`);
      return port;
    }),
  },
  {
    long: "tls",
    value: true,
    apply: store("tls", (v) => {
      const t = TLS_VALUES[v.toLowerCase()];
      if (t === undefined) throw usageError(`--tls takes implicit, starttls, starttls-opportunistic or none; got ${JSON.stringify(v)}`);
      return t;
    }),
  },
  { long: "user", value: true, apply: store("user", (v) => checkText(nonEmpty(v, "--user needs a user name"), "--user")) },
  {
    long: "auth",
    value: true,
    apply: store("auth", (v) => {
      try {
        return parseAuthValue(v, "--auth");
      } catch (e) {
        throw usageError((e as Error).message);
      }
    }),
  },
  {
    long: "password-eval",
    value: true,
    apply: store("passwordEval", (v) => {
      if (v.trim() === "") throw usageError("--password-eval needs a command");
      return v;
    }),
  },
  { long: "ca-file", value: true, apply: store("caFile", (v) => v) },
  { long: "cert-file", value: true, apply: store("certFile", (v) => v) },
  { long: "key-file", value: true, apply: store("keyFile", (v) => v) },
  {
    long: "helo",
    value: true,
    apply: store("helo", (v) => {
      if (!/^[\x21-\x7e]+$/.test(v)) throw usageError(`--helo takes a domain or address literal; got ${JSON.stringify(v)}`);
      return v;
    }),
  },
  {
    long: "timeout",
    value: true,
    apply: store("timeoutMs", (v) => {
      const seconds = Number(v);
      if (!(seconds > 0) || !Number.isFinite(seconds)) throw usageError(`--timeout takes a number of seconds; got ${JSON.stringify(v)}`);
      return Math.round(seconds * 1000);
    }),
  },
  { long: "subject", value: true, apply: store("subject", (v) => checkText(v, "--subject")) },
  { long: "attach", value: true, apply: (p, v) => p.attachments.push(nonEmpty(v, "--attach needs a file name")) },
  { long: "html", value: true, apply: store("html", (v) => nonEmpty(v, "--html needs a file name")) },
];

const SHORT: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]));
const LONG: ReadonlyMap<string, OptionSpec> = new Map(OPTIONS.filter((o) => o.long).map((o) => [o.long!, o]));

/** `-bm` is sendmail's default; `-bp` lists the queue; `-bi` does nothing. */
function bMode(p: Parsing, v: string, word: string): void {
  switch (v) {
    case "m":
      return ignore(p, v, word);
    case "p":
      return mode("queue-list")(p);
    case "i":
      return mode("newaliases")(p);
    default:
      throw usageError(`-b${v} is not supported: smtpsend only sends mail (-bm), lists the queue (-bp) or ignores -bi`);
  }
}

/** `-O DeliveryMode=q` queues; the rest (`-O IgnoreDots`: a lone "." line is always data anyway) is ignored. */
function oOption(p: Parsing, v: string, word: string): void {
  const m = /^\s*([A-Za-z]+)\s*=\s*(.*)$/.exec(v);
  const name = m?.[1]?.toLowerCase();
  const val = (m?.[2] ?? "").trim().toLowerCase();
  if (name === "deliverymode" && (val === "q" || val === "queue" || val === "queueonly")) p.a.queue = true;
  else ignore(p, v, word);
}

/** `--name`, `--name=value` or `--name value`; returns how many words it used. */
function parseLong(p: Parsing, argv: readonly string[], i: number): number {
  const word = argv[i]!;
  const eq = word.indexOf("=");
  const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
  let value = eq === -1 ? undefined : word.slice(eq + 1);
  const spec = LONG.get(name);
  if (spec === undefined) throw usageError(`Unknown option "--${name}"; see --help`);
  let used = 1;
  if (spec.value) {
    if (value === undefined) {
      if (i + 1 >= argv.length) throw usageError(`--${name} needs a value`);
      value = argv[i + 1]!;
      used = 2;
    }
  } else if (value !== undefined) {
    throw usageError(`--${name} takes no value`);
  }
  const flag = spec.short !== undefined ? `-${spec.short}` : `--${name}`;
  spec.apply(p, value ?? "", `--${name}=${value ?? ""}`, flag);
  return used;
}

/** A group of short options (`-ti`, `-fme@x`, `-f me@x`); returns how many words it used. */
function parseShort(p: Parsing, argv: readonly string[], i: number): number {
  const word = argv[i]!;
  for (let j = 1; j < word.length; j++) {
    const opt = word[j]!;
    const spec = SHORT.get(opt);
    if (spec === undefined) throw usageError(`Unknown option "-${opt}"${word.length > 2 ? ` in "${word}"` : ""}; see --help`);
    if (spec.value) {
      const rest = word.slice(j + 1);
      if (rest !== "") {
        spec.apply(p, rest, `-${opt}${rest}`, `-${opt}`);
        return 1;
      }
      if (i + 1 >= argv.length) throw usageError(`-${opt} needs a value`);
      const value = argv[i + 1]!;
      spec.apply(p, value, `-${opt}${value}`, `-${opt}`);
      return 2;
    }
    if (spec.restOfWord) {
      spec.apply(p, "", word, `-${opt}`);
      if (j + 1 < word.length) p.ignored.push(word);
      return 1;
    }
    spec.apply(p, "", `-${opt}`, `-${opt}`);
  }
  return 1;
}

/**
 * Parses the command line: each word is `--` (the rest are recipients), a
 * long option, a group of short options, or a recipient (GNU getopt
 * permutation); then one mode is chosen and the combinations checked.
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
  const p: Parsing = {
    a: {
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
    },
    ignored: [],
    attachments: [],
    queueRemove: [],
    modes: new Set(),
  };
  const recipients: string[] = [];
  for (let i = 0; i < argv.length;) {
    const word = argv[i]!;
    if (word === "--") {
      recipients.push(...argv.slice(i + 1));
      break;
    }
    if (word.startsWith("--")) i += parseLong(p, argv, i);
    else if (word.startsWith("-") && word.length > 1) i += parseShort(p, argv, i);
    else {
      recipients.push(word);
      i++;
    }
  }
  for (const r of recipients) checkText(r, "Recipient");
  const a = p.a;
  a.recipients = recipients;
  a.ignored = p.ignored;
  a.attachments = p.attachments;
  a.queueRemove = p.queueRemove;
  a.mode = chooseMode(p.modes);
  if (a.queue && a.queueOnFailure) throw usageError("Choose one of --queue (-odq) and --queue-on-failure");
  if (a.mode !== "send" && (a.subject !== undefined || a.attachments.length > 0 || a.html !== undefined)) {
    throw usageError(`--subject, --attach and --html compose a message to send; they do not go with ${modeFlag(a.mode)}`);
  }
  return a;
}

/** One mode; help and version win over everything. */
function chooseMode(modes: ReadonlySet<CliMode>): CliMode {
  if (modes.has("help")) return "help";
  if (modes.has("version")) return "version";
  const list = [...modes];
  if (list.length > 1) throw usageError(`Choose one of ${list.map(modeFlag).join(", ")}`);
  return list[0] ?? "send";
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
