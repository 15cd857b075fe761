/**
 * `--serverinfo` (msmtp's `-S`): connect (with STARTTLS per the account, no
 * authentication), report what the server says about itself, and quit.
 *
 * @module
 */
import type { Config } from "../config/account.ts";
import type { Account } from "../config/types.ts";
import type { ServerInfo } from "../options.ts";
import type { CliContext } from "./context.ts";
import { connectClient } from "./deliver.ts";
import { EX_OK, noteKeywordStyle } from "./errors.ts";
import { accountFor, clientOptions, serverOf } from "./resolve.ts";

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/g;

function clean(s: string): string {
  return s.replace(CONTROL, "?");
}

function mib(octets: number): string {
  return `${(octets / 1048576).toFixed(2)} MiB`;
}

/**
 * Formats what a session learnt about the server.
 *
 * @param server Host, port and TLS mode used.
 * @param info The session's {@link ServerInfo}.
 * @returns Text lines ending in a newline.
 * @example
 * ```ts
 * host.writeStdout(formatServerInfo({ host: "mx", port: 25, tls: "starttls-opportunistic" }, client.serverInfo));
 * ```
 */
export function formatServerInfo(server: { host: string; port: number; tls: string }, info: ServerInfo): string {
  const out: string[] = [];
  out.push(`SMTP server at ${server.host}, port ${server.port} (TLS mode: ${server.tls})`);
  const g = info.greeting;
  out.push("Greeting:");
  for (const l of g.lines) out.push(`    ${g.code} ${clean(l)}`);
  const tls = info.tls;
  if (tls) {
    out.push("TLS session:");
    out.push(`    Protocol: ${tls.protocol !== undefined ? clean(tls.protocol) : "(not reported by this runtime)"}`);
    out.push(`    Cipher: ${tls.cipher !== undefined ? clean(tls.cipher) : "(not reported by this runtime)"}`);
    const c = tls.peerCertificate;
    if (c) {
      if (c.subject !== undefined) out.push(`    Certificate subject: ${clean(c.subject)}`);
      if (c.issuer !== undefined) out.push(`    Certificate issuer: ${clean(c.issuer)}`);
      if (c.validTo !== undefined) out.push(`    Certificate expires: ${clean(c.validTo)}`);
      if (c.fingerprint256 !== undefined) out.push(`    SHA-256 fingerprint: ${clean(c.fingerprint256)}`);
    }
  } else {
    out.push("TLS session: none (the connection is not encrypted)");
  }
  const caps = info.capabilities;
  if (caps) {
    out.push("Capabilities:");
    out.push(`    ${clean(caps.greeting)}`);
    for (const [k, v] of caps.keywords) out.push(`    ${clean([k, ...v].join(" "))}`);
    out.push(`Authentication mechanisms: ${caps.auth.length ? caps.auth.map(clean).join(" ") : "none offered"}${tls ? "" : caps.startTls ? " (before STARTTLS)" : ""}`);
    out.push(
      `Maximum message size: ${
        caps.size === null ? "not announced" : caps.size === 0 ? "no fixed limit" : `${caps.size} octets (${mib(caps.size)})`
      }`,
    );
  } else {
    out.push("Capabilities: none (the server does not speak ESMTP; HELO was used)");
  }
  return out.join("\n") + "\n";
}

/**
 * Runs `--serverinfo`.
 *
 * @param ctx The environment.
 * @param config The configuration.
 * @returns The exit status.
 */
export async function runServerInfo(ctx: CliContext, config: Config): Promise<number> {
  const account = accountFor(config, ctx.args);
  try {
    return await serverInfo(ctx, account);
  } catch (e) {
    noteKeywordStyle(e, account.source.format);
    throw e;
  }
}

async function serverInfo(ctx: CliContext, account: Account): Promise<number> {
  const server = serverOf(account);
  const options = await clientOptions(account, {
    host: ctx.host,
    connector: ctx.connector,
    ...(ctx.tracer.hook ? { trace: ctx.tracer.hook } : {}),
  });
  const client = await connectClient(options);
  try {
    ctx.host.writeStdout(formatServerInfo({ host: server.host, port: client.port, tls: client.tlsMode }, client.serverInfo));
  } finally {
    await client.quit();
  }
  return EX_OK;
}
