/**
 * Sendmail mode (a message on standard input) and compose mode (`--subject`,
 * `--attach`, `--html`): build the envelope and message with the message
 * layer, then hand local recipients to the MDA and the others to SMTP (or to
 * the queue).
 *
 * Raw messages: only the header is buffered; the body streams from standard
 * input to the server. When standard input is a regular file, its size
 * (adjusted for the header changes) is announced with `SIZE=`. The message is held in memory only when it must go to
 * more than one place (several local recipients, or local and SMTP ones).
 *
 * The account is chosen by `-a`, else by the envelope sender (`-f`, else the
 * `From:` address), else the default. Headers: `Bcc:` removed; `Date:`,
 * `Message-ID:` (unless `message_id off`) and `From:` (from `-F` and the
 * sender) added when missing — by `prepareRaw` from the message layer.
 *
 * Recipients without a domain go to the MDA when one is configured (all of
 * them with `force_mda`); otherwise they are qualified with `qualifydomain`
 * or refused.
 *
 * Local recipients are delivered first. When they all have the message and
 * the SMTP part then fails temporarily, the SMTP part is queued (the
 * account's queue directory) and the exit status is 0, with a note on
 * standard error naming who has it and the queue id: exiting 75 would make
 * the caller retry the whole message and deliver it locally twice. If even
 * queueing fails the status is 75; whenever the status is not 0 after some
 * local deliveries, standard error names the recipients that already have
 * the message.
 *
 * @module
 */
import { collectBytes } from "../protocol/bytes.ts";
import type { Config } from "../config/account.ts";
import type { Account } from "../config/types.ts";
import { assertDisplayName } from "../message/address.ts";
import { prepareRaw } from "../message/envelope.ts";
import type { OutgoingMessage, SendResult } from "../options.ts";
import { isComposeMode } from "./args.ts";
import type { CliContext } from "./context.ts";
import { maybeDeliveredNote, mayHaveBeenDelivered, sendSmtp } from "./deliver.ts";
import { CliError, EX_CONFIG, EX_DATAERR, EX_NOINPUT, EX_OK, EX_TEMPFAIL, EX_USAGE, errorLine, exitCodeFor, usageError } from "./errors.ts";
import { headerSender, peekHeader } from "./input.ts";
import { deliverLocal } from "./mda.ts";
import { accountFor } from "./resolve.ts";

function hasPattern(s: string): boolean {
  return /[*?[]/.test(s);
}

function userName(ctx: CliContext): string {
  return ctx.host.env("USER") ?? ctx.host.env("LOGNAME") ?? "user";
}

/** The envelope sender from `force reverse_path`, `-f` (qualified when bare) or nothing. */
function envelopeSender(ctx: CliContext, account: Account): string | undefined {
  if (account.forceReversePath !== undefined) return account.forceReversePath.replaceAll("%u", userName(ctx));
  const f = ctx.args.sender;
  if (f === undefined) return undefined;
  const t = f.trim();
  if (t !== "" && t !== "<>" && !t.includes("@") && !t.includes("<") && account.qualifyDomain) {
    return `${t}@${account.qualifyDomain}`;
  }
  return f;
}

/** The full name for a generated `From:` (`-F`, else `from_full_name`), refused when it holds a control or line break. */
function fullNameOf(ctx: CliContext, account: Account): string | undefined {
  const fromArgs = ctx.args.fullName !== undefined;
  const name = ctx.args.fullName ?? account.fromName;
  if (name === undefined) return undefined;
  try {
    return assertDisplayName(name, fromArgs ? "Full name (-F)" : "Full name (from_full_name)");
  } catch (e) {
    throw new CliError((e as Error).message, fromArgs ? EX_USAGE : EX_CONFIG, { cause: e });
  }
}

/** Standard input, read to its end: a line holding only "." is data (-i and -oi change nothing). */
function stdinOf(ctx: CliContext): AsyncIterable<Uint8Array> {
  return ctx.host.stdin();
}

/**
 * The number of octets left to read on standard input when it is a regular
 * file (`smtpsend … < message.eml`), else `undefined` (a pipe, a terminal,
 * a system without `/dev/stdin`). On Linux the file offset of descriptor 0
 * (`/proc/self/fdinfo/0`) is taken off, for a file partly read before.
 * Call it before reading standard input.
 */
async function regularFileInputSize(ctx: CliContext): Promise<number | undefined> {
  let info;
  try {
    info = await ctx.host.stat("/dev/stdin");
  } catch {
    return undefined;
  }
  if (!info || !info.isFile) return undefined;
  let pos = 0;
  try {
    const m = /^pos:\s*(\d+)/m.exec(new TextDecoder().decode(await ctx.host.readFile("/proc/self/fdinfo/0")));
    if (m) pos = Number(m[1]);
  } catch {
    // not Linux: the offset is taken to be 0
  }
  return info.size >= pos ? info.size - pos : undefined;
}

/** A message ready to deliver. */
interface Ready {
  readonly account: Account;
  readonly from: string;
  readonly smtpTo: readonly string[];
  readonly localTo: readonly string[];
  readonly data: AsyncIterable<Uint8Array>;
  readonly smtpUtf8?: boolean;
  /**
   * The message size when it can be told before reading it (standard input
   * is a regular file), for `SIZE=`: the input's size with the header
   * changes (fields added, `Bcc:` removed) applied. An estimate that errs
   * low, never high: line ends are counted as in the input (a bare LF
   * becomes CR LF on the wire).
   */
  readonly size?: number;
}

/**
 * Runs sendmail or compose mode.
 *
 * @param ctx The environment and command line.
 * @param config The loaded configuration.
 * @returns The exit status.
 */
export async function runSend(ctx: CliContext, config: Config): Promise<number> {
  const { args } = ctx;
  if (args.recipients.length === 0 && !args.readRecipients) {
    throw usageError("No recipients given; name them as arguments, or use -t to read them from the message");
  }
  const ready = isComposeMode(args) ? await composeMessage(ctx, config) : await rawMessage(ctx, config);
  return await dispatch(ctx, config, ready);
}

async function rawMessage(ctx: CliContext, config: Config): Promise<Ready> {
  const { args } = ctx;
  const inputSize = await regularFileInputSize(ctx);
  const peeked = await peekHeader(stdinOf(ctx));
  const selectBy = args.sender ?? headerSender(peeked.fields);
  const account = accountFor(config, args, selectBy);
  if (account.forceSender !== undefined) {
    ctx.host.writeStderr(`smtpsend: warning: "force sender" is not supported yet and was ignored\n`);
  }
  const mda = account.mda;
  const sender = envelopeSender(ctx, account);
  const identity = account.from !== undefined && !hasPattern(account.from) ? account.from : undefined;
  const fullName = fullNameOf(ctx, account);
  let prepared;
  try {
    prepared = await prepareRaw(peeked.stream, {
      ...(sender !== undefined ? { sender } : {}),
      ...(identity !== undefined ? { identity } : {}),
      recipients: args.recipients,
      readRecipients: args.readRecipients,
      // With an MDA, bare recipients are local; otherwise they are qualified (or refused).
      keepLocal: mda !== undefined,
      ...(account.qualifyDomain !== undefined ? { qualifyDomain: account.qualifyDomain } : {}),
      ...(fullName !== undefined ? { fullName } : {}),
      addMessageId: account.messageId !== false,
      now: ctx.now,
      ...(ctx.random ? { random: ctx.random } : {}),
    });
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new CliError(e.message, EX_DATAERR, { cause: e });
    throw e;
  }
  const local = [...(prepared.envelope.local ?? [])];
  const smtpTo: string[] = [];
  for (const to of prepared.envelope.to) {
    if (mda !== undefined && account.forceMda) local.push(to);
    else smtpTo.push(to);
  }
  if (prepared.removed.length) ctx.tracer.note(`removed header fields: ${prepared.removed.join(", ")}`);
  if (prepared.added.length) ctx.tracer.note(`added header fields: ${prepared.added.map((a) => a.split(":")[0]).join(", ")}`);
  let size: number | undefined;
  if (inputSize !== undefined) {
    const removed = new Set(prepared.removed.map((n) => n.toLowerCase()));
    const encoder = new TextEncoder();
    size = inputSize - peeked.mboxLine; // the message layer drops an mbox "From " line
    for (const f of prepared.fields) if (removed.has(f.name.toLowerCase())) size -= f.end - f.start;
    for (const a of prepared.added) size += encoder.encode(a).length + 2;
    if (size < 0) size = undefined;
    else ctx.tracer.note(`standard input is a file: message size about ${size} octets`);
  }
  return { account, from: prepared.envelope.from, smtpTo, localTo: local, data: prepared.stream(), ...(size !== undefined ? { size } : {}) };
}

async function composeMessage(ctx: CliContext, config: Config): Promise<Ready> {
  const { args, host } = ctx;
  if (args.readRecipients) throw usageError("-t reads recipients from a message on standard input; in compose mode name them as arguments");
  const account = accountFor(config, args);
  const from = envelopeSender(ctx, account) ?? (account.from !== undefined && !hasPattern(account.from) ? account.from : undefined);
  if (from === undefined || from.trim() === "") {
    throw usageError("Compose mode needs a sender: give -f ADDRESS, or set the identity/from address in the configuration");
  }
  const readText = async (path: string, what: string): Promise<string> => {
    try {
      return new TextDecoder().decode(await host.readFile(path));
    } catch (e) {
      throw new CliError(`Cannot read the ${what} "${path}": ${(e as Error)?.message ?? e}`, EX_NOINPUT, { cause: e });
    }
  };
  for (const path of args.attachments) {
    let info;
    try {
      info = await host.stat(path);
    } catch (e) {
      throw new CliError(`Cannot read the attachment "${path}": ${(e as Error)?.message ?? e}`, EX_NOINPUT, { cause: e });
    }
    if (!info) throw new CliError(`Cannot read the attachment "${path}": no such file`, EX_NOINPUT);
    if (!info.isFile) throw new CliError(`Cannot read the attachment "${path}": not a regular file`, EX_NOINPUT);
  }
  const html = args.html !== undefined ? await readText(args.html, "HTML file") : undefined;
  const text = new TextDecoder().decode(await collectBytes(stdinOf(ctx)));
  const { compose } = await import("../message/compose.ts");
  const fullName = fullNameOf(ctx, account);
  let msg;
  try {
    msg = compose({
      from: { name: fullName ?? "", address: from },
      to: [...args.recipients],
      ...(args.subject !== undefined ? { subject: args.subject } : {}),
      ...(text !== "" || html === undefined ? { text } : {}),
      ...(html !== undefined ? { html } : {}),
      attachments: args.attachments.map((path) => ({ path })),
      openFile: (path: string) => host.readStream(path),
      now: ctx.now,
      ...(ctx.random ? { random: ctx.random } : {}),
    });
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new CliError(e.message, EX_DATAERR, { cause: e });
    throw e;
  }
  return {
    account,
    from: msg.envelope.from,
    smtpTo: msg.envelope.to,
    localTo: [],
    data: msg.stream(),
    smtpUtf8: msg.smtputf8,
  };
}

/** The client message for the SMTP part, with the command line's DSN and body options. */
function outgoing(ctx: CliContext, ready: Ready, data: AsyncIterable<Uint8Array> | Uint8Array): OutgoingMessage {
  const { args } = ctx;
  const notify = args.dsnNotify ?? ready.account.dsnNotify;
  const ret = args.dsnReturn ?? ready.account.dsnReturn;
  return {
    from: ready.from,
    to: ready.smtpTo,
    data,
    policy: "all",
    // SIZE= for a stream read from a regular file (bytes are measured by the client itself).
    ...(ready.size !== undefined && !(data instanceof Uint8Array) ? { size: ready.size } : {}),
    ...(args.bodyType !== undefined ? { eightBit: args.bodyType === "8BITMIME" } : {}),
    ...(notify !== undefined ? { dsnNotify: notify } : {}),
    ...(ret !== undefined ? { dsnReturn: ret } : {}),
    ...(args.envelopeId !== undefined ? { dsnEnvelopeId: args.envelopeId } : {}),
    ...(ready.smtpUtf8 ? { smtpUtf8: true } : {}),
  };
}

function names(addresses: readonly string[]): string {
  return addresses.map((a) => `<${a}>`).join(", ");
}

async function dispatch(ctx: CliContext, config: Config, ready: Ready): Promise<number> {
  const { host, tracer } = ctx;
  if (ready.smtpTo.length === 0 && ready.localTo.length === 0) throw new CliError("No recipients", EX_USAGE);
  const several = ready.localTo.length > 1 || (ready.localTo.length > 0 && ready.smtpTo.length > 0);
  const data: AsyncIterable<Uint8Array> | Uint8Array = several ? await collectBytes(ready.data) : ready.data;
  const codes: number[] = [];
  const deliveredLocal: string[] = [];
  let told = false;

  if (ready.localTo.length > 0) {
    const results = await deliverLocal(host, ready.account.mda!, ready.localTo, ready.from, data, {
      note: (t) => tracer.note(t),
    });
    for (const r of results) {
      if (r.error !== null) host.writeStderr(`smtpsend: ${r.error}\n`);
      else deliveredLocal.push(r.recipient);
      codes.push(r.exitCode);
    }
  }

  if (ready.smtpTo.length > 0) {
    const message = outgoing(ctx, ready, data);
    if (ctx.args.queue || ready.account.queue) {
      const { enqueue } = await import("./queue.ts");
      const id = await enqueue(ctx, config, ready.account, message);
      tracer.note(`queued as ${id}`);
      codes.push(EX_OK);
    } else if (ctx.args.queueOnFailure) {
      const { sendOrQueue } = await import("./queue.ts");
      codes.push(await sendOrQueue(ctx, config, ready.account, message));
    } else {
      try {
        const result: SendResult = await sendSmtp(ctx, ready.account, message);
        tracer.note(`accepted: ${result.reply.code} ${result.reply.lines.join(" ")}`);
        codes.push(EX_OK);
      } catch (e) {
        host.writeStderr(errorLine(e));
        const maybe = mayHaveBeenDelivered(e);
        const code = exitCodeFor(e);
        if (code === EX_TEMPFAIL && deliveredLocal.length > 0 && deliveredLocal.length === ready.localTo.length) {
          // The local recipients have it: a 75 would make the caller retry and deliver to them again.
          // Queue the SMTP part instead and report success.
          try {
            const { enqueue } = await import("./queue.ts");
            const id = await enqueue(ctx, config, ready.account, message);
            host.writeStderr(
              `smtpsend: delivered locally to ${names(deliveredLocal)}; queued as ${id} for ${names(ready.smtpTo)} ` +
                `after the temporary failure above (smtpsend -q sends it)\n`,
            );
            if (maybe) host.writeStderr(maybeDeliveredNote(id));
            told = true;
            codes.push(EX_OK);
          } catch (qe) {
            host.writeStderr(`smtpsend: could not queue the message for ${names(ready.smtpTo)}: ${errorLine(qe).replace(/^smtpsend: /, "")}`);
            codes.push(EX_TEMPFAIL);
          }
        } else {
          codes.push(code);
        }
      }
    }
  }
  const status = codes.find((c) => c !== EX_OK) ?? EX_OK;
  if (status !== EX_OK && deliveredLocal.length > 0 && !told) {
    host.writeStderr(
      `smtpsend: already delivered locally to ${names(deliveredLocal)}; sending this message again delivers it to them again\n`,
    );
  }
  return status;
}
