/**
 * A reply before a reset: how often Exim's 552 to a refused BDAT chunk reaches
 * the caller when Exim then resets the connection while the client is still
 * writing the chunk. Counts outcomes; asserts nothing.
 *
 *   set -a; . $SMTPSEND_TEST_DIR/env; set +a   # after scripts/test-servers.sh start
 *   N=100 node --import tsx bench/reply_before_reset.ts     (also bun / deno run -A)
 *
 * Since RFC 1870 §6 is enforced the client never sends a real server more than
 * its advertised SIZE, so the case no longer arises with EXIM_SMALL as is: this
 * script hides SIZE from the client (it strips the line from the EHLO reply)
 * so that it sends a 1.5 MB stream as a 1 MiB chunk, the way a client would
 * to a server whose limit it cannot know. Outcomes: `ReplyError 552 bdat` (the
 * reply was read) or `ConnectionError bdat` (lost to the reset: the Node
 * adapter could not read it before the socket was destroyed).
 */
import { SmtpClient } from "../src/default_client.ts";
import { ReplyError } from "../src/errors.ts";
import { type Connector, runtime, type Transport } from "../deps.ts";
import { eximServer, servers } from "../tests/support/servers.ts";
import process from "node:process";

const S = servers();
const X = eximServer();
const real = (await runtime()).connector;
const hideSize: Connector = {
  name: "hide SIZE",
  async connect(o) {
    const t = await real.connect(o);
    const dec = new TextDecoder(), enc = new TextEncoder();
    return {
      read: async () => {
        const c = await t.read();
        if (c === null) return c;
        const s = dec.decode(c);
        return /250[- ]SIZE/.test(s) ? enc.encode(s.replace(/250-SIZE \d+\r\n/, "")) : c;
      },
      write: (d: Uint8Array) => t.write(d),
      startTls: (x) => t.startTls(x),
      close: () => t.close(),
      get tls() { return t.tls; },
      get localAddress() { return t.localAddress; },
      get remoteAddress() { return t.remoteAddress; },
    };
  },
};
const N = Number(process.env.N ?? 20);
const big = new TextEncoder().encode("Subject: race\r\n\r\n" + `${"y".repeat(76)}\r\n`.repeat(20000));
const outcomes: Record<string, number> = {};
for (let i = 0; i < N; i++) {
  const c = await SmtpClient.connect({ host: S.host, port: X.smallPort, tls: "none", connector: hideSize, name: "client.smtpsend.test" });
  if (c.capabilities?.size !== null) throw new Error("SIZE not hidden");
  let k: string;
  try {
    await c.send({ from: "sender@example.org", to: [`user@${S.domain}`], data: (async function* () { for (let j = 0; j < big.length; j += 8192) yield big.subarray(j, j + 8192); })() });
    k = "delivered?!";
  } catch (e) {
    k = e instanceof ReplyError ? `ReplyError ${e.code} ${e.phase}` : `${(e as Error).constructor.name} ${(e as { phase?: string }).phase}`;
  }
  c.close();
  outcomes[k] = (outcomes[k] ?? 0) + 1;
}
console.log(JSON.stringify({ runtime: (await runtime()).connector.name, N, outcomes }));
