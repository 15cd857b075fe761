/**
 * Throughput: many messages over ONE connection to Postfix's smtp-sink on
 * loopback, measured side by side in one run for smtpsend, Nodemailer (pooled
 * single connection) and Postfix's own smtp-source. Prints figures; asserts
 * nothing.
 *
 *   node --import tsx bench/throughput.ts [--messages 2000] [--size 2000] [--runs 3] [--warmup 1000]
 *   bun bench/throughput.ts …        deno run -A bench/throughput.ts …
 *
 * Each contender first sends `--warmup` untimed messages (JIT warm-up; 0 to
 * skip), then `--runs` timed runs; every run's figure is printed, since on a
 * shared machine the spread matters. Nodemailer runs only under Node and Bun.
 *
 * Loopback ping-pong on a small VM is bound by cross-CPU wake-up latency, not
 * by the client: with idle vCPUs every round trip pays for waking a halted
 * vCPU, so msg/s moves 5-10x with machine state and with where the scheduler
 * puts the client and smtp-sink — for smtp-source as much as for smtpsend.
 * Compare within one run only. To measure the cost per message instead, pin
 * everything to one CPU (smtp-sink and smtp-source inherit the affinity):
 *
 *   taskset -c 0 node --import tsx bench/throughput.ts …
 *
 * "cpu µs/msg" is this process's user+system CPU time per message (median
 * run), which does not depend on wake-up latency (in-process clients only).
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { SmtpClient } from "../mod.ts";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MESSAGES = arg("messages", 2000);
const SIZE = arg("size", 2000);
const RUNS = arg("runs", 3);
const WARMUP = arg("warmup", 1000);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function message(i: number): string {
  const head = `From: bench@example.org\r\nTo: sink@example.org\r\nSubject: message ${i}\r\nMessage-ID: <${i}.bench@example.org>\r\n\r\n`;
  const line = "0123456789".repeat(7) + "\r\n"; // 72 octets
  return head + line.repeat(Math.max(1, Math.floor((SIZE - head.length) / line.length)));
}

/** Wall time and this process's CPU time (user + system), both in ms. */
async function timeIt(fn: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

/** The CPUs this process may run on (Linux), e.g. "0" under `taskset -c 0`. */
function cpusAllowed(): string {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "?";
  } catch {
    return "?";
  }
}

/** Which path smtpsend takes against this smtp-sink (it offers PIPELINING; CHUNKING depends on the Postfix version). */
async function smtpsendPath(port: number): Promise<string> {
  const client = await SmtpClient.connect({ host: "127.0.0.1", port, tls: "none" });
  const caps = client.capabilities;
  await client.quit();
  const pipe = caps?.pipelining ? "pipelined " : "";
  return caps?.chunking ? `${pipe}MAIL/RCPT, then BDAT` : `${pipe}MAIL/RCPT/DATA, then the message`;
}

async function smtpsend(port: number, messages = MESSAGES): Promise<void> {
  const client = await SmtpClient.connect({ host: "127.0.0.1", port, tls: "none" });
  try {
    for (let i = 0; i < messages; i++) {
      await client.send({ from: "bench@example.org", to: ["sink@example.org"], data: message(i) });
    }
  } finally {
    await client.quit();
  }
}

async function nodemailer(port: number, messages = MESSAGES): Promise<void> {
  const nm = (await import("nodemailer" as string)).default;
  const transport = nm.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    ignoreTLS: true,
    pool: true,
    maxConnections: 1,
    maxMessages: Infinity,
  });
  try {
    for (let i = 0; i < messages; i++) {
      await transport.sendMail({ envelope: { from: "bench@example.org", to: ["sink@example.org"] }, raw: message(i) });
    }
  } finally {
    transport.close();
  }
}

async function smtpSource(port: number, messages = MESSAGES): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn("smtp-source", ["-d", "-s", "1", "-m", String(messages), "-l", String(SIZE), "-f", "bench@example.org", "-t", "sink@example.org", `127.0.0.1:${port}`], { stdio: "ignore" });
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exited ${code}`))));
  });
}

async function main(): Promise<void> {
  if (spawnSync("smtp-sink", [], { stdio: "ignore" }).error) throw new Error("smtp-sink not found (apt-get install postfix)");
  const port = await freePort();
  // smtp-sink refuses to run as root without dropping privileges.
  const asRoot = process.getuid?.() === 0 ? ["-u", "nobody"] : [];
  const sink = spawn("smtp-sink", [...asRoot, `127.0.0.1:${port}`, "256"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 300));
  const runtime = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
    ? "deno"
    : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined" ? "bun" : `node ${process.version}`;
  console.log(`throughput: ${MESSAGES} messages of ~${SIZE} octets over one connection to smtp-sink, ${RUNS} runs (after ${WARMUP} warm-up messages), runtime ${runtime}`);
  console.log(`smtpsend path: ${await smtpsendPath(port)}; CPUs allowed: ${cpusAllowed()}`);
  const contenders: [string, (p: number, messages?: number) => Promise<void>][] = [["smtpsend", smtpsend], ["smtp-source (Postfix, C)", smtpSource]];
  if (runtime !== "deno") contenders.splice(1, 0, ["nodemailer (pool, 1 conn)", nodemailer]);
  try {
    console.log(
      `${"client".padEnd(28)} ${"best msg/s".padStart(11)} ${"median msg/s".padStart(13)} ${"ms/msg".padStart(8)} ${"cpu µs/msg".padStart(11)}  every run (msg/s)`,
    );
    const mid = <T>(xs: T[], cmp: (a: T, b: T) => number): T => [...xs].sort(cmp)[Math.floor(xs.length / 2)]!;
    for (const [name, fn] of contenders) {
      if (WARMUP > 0) await fn(port, WARMUP);
      const runs: { wall: number; cpu: number }[] = [];
      for (let r = 0; r < RUNS; r++) runs.push(await timeIt(() => fn(port)));
      const rates = runs.map((x) => MESSAGES / (x.wall / 1000));
      const best = Math.max(...rates);
      const median = mid(rates, (a, b) => a - b);
      const cpu = fn === smtpSource ? "-" : (mid(runs.map((x) => x.cpu), (a, b) => a - b) * 1000 / MESSAGES).toFixed(1);
      console.log(
        `${name.padEnd(28)} ${best.toFixed(0).padStart(11)} ${median.toFixed(0).padStart(13)} ${(1000 / median).toFixed(3).padStart(8)} ${cpu.padStart(11)}  ${rates.map((x) => x.toFixed(0)).join(" ")}`,
      );
    }
  } finally {
    sink.kill();
  }
}

await main();
