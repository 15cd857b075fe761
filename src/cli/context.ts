/**
 * What every CLI mode works with: the injectable environment (Host and
 * Connector, so tests run the CLI in-process on every runtime), the parsed
 * command line and the trace.
 *
 * @module
 */
import type { Connector, Host } from "../../deps.ts";
import type { CliArgs } from "./args.ts";
import type { Tracer } from "./trace.ts";

/** The environment `main()` runs in. The real command uses the runtime's adapter. */
export interface CliIo {
  /** Files, processes, standard streams, terminal. */
  readonly host: Host;
  /** Opens SMTP connections. */
  readonly connector: Connector;
  /** The clock (for `Date:`, trace timestamps). Default `() => new Date()`. */
  readonly now?: () => Date;
  /** Random bytes (for `Message-ID:` and MIME boundaries). Default `crypto.getRandomValues`. */
  readonly random?: (n: number) => Uint8Array;
}

/** The environment plus the parsed command line and the trace. */
export interface CliContext {
  /** Files, processes, standard streams, terminal. */
  readonly host: Host;
  /** Opens SMTP connections. */
  readonly connector: Connector;
  /** The clock. */
  readonly now: () => Date;
  /** Random bytes, or `undefined` for `crypto.getRandomValues`. */
  readonly random: ((n: number) => Uint8Array) | undefined;
  /** The parsed command line. */
  readonly args: CliArgs;
  /** The `-v` / `-X` trace. */
  readonly tracer: Tracer;
}
