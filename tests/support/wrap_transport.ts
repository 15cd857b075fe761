/**
 * Test connectors that sit on a real (or fake) transport: one pass-through
 * mechanism, with only the methods a test changes replaced.
 */
import { type Connector, runtime, type Transport } from "../../deps.ts";

/** The methods a wrapper may replace. */
export type TransportOverrides = Partial<Pick<Transport, "read" | "write" | "startTls" | "close">>;

/**
 * A {@link Transport} that forwards to `t`, with some methods replaced.
 *
 * @param t The transport underneath.
 * @param over The replaced methods.
 * @returns The wrapper.
 */
export function wrapTransport(t: Transport, over: TransportOverrides): Transport {
  return {
    read: over.read ?? (() => t.read()),
    write: over.write ?? ((d) => t.write(d)),
    startTls: over.startTls ?? ((o) => t.startTls(o)),
    close: over.close ?? (() => t.close()),
    get tls() {
      return t.tls;
    },
    get localAddress() {
      return t.localAddress;
    },
    get remoteAddress() {
      return t.remoteAddress;
    },
  };
}

/**
 * A Connector over the runtime's own that records every write() as text,
 * and each STARTTLS handshake as `"<starttls handshake>"`.
 *
 * @returns The connector and the list it fills.
 */
export async function recordingConnector(): Promise<{ connector: Connector; writes: string[] }> {
  const real = (await runtime()).connector;
  const writes: string[] = [];
  const dec = new TextDecoder();
  return {
    writes,
    connector: {
      name: `recording ${real.name}`,
      async connect(o) {
        const t = await real.connect(o);
        return wrapTransport(t, {
          write: (d) => {
            writes.push(dec.decode(d));
            return t.write(d);
          },
          startTls: (x) => {
            writes.push("<starttls handshake>");
            return t.startTls(x);
          },
        });
      },
    },
  };
}
