#!/usr/bin/env node
// Counts the code a printer must port: what stands behind the firmware's native host API
// (docs/host-api.md; issue 14 wants it at most 600 lines).
//
// The rule (also printed, and stated in docs/host-api.md):
//   1. Start from the files that implement the global `host` for QuickJS: host-shim/src/native/
//      quickjs-host.ts (the binding), native-host.ts (the functions) and disk-file.ts (the disk).
//   2. Add every host-shim/src or firmware-module/src/ops module they import, transitively: relative `import ... from`,
//      `import type ... from` and `export ... from` specifiers alike (a type-only import is
//      counted: its module is still code the port has to understand). Packages (quickjs-emscripten,
//      node:*) and files outside host-shim/src are not followed.
//   3. Leave out firmware-module/src/ops/abi.ts: it is generated from as-core/contract/core-abi.json, and
//      a C host gets the same numbers from the generated header.
//   4. In each file count the lines that are neither blank nor only comment: a line counts when
//      something other than whitespace is left after removing // and /* */ comments (string and
//      template literals are skipped so that "//" inside them is not a comment).
//
// `node host-shim/tools/native-lines.js` prints a table; `--json` prints the same as JSON.
// require()d, it exports count() (firmware-module/contract/generate.js writes the total into
// docs/host-api.md; test/bench/firmware-bench.js records it).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..", "..");
// Followed: the Node host, and the portable modules it imports (the device interface, the
// errors): a C host writes its own, so they count. The layers over the disk (window, guard, trap,
// 512-byte view) are the wasm core's (layerOpen), which a printer runs as it is.
const FOLLOWED = ["host-shim/src", "firmware-module/src/ops"];
const START = [
  "host-shim/src/native/quickjs-host.ts",
  "host-shim/src/native/native-host.ts",
  "host-shim/src/native/disk-file.ts",
];
const EXCLUDED = {
  "firmware-module/src/ops/abi.ts": "generated from as-core/contract/core-abi.json",
  "firmware-module/src/host-api.ts": "generated from firmware-module/contract/host-api.json",
};

const RULE = [
  `start: ${START.join(", ")} (the global host for QuickJS, its functions, and the disk device it runs on)`,
  `follow: every ${FOLLOWED.join(" or ")} module they import, transitively (import, import type, export from)`,
  `exclude: ${Object.entries(EXCLUDED)
    .map(([f, why]) => `${f} (${why})`)
    .join(", ")}`,
  "count: lines with something besides whitespace once // and /* */ comments are removed",
];

/** The text of `source` with its comments replaced by spaces (newlines kept). */
function stripComments(source) {
  let out = "";
  let i = 0;
  const n = source.length;
  const skipString = (quote) => {
    // copies a '...' or "..." literal, or a `...` template with its ${...} parts, as it is
    out += source[i++];
    while (i < n && source[i] !== quote) {
      if (source[i] === "\\") out += source[i++];
      else if (quote === "`" && source[i] === "$" && source[i + 1] === "{") {
        let depth = 0;
        do {
          if (source[i] === "{") depth++;
          else if (source[i] === "}") depth--;
          out += source[i++];
        } while (i < n && depth > 0);
        continue;
      }
      if (i < n) out += source[i++];
    }
    if (i < n) out += source[i++];
  };
  while (i < n) {
    const c = source[i],
      next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < n && source[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      skipString(c);
    } else {
      out += source[i++];
    }
  }
  return out;
}

/** Lines that count (rule 4). */
function codeLines(source) {
  return stripComments(source)
    .split("\n")
    .filter((l) => l.trim() !== "").length;
}

/** The host-shim/src files a file imports (relative specifiers only), as repo-relative paths. */
function importsOf(file, source) {
  const found = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/g;
  for (const m of stripComments(source).matchAll(re)) {
    const spec = m[1];
    if (!spec.startsWith(".")) continue;
    const base = path.join(path.dirname(file), spec);
    const hit = [`${base}.ts`, path.join(base, "index.ts")].find((f) => fs.existsSync(path.join(ROOT, f)));
    if (hit && FOLLOWED.some((d) => hit.startsWith(`${d}/`))) found.push(hit);
  }
  return found;
}

/** Node built-ins a file imports (node:fs, ...). */
function nodeImports(source) {
  return [...new Set([...stripComments(source).matchAll(/from\s*["'](node:[^"']+)["']/g)].map((m) => m[1]))].sort();
}

/** The count, per the rule: files in the order they were reached, each with the file that reached it. */
function count(root = ROOT) {
  if (root !== ROOT) throw new Error("count() counts this checkout only");
  const files = [];
  const seen = new Set();
  const queue = START.map((f) => ({ file: f, from: "(start)" }));
  while (queue.length) {
    const { file, from } = queue.shift();
    if (seen.has(file)) continue;
    seen.add(file);
    const source = fs.readFileSync(path.join(ROOT, file), "utf8");
    for (const dep of importsOf(file, source)) if (!seen.has(dep)) queue.push({ file: dep, from: file });
    if (EXCLUDED[file]) continue;
    files.push({
      file,
      lines: codeLines(source),
      rawLines: source.split("\n").length - (source.endsWith("\n") ? 1 : 0),
      node: nodeImports(source),
      from,
    });
  }
  const total = files.reduce((s, f) => s + f.lines, 0);
  const native = files.filter((f) => f.file.startsWith("host-shim/")).reduce((s, f) => s + f.lines, 0);
  return { rule: RULE, files, total, nodeOnly: native, portable: total - native, excluded: Object.keys(EXCLUDED) };
}

function main() {
  const c = count();
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(c, null, 2));
    return;
  }
  console.log("Code behind the firmware's host API, which a printer ports (host-shim/tools/native-lines.js)");
  for (const r of c.rule) console.log(`  ${r}`);
  console.log("");
  const w = Math.max(...c.files.map((f) => f.file.length));
  console.log(`${"file".padEnd(w)}  ${"lines".padStart(5)}  ${"of".padStart(5)}  node: imports`);
  for (const f of [...c.files].sort((a, b) => b.lines - a.lines))
    console.log(
      `${f.file.padEnd(w)}  ${String(f.lines).padStart(5)}  ${String(f.rawLines).padStart(5)}  ${f.node.join(" ")}`,
    );
  console.log(`${"total".padEnd(w)}  ${String(c.total).padStart(5)}  in ${c.files.length} files`);
  console.log(
    `  of which Node-only (host-shim): ${c.nodeOnly}; portable modules it imports (firmware-module/src/ops): ${c.portable}`,
  );
}

module.exports = { count, codeLines, stripComments, RULE };
if (require.main === module) main();
