/**
 * CLI entry logic (argument parsing to exit code). Placeholder until the CLI issue lands:
 * it answers `--version` and `--help` only.
 * @module
 */
import { VERSION } from "../version.ts";

/** Usage text printed by `--help`. */
export const USAGE = `smtpsend ${VERSION} — sendmail-compatible SMTP client

Usage: smtpsend [options] [--] recipient...   (message on standard input)

  --version        print the version and exit
  --help           print this help and exit
`;

/**
 * Runs the command line.
 *
 * @param argv Arguments without the program name.
 * @returns A sysexits.h exit status.
 */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes("--version")) {
    console.log(`smtpsend ${VERSION}`);
    return 0;
  }
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  console.error("smtpsend: sending is not implemented yet; see --help");
  return 64;
}
