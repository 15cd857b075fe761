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
  PermissionError,
  ProtocolError,
  ReplyError,
  SmtpError,
  type SmtpErrorHint,
  type SmtpErrorOptions,
  type SmtpPhase,
  TimeoutError,
  TlsError,
} from "./src/errors.ts";
export {
  type ConnectOptions,
  type Connector,
  detectRuntime,
  type FileInfo,
  type Host,
  type NetAddress,
  type RunResult,
  runtime,
  type Runtime,
  type TlsInfo,
  type TlsOptions,
  type Transport,
} from "./deps.ts";
export type { Capabilities, Reply } from "./src/protocol/types.ts";
export { fromComposed } from "./src/client.ts";
export { SmtpClient } from "./src/default_client.ts";
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
  SLOW_GREETING_MS,
  type SlowGreeting,
  type Timeouts,
  type TlsMode,
  type TraceEvent,
} from "./src/options.ts";
export {
  type Address,
  type AddressParseOptions,
  domainOf,
  type EnvelopeAddressOptions,
  formatAddress,
  type Group,
  isAddressLiteral,
  isValidEnvelopeAddress,
  type Mailbox,
  type MailboxInput,
  parseAddressList,
  parseMailbox,
} from "./src/message/address.ts";
export {
  type AddressInput,
  type Attachment,
  type AttachmentContent,
  compose,
  type ComposedMessage,
  type ComposeOptions,
  composeToBytes,
  type HeaderInput,
  type OpenFile,
} from "./src/message/compose.ts";
export { type HeaderField, type RandomBytes } from "./src/message/headers.ts";
export { domainToAscii, envelopeForServer, type ServerEnvelope, type ServerEnvelopeError } from "./src/message/idna.ts";
export {
  deriveEnvelope,
  type Envelope,
  type EnvelopeOptions,
  prepareRaw,
  type PreparedMessage,
  type PrepareRawOptions,
} from "./src/message/envelope.ts";
export * from "./src/queue.ts";
