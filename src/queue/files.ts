/**
 * File names, ids, owner tags and the crash-safe write used by the queue.
 *
 * Layout of a queue directory (every directory 0700, every file 0600):
 *
 * ```
 * <id>.eml                        the message, exactly as given
 * <id>.json                       envelope and per-recipient state: the entry exists once this is in place
 * <id>.claim.<owner>-<t>-<r>      the same record while a flusher holds it (renamed from <id>.json)
 * tmp/<id>.<eml|json>.<owner>-<r> files being written; renamed into place when complete and fsynced
 * failed/<id>.json, failed/<id>.eml   entries moved aside (5xx, expired, unreadable)
 * ```
 *
 * `<owner>` is `<hosttag>-<pid>-<start>`: a hash of the host name, the
 * process id and the process start time from `/proc/<pid>/stat` (`0` where
 * there is no `/proc`), so a claim or temp file of a dead process on this
 * host can be recognised even when its pid has been reused.
 * @module
 */
import type { Host } from "../../deps.ts";
import { isNotFound, queueIoError } from "./error.ts";

/** Who holds a claim or writes a temp file. */
export interface Owner {
  /** 8 hex digits: FNV-1a of the host name. */
  readonly hostTag: string;
  readonly pid: number;
  /** Process start time in clock ticks since boot, or `"0"` when unknown. */
  readonly start: string;
  /** Whether `/proc/<pid>/stat` could be read for this process (liveness checks possible). */
  readonly proc: boolean;
}

/** A parsed claim file name. */
export interface ClaimName {
  readonly id: string;
  readonly owner: Omit<Owner, "proc">;
  readonly claimedAt: number;
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** `count` random characters from `[0-9a-z]`. */
export function randomToken(count: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(count));
  let s = "";
  for (const b of bytes) s += (b % 36).toString(36);
  return s;
}

let lastIdTime = -1;
let idSeq = 0;

/**
 * A new queue id: the time in base 36 (9 digits), a per-process counter
 * within the same millisecond (2 digits), so ids sort in the order they were
 * made, and 6 random characters.
 */
export function newId(now: number): string {
  const t = Math.max(0, Math.floor(now));
  idSeq = t === lastIdTime ? (idSeq + 1) % 1296 : 0;
  lastIdTime = t;
  return t.toString(36).padStart(9, "0").slice(-9) + idSeq.toString(36).padStart(2, "0") + randomToken(6);
}

/** Start time (field 22 of `/proc/<pid>/stat`); `null` when the process is gone or a zombie; `undefined` when unknown. */
async function procStart(host: Host, pid: number): Promise<string | null | undefined> {
  let text: string;
  try {
    text = new TextDecoder().decode(await host.readFile(`/proc/${pid}/stat`));
  } catch (e) {
    if (!isNotFound(e)) return undefined;
    // ENOENT: gone, provided /proc is there at all.
    return (await host.stat("/proc/self").catch(() => null)) ? null : undefined;
  }
  const close = text.lastIndexOf(")");
  if (close < 0) {
    // Some file APIs read procfs files as empty (size 0): fall back to the directory's existence.
    const st = await host.stat(`/proc/${pid}`).catch(() => null);
    return st ? undefined : null;
  }
  const fields = text.slice(close + 2).trim().split(/\s+/);
  if (fields[0] === "Z" || fields[0] === "X") return null;
  return fields[19] ?? undefined;
}

/** This process as an {@link Owner}. */
export async function currentOwner(host: Host): Promise<Owner> {
  const pid = host.pid();
  const start = await procStart(host, pid).catch(() => undefined);
  return { hostTag: fnv1a(host.hostname()), pid, start: start ?? "0", proc: typeof start === "string" };
}

/** `<hosttag>-<pid>-<start>`. */
export function ownerTag(o: Omit<Owner, "proc">): string {
  return `${o.hostTag}-${o.pid}-${o.start}`;
}

/** What can be told about the process behind a claim or temp file. */
export type Liveness = "alive" | "dead" | "unknown";

/**
 * Whether the owner is alive or dead, when that can be told: same host,
 * `/proc` readable here, and the owner's start time recorded (or its pid
 * gone). A pid that now belongs to a process that started at another time
 * is dead (the pid was reused). `"unknown"` for another host, without
 * `/proc`, or when the owner recorded no start time and its pid exists.
 */
export async function ownerLiveness(host: Host, other: Omit<Owner, "proc">, me: Owner): Promise<Liveness> {
  if (!me.proc || other.hostTag !== me.hostTag) return "unknown";
  if (other.pid === me.pid) {
    if (other.start === "0") return "unknown";
    return other.start === me.start ? "alive" : "dead";
  }
  const start = await procStart(host, other.pid).catch(() => undefined);
  if (start === null) return "dead";
  if (start === undefined || other.start === "0") return "unknown";
  return start === other.start ? "alive" : "dead";
}

/**
 * Whether the owner is certainly dead (see {@link ownerLiveness}); `false`
 * when alive or when it cannot be told.
 */
export async function ownerDead(host: Host, other: Omit<Owner, "proc">, me: Owner): Promise<boolean> {
  return (await ownerLiveness(host, other, me)) === "dead";
}

/** The file name of a new claim on `id` by `owner` at `now`. */
export function claimFileName(id: string, owner: Owner, now: number): string {
  return `${id}.claim.${ownerTag(owner)}-${Math.max(0, Math.floor(now)).toString(36)}-${randomToken(6)}`;
}

/** Parses `<id>.claim.<hosttag>-<pid>-<start>-<t36>-<rand>`; `null` if it is not one. */
export function parseClaimName(name: string): ClaimName | null {
  const m = /^([0-9a-z]{8,40})\.claim\.([0-9a-f]{8})-(\d+)-(\d+)-([0-9a-z]+)-[0-9a-z]+$/.exec(name);
  if (!m) return null;
  return {
    id: m[1]!,
    owner: { hostTag: m[2]!, pid: Number(m[3]), start: m[4]! },
    claimedAt: parseInt(m[5]!, 36),
  };
}

/** Parses the owner out of a temp file name `<id>.<kind>.<hosttag>-<pid>-<start>-<rand>`. */
export function parseTempName(name: string): Omit<Owner, "proc"> | null {
  const m = /^[0-9a-z]{8,40}\.(?:eml|json)\.([0-9a-f]{8})-(\d+)-(\d+)-[0-9a-z]+$/.exec(name);
  return m ? { hostTag: m[1]!, pid: Number(m[2]), start: m[3]! } : null;
}

/** Which files an id has in the main queue directory. */
export interface IdFiles {
  json: boolean;
  eml: boolean;
  claims: string[];
}

/** Groups the main directory's entry names by queue id; other names are ignored. */
export function indexNames(names: readonly string[]): Map<string, IdFiles> {
  const map = new Map<string, IdFiles>();
  const get = (id: string): IdFiles => {
    let f = map.get(id);
    if (!f) map.set(id, f = { json: false, eml: false, claims: [] });
    return f;
  };
  for (const name of names) {
    let m: RegExpExecArray | null;
    if ((m = /^([0-9a-z]{8,40})\.json$/.exec(name))) get(m[1]!).json = true;
    else if ((m = /^([0-9a-z]{8,40})\.eml$/.exec(name))) get(m[1]!).eml = true;
    else if (parseClaimName(name)) get(name.slice(0, name.indexOf(".")))!.claims.push(name);
  }
  return map;
}

/** Removes a file, ignoring every error (used while cleaning up after a failure). */
export async function removeQuietly(host: Host, path: string): Promise<void> {
  try {
    await host.remove(path, { force: true });
  } catch {
    // best effort
  }
}

/** Whether a path exists (errors other than "not found" are reported). */
export async function exists(host: Host, path: string): Promise<boolean> {
  try {
    return (await host.stat(path)) !== null;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw queueIoError("inspect", path, e);
  }
}

/**
 * Writes `data` to `tmpPath` (created exclusively, mode 0600, fsynced) and
 * renames it to `finalPath`. On failure the temp file is removed and a
 * `QueueError` is thrown; `finalPath` is untouched. The caller fsyncs the
 * directory of `finalPath`.
 */
export async function writeAtomically(
  host: Host,
  tmpPath: string,
  finalPath: string,
  data: Uint8Array | AsyncIterable<Uint8Array>,
  sourceFailed?: () => unknown,
): Promise<void> {
  try {
    await host.writeFile(tmpPath, data, { mode: 0o600, exclusive: true, sync: true });
  } catch (e) {
    await removeQuietly(host, tmpPath);
    const fromSource = sourceFailed?.();
    if (fromSource !== undefined) throw fromSource;
    throw queueIoError("write", tmpPath, e);
  }
  try {
    await host.rename(tmpPath, finalPath);
  } catch (e) {
    await removeQuietly(host, tmpPath);
    throw queueIoError("rename into place", finalPath, e);
  }
}
