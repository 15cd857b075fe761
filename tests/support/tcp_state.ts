/**
 * What the SERVER's end of a loopback TCP connection looks like, read from the kernel's
 * socket table (`/proc/net/tcp`, Linux): whether a real server saw our connection end.
 * Uses only `node:fs`, so it works on Node, Bun and Deno.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import type { Connector } from "../../deps.ts";

/** Kernel TCP states (include/net/tcp_states.h), by their hex code in /proc/net/tcp. */
const STATES: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN_SENT",
  "03": "SYN_RECV",
  "04": "FIN_WAIT1",
  "05": "FIN_WAIT2",
  "06": "TIME_WAIT",
  "07": "CLOSE",
  "08": "CLOSE_WAIT",
  "09": "LAST_ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
};

const hexPort = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");

/**
 * The state of the server's socket of the connection 127.0.0.1:clientPort → 127.0.0.1:serverPort.
 * @param serverPort The server's listening port.
 * @param clientPort Our local port.
 * @returns `"ESTABLISHED"`, `"CLOSE_WAIT"`, … or `"GONE"` when the kernel no longer has it.
 */
export function serverSideState(serverPort: number, clientPort: number): string {
  const local = `0100007F:${hexPort(serverPort)}`;
  const remote = `0100007F:${hexPort(clientPort)}`;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote && f[3] !== undefined) return STATES[f[3]] ?? f[3];
  }
  return "GONE";
}

/**
 * States in which both ends have closed: the server got our FIN (or RST) and closed its own end,
 * and we closed ours. ESTABLISHED and CLOSE_WAIT mean the server has not seen the end or not acted
 * on it yet; FIN_WAIT1/2 mean the server closed and we never did.
 */
const ENDED = new Set(["GONE", "TIME_WAIT", "CLOSE", "LAST_ACK", "CLOSING"]);

/**
 * Polls until the server's end of the connection has closed on both sides, at most `polls` times
 * `intervalMs` apart (a bound on the loop, not a timed assertion).
 * @param serverPort The server's listening port.
 * @param clientPort Our local port.
 * @param polls How many looks (default 50).
 * @param intervalMs Pause between looks (default 100).
 * @returns The states seen, first to last.
 * @throws {Error} naming the states seen when the connection is still open after the last look.
 */
export async function waitServerSawEnd(
  serverPort: number,
  clientPort: number,
  polls = 50,
  intervalMs = 100,
): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < polls; i++) {
    const state = serverSideState(serverPort, clientPort);
    if (seen[seen.length - 1] !== state) seen.push(state);
    if (ENDED.has(state)) return seen;
    await new Promise<void>((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `The server's end of 127.0.0.1:${clientPort} -> 127.0.0.1:${serverPort} is still open after ${polls} looks ` +
      `${intervalMs} ms apart (states seen: ${seen.join(" -> ")})`,
  );
}

/**
 * A connector that records the local port of every connection it opens.
 * @param real The connector doing the work.
 * @returns The wrapping connector and the ports, in connection order.
 */
export function portRecorder(real: Connector): { connector: Connector; ports: number[] } {
  const ports: number[] = [];
  return {
    ports,
    connector: {
      name: `port-recording ${real.name}`,
      async connect(options) {
        const t = await real.connect(options);
        if (t.localAddress) ports.push(t.localAddress.port);
        return t;
      },
    },
  };
}
