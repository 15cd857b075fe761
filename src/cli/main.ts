/**
 * The `smtpsend` command: argument vector in, exit status out. Thin — it
 * parses the command line, loads the configuration and calls the library.
 *
 * `main(argv, io)` takes an injectable environment ({@link CliIo}: a Host and
 * a Connector) so tests run the whole command in-process on Node, Bun and
 * Deno; without one it uses the adapter of the runtime it runs on. Modules a
 * mode does not need (the SMTP session, the composer, the queue) are loaded
 * only when that mode runs.
 *
 * @module
 */
import { VERSION } from "../version.ts";
import { type CliArgs, parseArgs } from "./args.ts";
import type { CliContext, CliIo } from "./context.ts";
import { EX_OK, EX_SOFTWARE, errorLine, exitCodeFor } from "./errors.ts";
import { Tracer } from "./trace.ts";

export type { CliIo } from "./context.ts";

/** Usage text printed by `--help`. */
export const USAGE = `smtpsend ${VERSION} — sendmail-compatible SMTP client

Usage:
  smtpsend [options] [--] recipient...        send the message on standard input
  smtpsend [options] -t [--] [recipient...]   ... to its To:, Cc:, Bcc: (and the arguments)
  smtpsend --subject S [--attach FILE]... [--html FILE] [options] recipient...
                                               compose a message; the body is standard input
  smtpsend --serverinfo [options]             show what the server offers, then quit
  smtpsend --pretend [options]                print the configuration that would be used
  smtpsend -bp | -q | --queue-remove ID       list, flush, or edit the queue

Sendmail options:
  -f ADDR, -r ADDR   envelope sender (also picks the account)    -F NAME    full name for From:
  -t                 read recipients from the message            -i, -oi    accepted; changes nothing
  -v                 protocol trace on standard error            -X FILE    append the trace to FILE
  -C FILE            configuration file                          -a NAME    account / identity
  -N DSN             never | success,failure,delay               -R RET     full | hdrs
  -V ENVID           DSN envelope id                             -B TYPE    7BIT | 8BITMIME
  -odq               queue instead of sending                    -q         send the queue now
  -bp                list the queue                              --         end of options
  Ignored for compatibility: -Ac -Am -bm -bi -c -d X -e X -G -h N -I -L TAG -M X -m -n -O OPT=VAL
  -o X (-oem -om -odi -odb ...) -p PROTO -s -U -x
  The message is read to the end of standard input: a line holding only "." is data, with or
  without -i.

Server and account (override the configuration):
  --host HOST  --port PORT  --tls implicit|starttls|starttls-opportunistic|none
  --user USER  --auth on|off|MECHANISM  --password-eval COMMAND  --helo NAME
  --ca-file FILE  --cert-file FILE  --key-file FILE  --timeout SECONDS
  --allow-plaintext-auth   send credentials without TLS (trusted networks only)
  --tls-no-verify          do not check the server certificate (insecure)

Queue:
  --queue  --queue-on-failure  --flush  --queue-list  --queue-remove ID

  --version  --help

Configuration: -C FILE, else ~/.smtpsendrc, $XDG_CONFIG_HOME/smtpsend/config, ~/.esmtprc,
~/.msmtprc (first found). SMTPSERVER=host[:port] names the server when no file does.
Exit status: sysexits.h (0 sent, 64 usage, 65 data, 67 no such user, 68 no host,
69 unavailable, 75 temporary failure, 76 protocol, 77 permission, 78 configuration).
`;

async function defaultIo(): Promise<CliIo> {
  const { runtime } = await import("../../deps.ts");
  const rt = await runtime();
  return { host: rt.host, connector: rt.connector };
}

async function run(args: CliArgs, io: CliIo, tracer: Tracer): Promise<number> {
  const ctx: CliContext = {
    host: io.host,
    connector: io.connector,
    now: io.now ?? (() => new Date()),
    random: io.random,
    args,
    tracer,
  };
  for (const flag of args.ignored) tracer.note(`ignoring ${flag}`);
  if (args.mode === "newaliases") return EX_OK;
  const { loadConfig } = await import("../config/account.ts");
  const config = await loadConfig(io.host, args.configFile !== undefined ? { configPath: args.configFile } : {});
  if (config.file !== null) tracer.note(`configuration: ${config.file} (${config.format})`);
  for (const w of config.warnings) tracer.note(`warning: ${w}`);

  if (args.pretend) {
    const { accountFor, serverOf } = await import("./resolve.ts");
    const { formatPretend, authinfoSource } = await import("./pretend.ts");
    const account = accountFor(config, args);
    let server;
    try {
      server = serverOf(account);
    } catch (e) {
      server = (e as Error).message;
    }
    const stored = typeof server === "string" ? null : await authinfoSource(io.host, account, server);
    io.host.writeStdout(formatPretend(config, account, server, args, stored));
    return EX_OK;
  }

  switch (args.mode) {
    case "serverinfo":
      return await (await import("./serverinfo.ts")).runServerInfo(ctx, config);
    case "queue-list":
      return await (await import("./queue.ts")).runQueueList(ctx, config);
    case "queue-remove":
      return await (await import("./queue.ts")).runQueueRemove(ctx, config);
    case "flush":
      return await (await import("./queue.ts")).runFlush(ctx, config);
    default:
      return await (await import("./sendmail.ts")).runSend(ctx, config);
  }
}

/**
 * Runs the command line.
 *
 * @param argv Arguments without the program name.
 * @param io The environment; default: the adapter of the current runtime.
 * @returns A `sysexits.h` exit status; errors are reported as one line on
 *   standard error (`smtpsend: …`), never thrown.
 * @example
 * ```ts
 * const code = await main(["-t", "-i"], { host, connector });
 * ```
 */
export async function main(argv: readonly string[], io?: CliIo): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    const write = io ? (t: string) => io.host.writeStderr(t) : (t: string) => console.error(t.trimEnd());
    write(errorLine(e));
    return exitCodeFor(e);
  }
  if (args.mode === "version") {
    if (io) io.host.writeStdout(`smtpsend ${VERSION}\n`);
    else console.log(`smtpsend ${VERSION}`);
    return EX_OK;
  }
  if (args.mode === "help") {
    if (io) io.host.writeStdout(USAGE);
    else console.log(USAGE.trimEnd());
    return EX_OK;
  }
  let env: CliIo;
  try {
    env = io ?? (await defaultIo());
  } catch (e) {
    console.error(`smtpsend: cannot load the runtime adapter: ${(e as Error)?.message ?? e}`);
    return EX_SOFTWARE;
  }
  const tracer = new Tracer(env.host, {
    verbose: args.verbose,
    ...(args.traceFile !== undefined ? { file: args.traceFile } : {}),
    now: env.now ?? (() => new Date()),
  });
  let code: number;
  try {
    code = await run(args, env, tracer);
  } catch (e) {
    env.host.writeStderr(errorLine(e));
    code = exitCodeFor(e);
    if (code === EX_SOFTWARE && args.verbose && e instanceof Error && e.stack) env.host.writeStderr(`${e.stack}\n`);
  }
  await tracer.flush();
  return code;
}
