/**
 * Sending one message over SMTP for the CLI, with the authentication policy
 * of the seeds:
 *
 * - `auth off`: never authenticate.
 * - Up front (right after EHLO/STARTTLS) when `auth on`, when a user name is
 *   given (`--user`, `username`), when `requires_auth` matches the server, or
 *   when credentials for the server exist (config password, password command,
 *   an authinfo/netrc entry). When the password cannot be found (nor asked
 *   for at a terminal) this fails before connecting, naming how to give one.
 * - Otherwise on demand: when MAIL (or RCPT) is answered 530 or 5.7.0, get
 *   credentials (prompting when a terminal is attached), reconnect with them,
 *   and retry once — only if no message data was read yet (always the case
 *   for a refusal of MAIL).
 *
 * The client refuses to send credentials without verified TLS unless
 * `allow_plaintext_auth` is set.
 *
 * @module
 */
import { SmtpClient } from "../client.ts";
import type { Account } from "../config/types.ts";
import { AuthError, ConfigError } from "../errors.ts";
import type { MessageData, OutgoingMessage, SendResult } from "../options.ts";
import type { CliContext } from "./context.ts";
import {
  authOptions,
  canPrompt,
  completeCredentials,
  type Credentials,
  offerToSave,
  storedCredentials,
} from "./credentials.ts";
import { CliError, EX_DATAERR, isAuthRequired, noteKeywordStyle } from "./errors.ts";
import { clientOptions, requiresAuthFor, serverOf } from "./resolve.ts";

/** A stream that records whether anyone started reading it (so a retry knows it is still whole). */
export class WatchedStream implements AsyncIterable<Uint8Array> {
  readonly #source: AsyncIterable<Uint8Array>;
  #started = false;

  /** @param source The stream to watch. */
  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source;
  }

  /** Whether reading has begun. */
  get started(): boolean {
    return this.#started;
  }

  /** Starts reading (once). */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#started) throw new TypeError("The message stream was already read");
    this.#started = true;
    return this.#source[Symbol.asyncIterator]();
  }
}

function watched(data: MessageData): { data: MessageData; started: () => boolean } {
  if (typeof data === "string" || data instanceof Uint8Array) return { data, started: () => false };
  if (data instanceof WatchedStream) return { data, started: () => data.started };
  if (Symbol.asyncIterator in (data as object)) {
    const w = new WatchedStream(data as AsyncIterable<Uint8Array>);
    return { data: w, started: () => w.started };
  }
  return { data, started: () => true }; // a ReadableStream: never retried
}

/** How to give credentials: the flag, the configuration keywords (the same in smtpsendrc and msmtprc), ~/.authinfo, the prompt. */
function noCredentialsHint(server: { host: string; port: number }, user: string | undefined): string {
  return `give the password with --password-eval COMMAND, set "password" or "passwordeval" in the configuration file, ` +
    `add "machine ${server.host} port ${server.port} login ${user ?? "USER"} password PASSWORD" to ~/.authinfo or ~/.netrc (mode 0600), ` +
    `or run smtpsend from a terminal to be asked`;
}
/**
 * Whether a failed send may still have delivered the message: it went out
 * whole but the server's reply to its end never came (RFC 5321 §6.1).
 *
 * @param err The error.
 * @returns `true` when `err.maybeDelivered` says so.
 */
export function mayHaveBeenDelivered(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { maybeDelivered?: unknown }).maybeDelivered === true;
}

/**
 * The standard-error line that follows the error line of such a failure when
 * the message stays queued: a later flush may send it a second time. When it
 * is not queued there is nothing to add: the error line itself (the library's
 * message) already says that the server may have accepted the message and that
 * sending it again may deliver it twice.
 *
 * @param queuedAs The queue id the message stays queued as.
 * @returns One line, newline included.
 */
export function maybeDeliveredNote(queuedAs: string): string {
  return "smtpsend: the server may already have accepted this message: it was sent whole, but no reply to its end came; " +
    `it stays queued as ${queuedAs} so that nothing is lost, and a later flush (smtpsend -q) may deliver it twice\n`;
}


/**
 * Sends one message with the account's server and credentials.
 *
 * @param ctx Host, connector, trace.
 * @param account The account (after command-line overrides).
 * @param message The message; a stream is read at most once.
 * @returns The client's result.
 * @throws {SmtpError} From the session; {@link AuthError} when credentials are needed but missing.
 */
export async function sendSmtp(ctx: CliContext, account: Account, message: OutgoingMessage): Promise<SendResult> {
  try {
    return await sendWithAccount(ctx, account, message);
  } catch (e) {
    // So that the error line names msmtp keywords for an msmtprc account.
    noteKeywordStyle(e, account.source.format);
    throw e;
  }
}

async function sendWithAccount(ctx: CliContext, account: Account, message: OutgoingMessage): Promise<SendResult> {
  const { host, tracer } = ctx;
  const server = serverOf(account);
  const interactive = canPrompt(host);
  let creds: Credentials | null = null;
  if (account.auth !== false) {
    // A user name (--user, "username"/"user") means "authenticate as this user": its password is
    // looked up now, never silently skipped to let the server refuse the mail later.
    const upfront = account.auth === true || account.user !== undefined || requiresAuthFor(account, server.host);
    const stored = await storedCredentials(host, account, server);
    if (upfront || stored !== null) {
      creds = await completeCredentials(host, account, server, stored, interactive);
      if (creds === null) {
        const user = stored?.user ?? account.user;
        throw new AuthError(
          `No ${user !== undefined ? `password for ${user} at` : "credentials for"} ${server.host}:${server.port}: ` +
            noCredentialsHint(server, user),
          { phase: "auth" },
        );
      }
    }
  }
  const w = watched(message.data);
  const attempt = async (c: Credentials | null): Promise<SendResult> => {
    if (c) tracer.addSecret(c.secret, c.user);
    const options = await clientOptions(account, {
      host,
      connector: ctx.connector,
      ...(tracer.hook ? { trace: tracer.hook } : {}),
      ...(c ? { auth: authOptions(account, c) } : {}),
    });
    let client: SmtpClient;
    try {
      client = new SmtpClient(options);
    } catch (e) {
      // The library reports bad options as TypeError/RangeError: here they came from the configuration.
      if (e instanceof TypeError || e instanceof RangeError) throw new ConfigError(e.message, { cause: e });
      throw e;
    }
    await client.connect();
    try {
      return await client.send({ ...message, data: w.data });
    } catch (e) {
      // …and a bad message (a line over 998 octets, an invalid address) the same way.
      if (e instanceof TypeError || e instanceof RangeError) throw new CliError(e.message, EX_DATAERR, { cause: e });
      throw e;
    } finally {
      await client.quit();
    }
  };

  let result: SendResult;
  try {
    result = await attempt(creds);
  } catch (err) {
    if (creds !== null || account.auth === false || !isAuthRequired(err) || w.started()) throw err;
    tracer.note(`${server.host} requires authentication; getting credentials and reconnecting`);
    creds = await completeCredentials(host, account, server, null, interactive);
    if (creds === null) {
      throw new AuthError(
        `${server.host}:${server.port} requires authentication (${(err as Error).message}), and there are no credentials for it: ${
          noCredentialsHint(server, account.user)
        }`,
        { phase: "auth", cause: err },
      );
    }
    result = await attempt(creds);
  }
  if (creds?.prompted) {
    try {
      const file = await offerToSave(host, server, creds, interactive);
      if (file) host.writeStderr(`smtpsend: credentials saved to ${file}\n`);
    } catch (e) {
      host.writeStderr(`smtpsend: warning: credentials not saved: ${(e as Error)?.message ?? e}\n`);
    }
  }
  return result;
}
