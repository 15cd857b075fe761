/**
 * The protocol trace of `-v` (standard error) and `-X FILE` (appended, with
 * timestamps, file created with mode 0600).
 *
 * Lines: `-> ` what the client sent, `<- ` what the server answered, `-- `
 * notes (connecting, TLS, MDA runs). The client already replaces AUTH
 * payloads with `<redacted>`; as a second line of defence this printer also
 * replaces every secret it was told about (and its base64 forms) and turns
 * control characters a hostile server might send into `?`.
 *
 * @module
 */
import type { Host } from "../../deps.ts";
import type { TraceEvent } from "../options.ts";

const MARK: Readonly<Record<TraceEvent["direction"], string>> = { send: "->", recv: "<-", info: "--" };

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Where trace lines go. */
export interface TracerOptions {
  /** `-v`: print to standard error. */
  readonly verbose: boolean;
  /** `-X FILE`: append here. */
  readonly file?: string;
  /** The clock for `-X` timestamps. */
  readonly now: () => Date;
}

/** Formats, redacts and writes trace lines. */
export class Tracer {
  readonly #host: Host;
  readonly #options: TracerOptions;
  readonly #secrets: string[] = [];
  #pending: Promise<void> = Promise.resolve();
  #fileFailed = false;

  /**
   * @param host Standard error and file access.
   * @param options `-v`, `-X FILE`, clock.
   */
  constructor(host: Host, options: TracerOptions) {
    this.#host = host;
    this.#options = options;
  }

  /** Whether any trace output is wanted. */
  get enabled(): boolean {
    return this.#options.verbose || this.#options.file !== undefined;
  }

  /**
   * Registers a secret (password, token, passphrase): it and its base64 form
   * never appear in the trace.
   *
   * @param secret The secret.
   * @param user The user name, for the base64 of a SASL PLAIN response.
   */
  addSecret(secret: string, user?: string): void {
    if (secret.length < 3) {
      // Too short to replace safely everywhere; the client's redaction covers the AUTH lines.
      return;
    }
    const forms = [secret, base64(secret)];
    if (user !== undefined) forms.push(base64(`\0${user}\0${secret}`), base64(`${user}\0${user}\0${secret}`));
    for (const f of forms) if (!this.#secrets.includes(f)) this.#secrets.push(f);
    this.#secrets.sort((a, b) => b.length - a.length);
  }

  /** The hook for `ClientOptions.trace`, or `undefined` when tracing is off. */
  get hook(): ((event: TraceEvent) => void) | undefined {
    return this.enabled ? (event) => this.line(event.direction, event.line) : undefined;
  }

  /**
   * Writes a note (`-- text`).
   *
   * @param text The note.
   */
  note(text: string): void {
    if (this.enabled) this.line("info", text);
  }

  /**
   * Writes one trace line.
   *
   * @param direction Its direction.
   * @param raw The line as the client reported it.
   */
  line(direction: TraceEvent["direction"], raw: string): void {
    let text = raw;
    for (const s of this.#secrets) text = text.split(s).join("<redacted>");
    text = text.replace(CONTROL, "?");
    const out = `${MARK[direction]} ${text}\n`;
    if (this.#options.verbose) this.#host.writeStderr(out);
    const file = this.#options.file;
    if (file !== undefined && !this.#fileFailed) {
      const data = new TextEncoder().encode(`${this.#options.now().toISOString()} ${out}`);
      this.#pending = this.#pending.then(() =>
        this.#host.appendFile(file, data, { mode: 0o600 }).catch((e: unknown) => {
          if (!this.#fileFailed) {
            this.#fileFailed = true;
            this.#host.writeStderr(`smtpsend: warning: cannot write the trace file "${file}": ${(e as Error)?.message ?? e}\n`);
          }
        })
      );
    }
  }

  /** Waits until every line is written to the `-X` file. */
  async flush(): Promise<void> {
    await this.#pending;
  }
}
