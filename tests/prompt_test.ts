/**
 * Host.prompt() talks to the controlling terminal, not stdin (which carries
 * the message in sendmail mode), and hides passwords. A real pseudo-terminal
 * comes from script(1); keys are typed only after the prompt appears.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runtimeCommand } from "./support/runtime_command.ts";

const child = fileURLToPath(new URL("./support/prompt_child.ts", import.meta.url));

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

test("prompt() reads the terminal with stdin redirected, without echoing the password", async () => {
  const cmd = [...runtimeCommand(), child].map(quote).join(" ") + " < /dev/null";
  const p = spawn("script", ["-qec", cmd, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  const typed: string[] = [];
  const done = new Promise<number | null>((resolve) => p.on("exit", resolve));
  const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
  p.stdout.on("data", (d: Uint8Array) => {
    out += new TextDecoder().decode(d);
    if (out.includes("Password: ") && !typed.includes("pw")) {
      typed.push("pw");
      p.stdin.write("s3cr3t\r");
    }
    if (out.includes("User: ") && !typed.includes("user")) {
      typed.push("user");
      p.stdin.write("bob\r");
    }
  });
  const code = await done;
  clearTimeout(timer);
  p.stdin.destroy();
  assert.equal(code, 0, out);
  assert.match(out, /result \{"pw":"s3cr3t","user":"bob"\}/);
  const beforeResult = out.slice(0, out.indexOf("result"));
  assert.ok(!beforeResult.includes("s3cr3t"), `password echoed: ${JSON.stringify(out)}`);
  assert.ok(beforeResult.includes("bob"), "the user name is echoed");
});
