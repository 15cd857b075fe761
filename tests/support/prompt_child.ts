// Child for tests/prompt_test.ts: prompts twice on the terminal while stdin is /dev/null.
import { runtime } from "../../deps.ts";

const { host } = await runtime();
const pw = await host.prompt("Password: ", { echo: false });
const user = await host.prompt("User: ");
host.writeStdout(`result ${JSON.stringify({ pw, user })}\n`);
