/**
 * smtpsend — a portable SMTP client for Deno, Bun and Node, with no runtime
 * dependencies.
 *
 * @example
 * ```ts
 * import { send } from "@smtpsend/smtpsend";
 *
 * const result = await send(
 *   { host: "smtp.example.org", port: 587, auth: { user: "me", pass: "secret" } },
 *   { from: "me@example.org", to: ["you@example.net"], data: "Subject: hi\r\n\r\nHello\r\n" },
 * );
 * console.log(result.accepted);
 * ```
 *
 * @module
 */

export { VERSION } from "./src/version.ts";
export {
  AuthError,
  ConfigError,
  ConnectionError,
  ProtocolError,
  ReplyError,
  SmtpError,
  type SmtpErrorOptions,
  type SmtpPhase,
  TimeoutError,
  TlsError,
} from "./src/errors.ts";
export type {
  ConnectOptions,
  Connector,
  NetAddress,
  TlsInfo,
  TlsOptions,
  Transport,
} from "./deps.ts";
export type { Capabilities, Reply } from "./src/protocol/types.ts";
export { SmtpClient } from "./src/client.ts";
export { send } from "./src/send.ts";
export {
  type AuthOptions,
  type ClientOptions,
  DEFAULT_TIMEOUTS,
  type DsnNotify,
  type MessageData,
  type OutgoingMessage,
  type RecipientResult,
  type RecipientSpec,
  type SendResult,
  type ServerInfo,
  type Timeouts,
  type TlsMode,
  type TraceEvent,
} from "./src/options.ts";
