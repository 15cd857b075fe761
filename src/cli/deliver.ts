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
import type { ClientOptions, MessageData, OutgoingMessage, SendResult } from "../options.ts";
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
import { clientOptions, requiresAuthFor, type Server, serverOf } from "./resolve.ts";

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
 * One account's way to connect, for the CLI: the credentials it needs (up
 * front, or on demand after a 530), and the client options that follow. One
 * per account and command, so credentials are looked up (or asked for) once
 * however many messages go over its connections.
 */
export class AccountLink {
  /** The account (after command-line overrides). */
  readonly account: Account;
  /** Its server, with the defaults decided. */
  readonly server: Server;
  readonly #ctx: CliContext;
  readonly #interactive: boolean;
  #creds: Credentials | null = null;
  #options: Promise<ClientOptions> | null = null;
  #onDemandTried = false;

  /**
   * @param ctx Host, connector, trace.
   * @param account The account (after command-line overrides).
   * @throws {ConfigError} When no server is configured.
   */
  constructor(ctx: CliContext, account: Account) {
    this.#ctx = ctx;
    this.account = account;
    this.server = serverOf(account);
    this.#interactive = canPrompt(ctx.host);
  }

  /**
   * The options to connect with: with credentials when they are wanted up
   * front or stored (decided once).
   *
   * @returns Client options.
   * @throws {AuthError} When credentials are wanted but cannot be found.
   */
  options(): Promise<ClientOptions> {
    this.#options ??= this.#firstOptions();
    return this.#options;
  }

  async #firstOptions(): Promise<ClientOptions> {
    const { account, server } = this;
    if (account.auth === false) return await this.#withCredentials(null);
    // A user name (--user, "username"/"user") means "authenticate as this user": its password is
    // looked up now, never silently skipped to let the server refuse the mail later.
    const upfront = account.auth === true || account.user !== undefined || requiresAuthFor(account, server.host);
    const stored = await storedCredentials(this.#ctx.host, account, server);
    if (!upfront && stored === null) return await this.#withCredentials(null);
    const creds = await completeCredentials(this.#ctx.host, account, server, stored, this.#interactive);
    if (creds === null) {
      const user = stored?.user ?? account.user;
      throw new AuthError(
        `No ${user !== undefined ? `password for ${user} at` : "credentials for"} ${server.host}:${server.port}: ` +
          noCredentialsHint(server, user),
        { phase: "auth" },
      );
    }
    return await this.#withCredentials(creds);
  }

  /**
   * After a refusal: when it asks for authentication and none was given yet,
   * the options with credentials (found now, or asked for at a terminal).
   *
   * @param err What sending threw.
   * @returns Options to reconnect with, or `null` when the refusal stands.
   * @throws {AuthError} When authentication is required and no credentials can be found.
   */
  async retryOptions(err: unknown): Promise<ClientOptions | null> {
    const { account, server } = this;
    if (this.#creds !== null || account.auth === false || !isAuthRequired(err)) return null;
    // Looked up (or asked for) once: the next message of a flush that meets the same 530 is not asked again.
    let creds: Credentials | null = null;
    if (!this.#onDemandTried) {
      this.#onDemandTried = true;
      this.#ctx.tracer.note(`${server.host} requires authentication; getting credentials and reconnecting`);
      creds = await completeCredentials(this.#ctx.host, account, server, null, this.#interactive);
    }
    if (creds === null) {
      throw new AuthError(
        `${server.host}:${server.port} requires authentication (${(err as Error).message}), and there are no credentials for it: ${
          noCredentialsHint(server, account.user)
        }`,
        { phase: "auth", cause: err },
      );
    }
    this.#options = this.#withCredentials(creds);
    return await this.#options;
  }

  async #withCredentials(creds: Credentials | null): Promise<ClientOptions> {
    const { host, tracer } = this.#ctx;
    this.#creds = creds;
    if (creds) tracer.addSecret(creds.secret, creds.user);
    return await clientOptions(this.account, {
      host,
      connector: this.#ctx.connector,
      ...(tracer.hook ? { trace: tracer.hook } : {}),
      ...(creds ? { auth: authOptions(this.account, creds) } : {}),
    });
  }

  /** After a message went out: offers to save credentials typed at the prompt (once). */
  async offerToSave(): Promise<void> {
    const creds = this.#creds;
    if (!creds?.prompted) return;
    this.#creds = { ...creds, prompted: false };
    const host = this.#ctx.host;
    try {
      const file = await offerToSave(host, this.server, creds, this.#interactive);
      if (file) host.writeStderr(`smtpsend: credentials saved to ${file}\n`);
    } catch (e) {
      host.writeStderr(`smtpsend: warning: credentials not saved: ${(e as Error)?.message ?? e}\n`);
    }
  }
}

/**
 * Connects the library's client; bad options (reported by the library as
 * `TypeError`/`RangeError`) came from the configuration here.
 *
 * @param options Client options.
 * @returns The connected client.
 * @throws {ConfigError} On bad options; {@link SmtpError} when connecting fails.
 */
export async function connectClient(options: ClientOptions): Promise<SmtpClient> {
  let client: SmtpClient;
  try {
    client = new SmtpClient(options);
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) throw new ConfigError(e.message, { cause: e });
    throw e;
  }
  await client.connect();
  return client;
}

/**
 * Connects with the library's client, sends one message and quits: the
 * library's `send()`, with its argument errors named as the CLI's (bad
 * options came from the configuration, a bad message from the input).
 */
async function sendOnce(options: ClientOptions, message: OutgoingMessage): Promise<SendResult> {
  const client = await connectClient(options);
  try {
    return await client.send(message);
  } catch (e) {
    // …and a bad message (a line over 998 octets, an invalid address) the same way.
    if (e instanceof TypeError || e instanceof RangeError) throw new CliError(e.message, EX_DATAERR, { cause: e });
    throw e;
  } finally {
    await client.quit();
  }
}

/**
 * Sends one message with the account's server and credentials, getting
 * credentials and reconnecting once when the server asks for
 * authentication before any of the message was read.
 *
 * @param ctx Host, connector, trace.
 * @param account The account (after command-line overrides).
 * @param message The message; a stream is read at most once.
 * @returns The client's result.
 * @throws {SmtpError} From the session; {@link AuthError} when credentials are needed but missing.
 */
export async function sendSmtp(ctx: CliContext, account: Account, message: OutgoingMessage): Promise<SendResult> {
  try {
    const link = new AccountLink(ctx, account);
    const w = watched(message.data);
    let result: SendResult;
    try {
      result = await sendOnce(await link.options(), { ...message, data: w.data });
    } catch (err) {
      const again = w.started() ? null : await link.retryOptions(err);
      if (again === null) throw err;
      result = await sendOnce(again, { ...message, data: w.data });
    }
    await link.offerToSave();
    return result;
  } catch (e) {
    // So that the error line names msmtp keywords for an msmtprc account.
    noteKeywordStyle(e, account.source.format);
    throw e;
  }
}
