/** The smtpsend version; kept equal to `package.json` and `jsr.json` by a test. */
export const VERSION = "0.1.0";
