/**
 * The runtime boundary. Everything smtpsend does with the outside world goes
 * through two small interfaces, declared beside the adapters in
 * `src/runtime/types.ts` and re-exported here: {@link Transport} (one TCP/TLS
 * connection) and {@link Host} (files, environment, processes, terminal).
 *
 * {@link runtime} picks the adapter for the runtime it finds (Deno, Bun or
 * Node) by feature detection and loads it lazily. Callers may pass their own
 * {@link Connector} (for example on Cloudflare Workers, or in tests).
 *
 * Only this file and `src/runtime/*` may touch `Deno.*`, `Bun.*` or `node:*`.
 *
 * @module
 */

export type {
  NetAddress,
  TlsOptions,
  TlsInfo,
  ConnectOptions,
  Transport,
  Connector,
  FileInfo,
  RunResult,
  Host,
  Runtime,
} from "./src/runtime/types.ts";

import type { Runtime } from "./src/runtime/types.ts";

// Structural declarations of the globals we feature-detect (design note 7).
declare const Deno: { version?: { deno?: string } } | undefined;
declare const Bun: { version?: string } | undefined;

/** Which runtime this code runs on, by feature detection. */
export function detectRuntime(): "deno" | "bun" | "node" {
  if (typeof Deno !== "undefined" && Deno?.version?.deno) return "deno";
  if (typeof Bun !== "undefined" && typeof Bun?.version === "string") return "bun";
  return "node";
}

let cached: Promise<Runtime> | undefined;

/**
 * The adapter for the current runtime, loaded on first use.
 *
 * @returns The runtime's connector and host services.
 * @example
 * ```ts
 * const rt = await runtime();
 * const transport = await rt.connector.connect({ hostname: "127.0.0.1", port: 25 });
 * ```
 */
export function runtime(): Promise<Runtime> {
  cached ??= (async (): Promise<Runtime> => {
    switch (detectRuntime()) {
      case "deno":
        return (await import("./src/runtime/deno.ts")).denoRuntime();
      case "bun":
        return (await import("./src/runtime/bun.ts")).bunRuntime();
      default:
        return (await import("./src/runtime/node.ts")).nodeRuntime();
    }
  })();
  return cached;
}
