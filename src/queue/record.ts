/**
 * The envelope-and-state record stored as `<id>.json`: building it from an
 * envelope, encoding, strict decoding (JSON is parsed as data and checked
 * field by field, never evaluated), the public view, and the backoff rule.
 * Only the fields listed here are ever written, so nothing the caller adds
 * to an envelope (a password, say) reaches the disk — also not inside the
 * one-off server settings, which are copied field by field.
 * @module
 */
import type { DsnNotify, RecipientSpec } from "../options.ts";
import { QueueError } from "./error.ts";
import type {
  BackoffOptions,
  QueueEntry,
  QueueEnvelope,
  QueueLastError,
  QueueRecipient,
  QueueServer,
  QueueStatus,
  RecipientState,
} from "./types.ts";

/** Mutable in-memory form of one recipient's record. */
export interface RecipientRecord {
  address: string;
  notify: DsnNotify | null;
  orcpt: string | null;
  state: RecipientState;
  code: number | null;
  enhancedCode: string | null;
  message: string | null;
  at: number | null;
}

/** Mutable in-memory form of `<id>.json`. */
export interface QueueRecord {
  v: 1;
  id: string;
  createdAt: number;
  size: number;
  eightBit: boolean;
  from: string;
  recipients: RecipientRecord[];
  account: string | null;
  server: QueueServer | null;
  dsnReturn: "FULL" | "HDRS" | null;
  dsnEnvelopeId: string | null;
  dsnNotify: DsnNotify | null;
  smtpUtf8: boolean;
  attempts: number;
  lastAttemptAt: number | null;
  nextAttemptAt: number | null;
  lastError: QueueLastError | null;
  failReason: "rejected" | "expired" | "unreadable" | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Queue ids: lower-case letters and digits, 8–40 of them. */
export const ID_PATTERN: RegExp = /^[0-9a-z]{8,40}$/;

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

function checkText(value: unknown, what: string, max = 2048): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string, got ${typeof value}`);
  if (value.length > max) throw new RangeError(`${what} is longer than ${max} characters`);
  if (CONTROL.test(value)) throw new TypeError(`${what} contains a control character: ${JSON.stringify(value)}`);
  return value;
}

function checkNotify(value: unknown, what: string): DsnNotify | null {
  if (value === undefined || value === null) return null;
  if (value === "NEVER") return "NEVER";
  if (Array.isArray(value) && value.length > 0 && value.every((v) => v === "SUCCESS" || v === "FAILURE" || v === "DELAY")) {
    return [...value] as DsnNotify;
  }
  throw new TypeError(`${what} must be "NEVER" or a non-empty list of "SUCCESS", "FAILURE", "DELAY"`);
}

const TLS_MODES: readonly string[] = ["implicit", "starttls-required", "starttls-opportunistic", "none"];

/**
 * Checks one-off server settings field by field and copies the known ones,
 * in a fixed order; `null` when there are none.
 *
 * @param value The `server` of an envelope or a stored record.
 * @param what Prefix for error messages.
 * @returns A frozen copy, or `null`.
 * @throws {TypeError} For a field of the wrong type or holding a control character.
 * @throws {RangeError} For an out-of-range port or timeout, or an over-long value.
 */
export function checkServer(value: unknown, what: string): QueueServer | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "object" || Array.isArray(value)) throw new TypeError(`${what} must be an object`);
  const o = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const text = (k: string, max: number, pattern?: RegExp): void => {
    const v = o[k];
    if (v === undefined || v === null) return;
    const t = checkText(v, `${what} "${k}"`, max);
    if (t === "" || (pattern && !pattern.test(t))) throw new TypeError(`${what} "${k}" is invalid: ${JSON.stringify(t)}`);
    out[k] = t;
  };
  const bool = (k: string): void => {
    const v = o[k];
    if (v === undefined || v === null) return;
    if (typeof v !== "boolean") throw new TypeError(`${what} "${k}" must be a boolean`);
    out[k] = v;
  };
  text("host", 255, /^[^\s]+$/);
  if (o.port !== undefined && o.port !== null) {
    if (typeof o.port !== "number" || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
      throw new RangeError(`${what} "port" must be a port number (1–65535)`);
    }
    out.port = o.port;
  }
  if (o.tls !== undefined && o.tls !== null) {
    if (typeof o.tls !== "string" || !TLS_MODES.includes(o.tls)) throw new TypeError(`${what} "tls" must be one of ${TLS_MODES.join(", ")}`);
    out.tls = o.tls;
  }
  text("servername", 255, /^[^\s]+$/);
  bool("tlsVerify");
  text("caFile", 4096);
  text("certFile", 4096);
  text("keyFile", 4096);
  text("user", 1024);
  bool("auth");
  text("authMethod", 40, /^[A-Za-z0-9_-]+$/);
  if (o.passwordCommand !== undefined && o.passwordCommand !== null) {
    const v = o.passwordCommand;
    if (!Array.isArray(v) || v.length === 0 || v.length > 64) throw new TypeError(`${what} "passwordCommand" must be a non-empty list of words`);
    out.passwordCommand = v.map((w, i) => {
      if (typeof w !== "string" || w.length > 8192 || w.includes("\0")) throw new TypeError(`${what} "passwordCommand" word ${i} is invalid`);
      return w;
    });
    if ((out.passwordCommand as string[])[0] === "") throw new TypeError(`${what} "passwordCommand" names no program`);
    Object.freeze(out.passwordCommand);
  }
  bool("allowPlaintextAuth");
  text("helo", 255, /^[\x21-\x7e]+$/);
  if (o.timeoutMs !== undefined && o.timeoutMs !== null) {
    if (typeof o.timeoutMs !== "number" || !(o.timeoutMs > 0) || o.timeoutMs > 2_147_483_647) {
      throw new RangeError(`${what} "timeoutMs" must be a positive number of milliseconds`);
    }
    out.timeoutMs = o.timeoutMs;
  }
  return Object.keys(out).length === 0 ? null : Object.freeze(out) as QueueServer;
}

/**
 * Builds the record for a new entry from a caller's envelope, copying only
 * known fields. Throws `TypeError`/`RangeError` for bad envelopes.
 */
export function newRecord(
  id: string,
  envelope: QueueEnvelope,
  createdAt: number,
  size: number,
  eightBit: boolean,
): QueueRecord {
  if (typeof envelope !== "object" || envelope === null) throw new TypeError("Queue envelope must be an object");
  const from = checkText(envelope.from, "Envelope \"from\"");
  if (!Array.isArray(envelope.to) || envelope.to.length === 0) {
    throw new TypeError("Envelope \"to\" must be a non-empty array of recipients");
  }
  const recipients = (envelope.to as readonly (string | RecipientSpec)[]).map((r, i): RecipientRecord => {
    const spec: RecipientSpec = typeof r === "string" ? { address: r } : r;
    if (typeof spec !== "object" || spec === null) throw new TypeError(`Envelope recipient ${i} is invalid`);
    const address = checkText(spec.address, `Envelope recipient ${i}`);
    if (address === "") throw new TypeError(`Envelope recipient ${i} is empty`);
    return {
      address,
      notify: checkNotify(spec.notify, `Recipient ${JSON.stringify(address)} "notify"`),
      orcpt: spec.orcpt === undefined ? null : checkText(spec.orcpt, `Recipient ${JSON.stringify(address)} "orcpt"`),
      state: "pending",
      code: null,
      enhancedCode: null,
      message: null,
      at: null,
    };
  });
  const account = envelope.account === undefined || envelope.account === null
    ? null
    : checkText(envelope.account, "Envelope \"account\"", 256);
  const dsnReturn = envelope.dsnReturn ?? null;
  if (dsnReturn !== null && dsnReturn !== "FULL" && dsnReturn !== "HDRS") {
    throw new TypeError(`Envelope "dsnReturn" must be "FULL" or "HDRS"`);
  }
  if (envelope.smtpUtf8 !== undefined && typeof envelope.smtpUtf8 !== "boolean") {
    throw new TypeError(`Envelope "smtpUtf8" must be a boolean`);
  }
  return {
    v: 1,
    id,
    createdAt,
    size,
    eightBit,
    from,
    recipients,
    account,
    server: checkServer(envelope.server, "Envelope \"server\""),
    dsnReturn,
    dsnEnvelopeId: envelope.dsnEnvelopeId === undefined ? null : checkText(envelope.dsnEnvelopeId, "Envelope \"dsnEnvelopeId\"", 100),
    dsnNotify: checkNotify(envelope.dsnNotify, "Envelope \"dsnNotify\""),
    smtpUtf8: envelope.smtpUtf8 ?? false,
    attempts: 0,
    lastAttemptAt: null,
    nextAttemptAt: createdAt,
    lastError: null,
    failReason: null,
  };
}

/** The record as the bytes of a JSON document (explicit field list, in a fixed order). */
export function encodeRecord(r: QueueRecord): Uint8Array {
  const doc = {
    v: r.v,
    id: r.id,
    createdAt: r.createdAt,
    size: r.size,
    eightBit: r.eightBit,
    from: r.from,
    recipients: r.recipients.map((x) => ({
      address: x.address,
      notify: x.notify,
      orcpt: x.orcpt,
      state: x.state,
      code: x.code,
      enhancedCode: x.enhancedCode,
      message: x.message,
      at: x.at,
    })),
    account: r.account,
    // Re-checked and copied: only the known fields, in a fixed order.
    server: checkServer(r.server, "Queue record \"server\""),
    dsnReturn: r.dsnReturn,
    dsnEnvelopeId: r.dsnEnvelopeId,
    dsnNotify: r.dsnNotify,
    smtpUtf8: r.smtpUtf8,
    attempts: r.attempts,
    lastAttemptAt: r.lastAttemptAt,
    nextAttemptAt: r.nextAttemptAt,
    lastError: r.lastError && {
      message: r.lastError.message,
      code: r.lastError.code,
      enhancedCode: r.lastError.enhancedCode,
      phase: r.lastError.phase,
      temporary: r.lastError.temporary,
      at: r.lastError.at,
    },
    failReason: r.failReason,
  };
  return encoder.encode(JSON.stringify(doc, null, 1) + "\n");
}

type Obj = Record<string, unknown>;

function corrupt(path: string, why: string): QueueError {
  return new QueueError(`Queue: "${path}" is not a valid queue record: ${why}`, { path });
}

function num(o: Obj, k: string, path: string, nullable = false): number | null {
  const v = o[k];
  if (nullable && (v === null || v === undefined)) return null;
  if (typeof v !== "number" || !Number.isFinite(v)) throw corrupt(path, `"${k}" must be a number`);
  return v;
}

function str(o: Obj, k: string, path: string, nullable = false, max = 4096): string | null {
  const v = o[k];
  if (nullable && (v === null || v === undefined)) return null;
  if (typeof v !== "string" || v.length > max) throw corrupt(path, `"${k}" must be a string`);
  return v;
}

/** Address-like fields must not carry CR, LF or NUL even if the file was tampered with. */
function addr(o: Obj, k: string, path: string, nullable = false): string | null {
  const v = str(o, k, path, nullable, 2048);
  if (v !== null && CONTROL.test(v)) throw corrupt(path, `"${k}" contains a control character`);
  return v;
}

function notifyField(o: Obj, k: string, path: string): DsnNotify | null {
  try {
    return checkNotify(o[k], k);
  } catch {
    throw corrupt(path, `"${k}" is invalid`);
  }
}

/**
 * Parses and checks a stored record. The JSON is parsed as data only; every
 * field is type-checked and unknown fields are dropped.
 *
 * @throws {QueueError} When the bytes are not a valid record for `expectedId`.
 */
export function decodeRecord(bytes: Uint8Array, expectedId: string, path: string): QueueRecord {
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw corrupt(path, e instanceof Error ? e.message : "bad JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw corrupt(path, "not an object");
  const o = doc as Obj;
  if (o.v !== 1) throw corrupt(path, `unknown version ${JSON.stringify(o.v)}`);
  if (o.id !== expectedId) throw corrupt(path, `id ${JSON.stringify(o.id)} does not match the file name`);
  if (!Array.isArray(o.recipients) || o.recipients.length === 0) throw corrupt(path, `"recipients" must be a non-empty array`);
  const recipients = o.recipients.map((x: unknown): RecipientRecord => {
    if (typeof x !== "object" || x === null) throw corrupt(path, "a recipient is not an object");
    const r = x as Obj;
    const state = r.state;
    if (state !== "pending" && state !== "delivered" && state !== "failed") throw corrupt(path, "bad recipient state");
    return {
      address: addr(r, "address", path)!,
      notify: notifyField(r, "notify", path),
      orcpt: addr(r, "orcpt", path, true),
      state,
      code: num(r, "code", path, true),
      enhancedCode: str(r, "enhancedCode", path, true, 32),
      message: str(r, "message", path, true),
      at: num(r, "at", path, true),
    };
  });
  let lastError: QueueLastError | null = null;
  if (o.lastError !== null && o.lastError !== undefined) {
    if (typeof o.lastError !== "object") throw corrupt(path, `"lastError" must be an object`);
    const e = o.lastError as Obj;
    lastError = {
      message: str(e, "message", path)!,
      code: num(e, "code", path, true),
      enhancedCode: str(e, "enhancedCode", path, true, 32),
      phase: str(e, "phase", path, true, 32),
      temporary: e.temporary === true,
      at: num(e, "at", path)!,
    };
  }
  const dsnReturn = o.dsnReturn ?? null;
  if (dsnReturn !== null && dsnReturn !== "FULL" && dsnReturn !== "HDRS") throw corrupt(path, `bad "dsnReturn"`);
  let server: QueueServer | null;
  try {
    // Records written before one-off server settings existed have none.
    server = checkServer(o.server, `"server"`);
  } catch (e) {
    throw corrupt(path, e instanceof Error ? e.message : `bad "server"`);
  }
  const failReason = o.failReason ?? null;
  if (failReason !== null && failReason !== "rejected" && failReason !== "expired" && failReason !== "unreadable") {
    throw corrupt(path, `bad "failReason"`);
  }
  return {
    v: 1,
    id: expectedId,
    createdAt: num(o, "createdAt", path)!,
    size: num(o, "size", path)!,
    eightBit: o.eightBit === true,
    from: addr(o, "from", path)!,
    recipients,
    account: addr(o, "account", path, true),
    server,
    dsnReturn,
    dsnEnvelopeId: addr(o, "dsnEnvelopeId", path, true),
    dsnNotify: notifyField(o, "dsnNotify", path),
    smtpUtf8: o.smtpUtf8 === true,
    attempts: num(o, "attempts", path)!,
    lastAttemptAt: num(o, "lastAttemptAt", path, true),
    nextAttemptAt: num(o, "nextAttemptAt", path, true),
    lastError,
    failReason,
  };
}

/** The public, read-only view of a record. */
export function toEntry(r: QueueRecord, status: QueueStatus, now: number): QueueEntry {
  const recipients: QueueRecipient[] = r.recipients.map((x) => ({
    address: x.address,
    ...(x.notify !== null ? { notify: x.notify } : {}),
    ...(x.orcpt !== null ? { orcpt: x.orcpt } : {}),
    state: x.state,
    code: x.code,
    enhancedCode: x.enhancedCode,
    message: x.message,
    at: x.at,
  }));
  return Object.freeze({
    id: r.id,
    status,
    createdAt: r.createdAt,
    age: Math.max(0, now - r.createdAt),
    size: r.size,
    eightBit: r.eightBit,
    from: r.from,
    recipients: Object.freeze(recipients),
    account: r.account,
    server: r.server,
    dsnReturn: r.dsnReturn,
    dsnEnvelopeId: r.dsnEnvelopeId,
    dsnNotify: r.dsnNotify,
    smtpUtf8: r.smtpUtf8,
    attempts: r.attempts,
    lastAttemptAt: r.lastAttemptAt,
    nextAttemptAt: status === "failed" ? null : r.nextAttemptAt,
    lastError: r.lastError,
    failReason: r.failReason,
  });
}

/** Resolved backoff settings. */
export interface Backoff {
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

/** Postfix's defaults: 300 s minimal, 4000 s maximal backoff, doubling. */
export function resolveBackoff(b: BackoffOptions | undefined): Backoff {
  const r = { initialMs: b?.initialMs ?? 300_000, factor: b?.factor ?? 2, maxMs: b?.maxMs ?? 4_000_000 };
  if (!(r.initialMs >= 0) || !Number.isFinite(r.initialMs)) throw new RangeError("Backoff \"initialMs\" must be a non-negative number");
  if (!(r.factor >= 1) || !Number.isFinite(r.factor)) throw new RangeError("Backoff \"factor\" must be a number ≥ 1");
  if (!(r.maxMs >= r.initialMs) || !Number.isFinite(r.maxMs)) throw new RangeError("Backoff \"maxMs\" must be ≥ \"initialMs\"");
  return r;
}

/** Delay before the next attempt after `attempts` (≥ 1) failed attempts. */
export function backoffDelay(b: Backoff, attempts: number): number {
  return Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, attempts - 1)));
}
