/**
 * The entry point's {@link SmtpClient}: the driver of `src/client.ts` plus
 * the runtime's own connector when the options name none. `mod.ts`,
 * `send()` and the queue's deliverer use this one; the driver module itself
 * has no import path to `src/runtime/*`, so a program that passes its own
 * `connector` to the `SmtpClient` of `src/client.ts` bundles no `node:*`,
 * `Deno.*` or `Bun.*` code.
 *
 * @module
 */
import { type Connector, runtime } from "../deps.ts";
import { SmtpClient as Driver } from "./client.ts";

/**
 * One SMTP session; without `options.connector` it connects through the
 * adapter for the current runtime (Deno, Bun or Node), loaded on first use.
 * Everything else is {@link Driver | the driver's}.
 *
 * @example
 * ```ts
 * const client = await SmtpClient.connect({ host: "mail.example.org", port: 587, auth: { user: "me", pass: "pw" } });
 * ```
 */
export class SmtpClient extends Driver {
  /**
   * The runtime's connector.
   *
   * @returns The adapter's connector for the runtime this runs on.
   */
  protected override async defaultConnector(): Promise<Connector> {
    return (await runtime()).connector;
  }
}
