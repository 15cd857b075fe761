/**
 * Host services for the queue tests and the crash worker: the adapter of the
 * runtime running the test (deps.ts `runtime()`), never a stand-in. If the
 * adapter does not load, or is not the one for this runtime, the tests fail
 * (a queue that only works through a node:fs fallback is a broken queue).
 * Plus a fault-injecting wrapper.
 */
import type { Connector, Host, Runtime } from "../../deps.ts";
import { testRuntime } from "./runtime_command.ts";

let loaded: Promise<Runtime> | undefined;

/** The runtime adapter for the runtime running this file; rejects (with the cause) when it fails to load. */
function adapter(): Promise<Runtime> {
  loaded ??= (async () => {
    const want = testRuntime();
    let rt: Runtime;
    try {
      const { runtime } = await import("../../deps.ts");
      rt = await runtime();
    } catch (e) {
      throw new Error(`the ${want} runtime adapter failed to load: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (rt.name !== want || rt.connector.name !== want) {
      throw new Error(`runtime() picked the "${rt.name}" adapter (connector "${rt.connector.name}") on ${want}`);
    }
    return rt;
  })();
  return loaded;
}

/** The runtime adapter's Host (and its name, for messages). */
export async function testHost(): Promise<{ host: Host; name: string }> {
  const rt = await adapter();
  return { host: rt.host, name: `${rt.name} adapter` };
}

/** The runtime adapter's Connector. */
export async function testConnector(): Promise<Connector> {
  return (await adapter()).connector;
}

/** Which Host method call to fail, and how. */
export interface Fault {
  /** Method name, e.g. "writeFile", "rename", "syncDir". */
  readonly op: keyof Host;
  /** Only calls whose first argument matches. */
  readonly path?: RegExp;
  /** The error code to throw (default "ENOSPC"). */
  readonly code?: string;
  /** Skip this many matching calls first. */
  readonly after?: number;
  /** For writeFile: create the file with a few bytes first, as a real half-done write would. */
  readonly partial?: boolean;
}

/** Every method of the Host interface (adapters may keep them on a prototype, so Object.keys will not do). */
export const HOST_METHODS: readonly (keyof Host)[] = [
  "env", "homeDir", "hostname", "pid", "readFile", "readStream", "stat", "writeFile", "appendFile", "rename", "remove",
  "mkdir", "readDir", "syncDir", "run", "stdin", "writeStderr", "writeStdout", "isTerminal", "prompt",
];

/** A Host that throws `code` errors on the matching calls; `calls` records every file operation. */
export function faultyHost(base: Host, faults: Fault[]): Host & { calls: string[] } {
  const seen = new Map<Fault, number>();
  const calls: string[] = [];
  const wrapped: Record<string, unknown> = { calls };
  for (const key of HOST_METHODS) {
    const fn = base[key] as unknown as (...a: unknown[]) => unknown;
    if (typeof fn !== "function") continue;
    wrapped[key] = (...args: unknown[]) => {
      if (typeof args[0] === "string") calls.push(`${key} ${args[0]}`);
      for (const f of faults) {
        if (f.op !== key || (f.path && !f.path.test(String(args[0])))) continue;
        const n = seen.get(f) ?? 0;
        seen.set(f, n + 1);
        if (n < (f.after ?? 0)) continue;
        const code = f.code ?? "ENOSPC";
        const err = Object.assign(new Error(`${code}: injected failure, ${key} '${String(args[0])}'`), { code });
        if (key === "readStream") throw err;
        if (f.partial && key === "writeFile") {
          const opts = args[2] as Parameters<Host["writeFile"]>[2];
          return base.writeFile(String(args[0]), new Uint8Array([70, 114, 111]), { ...opts, sync: false })
            .then(() => Promise.reject(err));
        }
        return Promise.reject(err);
      }
      return fn.apply(base, args);
    };
  }
  return wrapped as unknown as Host & { calls: string[] };
}
