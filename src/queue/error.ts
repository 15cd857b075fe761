/**
 * The queue's error type and the mapping from operating-system errors.
 * @module
 */
import { SmtpError } from "../errors.ts";

/** OS error codes after which trying again later may succeed. */
const TEMPORARY_CODES: ReadonlySet<string> = new Set([
  "ENOSPC", "EDQUOT", "EIO", "EAGAIN", "EBUSY", "EINTR", "EMFILE", "ENFILE", "ENOMEM", "ETIMEDOUT", "ESTALE",
]);

/**
 * A queue operation failed: the queue directory could not be written or
 * read, is unsafe, or an entry is busy or missing. `phase` is always
 * `"queue"`. `temporary` is `true` for conditions that may clear up on their
 * own (disk full, quota, I/O error, too many open files), so the CLI exits 75
 * (`EX_TEMPFAIL`) for them.
 *
 * @example
 * ```ts
 * try { await queue.enqueue(envelope, data); }
 * catch (e) { if (e instanceof QueueError && e.osCode === "ENOSPC") console.error("disk full"); }
 * ```
 */
export class QueueError extends SmtpError {
  /** The operating system's error name (`"ENOSPC"`, `"EACCES"`, …), when an OS call failed. */
  readonly osCode: string | undefined;
  /** The file or directory concerned, when there is one. */
  readonly path: string | undefined;

  /**
   * Creates a queue error (phase `"queue"`).
   *
   * @param message Sentence-case description; values quoted.
   * @param options OS error code, path, temporariness and cause.
   */
  constructor(
    message: string,
    options: { osCode?: string; path?: string; temporary?: boolean; cause?: unknown } = {},
  ) {
    super(message, { phase: "queue", temporary: options.temporary ?? false, cause: options.cause });
    this.osCode = options.osCode;
    this.path = options.path;
  }
}

/** The POSIX error name carried by a runtime error, if any. */
export function osCodeOf(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
  // Deno's own errors carry the name in the class name (NotFound, AlreadyExists, …).
  const name = (err as { name?: unknown }).name;
  if (name === "NotFound") return "ENOENT";
  if (name === "AlreadyExists") return "EEXIST";
  if (name === "PermissionDenied") return "EACCES";
  return undefined;
}

/** Whether `err` says the file does not exist. */
export function isNotFound(err: unknown): boolean {
  return osCodeOf(err) === "ENOENT";
}

/**
 * Wraps an OS error from `operation` on `path` into a {@link QueueError}
 * (returned, not thrown). A `QueueError` passes through unchanged.
 */
export function queueIoError(operation: string, path: string, err: unknown): QueueError {
  if (err instanceof QueueError) return err;
  const osCode = osCodeOf(err);
  const what = osCode === "ENOSPC"
    ? "no space left on device"
    : osCode === "EDQUOT"
    ? "disk quota exceeded"
    : err instanceof Error
    ? err.message
    : String(err);
  return new QueueError(`Queue: could not ${operation} "${path}": ${what}${osCode ? ` (${osCode})` : ""}`, {
    osCode,
    path,
    temporary: osCode !== undefined && TEMPORARY_CODES.has(osCode),
    cause: err,
  });
}
