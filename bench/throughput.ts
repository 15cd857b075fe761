/**
 * Throughput: many messages over ONE connection to Postfix's smtp-sink on
 * loopback, measured side by side in one run for smtpsend, Nodemailer (pooled
 * single connection) and Postfix's own smtp-source. Prints figures; asserts
 * nothing.
 *
 *   node --import tsx bench/throughput.ts [--messages 2000] [--size 2000] [--runs 3]
 *   bun bench/throughput.ts …        deno run -A bench/throughput.ts …
 *
 * Nodemailer runs only under Node and Bun.
 */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { SmtpClient } from "../mod.ts";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MESSAGES = arg("messages", 2000);
const SIZE = arg("size", 2000);
const RUNS = arg("runs", 3);

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

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function smtpsend(port: number): Promise<void> {
  const client = await SmtpClient.connect({ host: "127.0.0.1", port, tls: "none" });
  try {
    for (let i = 0; i < MESSAGES; i++) {
      await client.send({ from: "bench@example.org", to: ["sink@example.org"], data: message(i) });
    }
  } finally {
    await client.quit();
  }
}

async function nodemailer(port: number): Promise<void> {
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
    for (let i = 0; i < MESSAGES; i++) {
      await transport.sendMail({ envelope: { from: "bench@example.org", to: ["sink@example.org"] }, raw: message(i) });
    }
  } finally {
    transport.close();
  }
}

async function smtpSource(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const p = spawn("smtp-source", ["-d", "-s", "1", "-m", String(MESSAGES), "-l", String(SIZE), "-f", "bench@example.org", "-t", "sink@example.org", `127.0.0.1:${port}`], { stdio: "ignore" });
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
  console.log(`throughput: ${MESSAGES} messages of ~${SIZE} octets over one connection to smtp-sink (PIPELINING), ${RUNS} runs, runtime ${runtime}`);
  const contenders: [string, (p: number) => Promise<void>][] = [["smtpsend", smtpsend], ["smtp-source (Postfix, C)", smtpSource]];
  if (runtime !== "deno") contenders.splice(1, 0, ["nodemailer (pool, 1 conn)", nodemailer]);
  try {
    console.log(`${"client".padEnd(28)} ${"best msg/s".padStart(11)} ${"median msg/s".padStart(13)} ${"ms/msg".padStart(8)}`);
    for (const [name, fn] of contenders) {
      const times: number[] = [];
      for (let r = 0; r < RUNS; r++) times.push(await timeIt(() => fn(port)));
      times.sort((a, b) => a - b);
      const best = times[0]!;
      const median = times[Math.floor(times.length / 2)]!;
      console.log(
        `${name.padEnd(28)} ${(MESSAGES / (best / 1000)).toFixed(0).padStart(11)} ${(MESSAGES / (median / 1000)).toFixed(0).padStart(13)} ${(median / MESSAGES).toFixed(3).padStart(8)}`,
      );
    }
  } finally {
    sink.kill();
  }
}

await main();
