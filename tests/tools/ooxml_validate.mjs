// Validate several OOXML files with Microsoft's Open XML SDK (compiled to WebAssembly,
// npm @ooxml-tools/validate), loading it once.  Usage:
//   node ooxml_validate.mjs NODE_MODULES_DIR OFFICE_VERSION FILE...
// Prints one JSON object: {file: [{id, description, path}...]}.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [modules, version, ...files] = process.argv.slice(2);
const entry = path.join(modules, "@ooxml-tools", "validate", "dist", "npm", "index.js");
const lib = await import(pathToFileURL(entry).href);
const out = {};
for (const f of files) {
  const data = new Uint8Array(await readFile(f));
  out[f] = await lib.default(data, "xlsx", version);
}
process.stdout.write(JSON.stringify(out));
