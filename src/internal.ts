/**
 * The library as the `smtpsend` command sees it: the public API of `mod.ts`
 * plus the few helpers the CLI shares with the library that are not public.
 *
 * Build only (see `tsup.config.ts`): this becomes `dist/internal.js`, which
 * imports `./mod.js` for everything public, so the package ships the library
 * once: `bin/smtpsend.js` holds only the CLI's own code and imports the rest
 * from here. It is not a package export (`package.json` "exports" does not
 * list it) and not part of the API; what it adds may change in any release.
 *
 * When the CLI starts using another library function that `mod.ts` does not
 * export, add it below (keep it to small, pure helpers: whatever is listed
 * here is bundled into `dist/internal.js` a second time, beside `mod.js`;
 * `tests/build_test.ts` bounds that and rejects any class).
 *
 * @module
 */
export * from "../mod.ts";
export { assertDisplayName, flattenAddresses } from "./message/address.ts";
export { parseHeaderBlock } from "./message/headers.ts";
export { collectBytes } from "./protocol/bytes.ts";
export { envelopeIdValue } from "./protocol/xtext.ts";
export { SUPPORTED_MECHANISMS } from "./sasl/select.ts";
export { defaultEndpoint } from "./options.ts";
