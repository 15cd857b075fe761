/**
 * Memory bench: composes a message with a 50 MiB attachment read as a stream
 * (from a generator, or from a real file with --file) and drains it, sampling
 * RSS. Prints baseline and peak RSS; the peak should stay far below the
 * attachment size (the composer holds about one chunk at a time).
 *
 * Usage (any runtime):
 *   node --import tsx bench/compose_memory.ts [--file] [--mib N]
 *   bun bench/compose_memory.ts [--file]
 *   deno run -A bench/compose_memory.ts [--file]
 */

import process from "node:process";
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compose } from "../src/message/compose.ts";

const args = process.argv.slice(2);
const useFile = args.includes("--file");
const mibArg = args.indexOf("--mib");
const MIB = mibArg >= 0 ? Number(args[mibArg + 1]) : 50;
const CHUNK = 64 * 1024;
const TOTAL = MIB * 1024 * 1024;

const rss = (): number => process.memoryUsage().rss;
const mb = (n: number): string => (n / 1024 / 1024).toFixed(1) + " MiB";

async function* generated(): AsyncGenerator<Uint8Array> {
  for (let sent = 0; sent < TOTAL; sent += CHUNK) {
    const c = new Uint8Array(Math.min(CHUNK, TOTAL - sent));
    for (let i = 0; i < c.length; i += 4096) c[i] = (sent + i) & 255;
    yield c;
  }
}

let dir: string | undefined;
let path: string | undefined;
if (useFile) {
  dir = mkdtempSync(join(tmpdir(), "smtpsend-bench-"));
  path = join(dir, "big.bin");
  for (let i = 0; i < MIB; i++) writeFileSync(path, new Uint8Array(1024 * 1024).fill(i & 255), { flag: i ? "a" : "w" });
}

(globalThis as { gc?: () => void }).gc?.();
const baseline = rss();
let peak = baseline;
const timer = setInterval(() => (peak = Math.max(peak, rss())), 5);
const t0 = performance.now();

const msg = compose({
  from: "bench@example.org",
  to: "sink@example.net",
  subject: "50 MiB attachment",
  text: "See the attachment.\n",
  attachments: [useFile ? { path: path! } : { filename: "big.bin", content: generated() }],
  openFile: (p) => createReadStream(p, { highWaterMark: CHUNK }) as unknown as AsyncIterable<Uint8Array>,
});
let out = 0;
for await (const chunk of msg.stream()) {
  out += chunk.length;
  peak = Math.max(peak, rss());
}
clearInterval(timer);
const secs = (performance.now() - t0) / 1000;
if (dir) rmSync(dir, { recursive: true, force: true });

const runtime = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
  ? "deno"
  : typeof (globalThis as { Bun?: unknown }).Bun !== "undefined"
  ? "bun"
  : "node";
console.log(
  `${runtime}: ${MIB} MiB attachment (${useFile ? "file" : "generator"}) -> ${mb(out)} message in ${secs.toFixed(2)} s` +
    ` (${(TOTAL / 1024 / 1024 / secs).toFixed(0)} MiB/s); RSS baseline ${mb(baseline)}, peak ${mb(peak)}, growth ${mb(peak - baseline)}`,
);
