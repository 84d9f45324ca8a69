#!/usr/bin/env node
// Generates, from the one declaration of the firmware <-> host API (firmware-module/contract/host-api.json):
//   firmware-module/src/host-api.ts   the HostApi interface and the types of its JSON results and parameters
//   docs/host-api.md                  the C integrator's reference
// `node firmware-module/contract/generate.js` writes them; `--check` writes nothing and exits 1 when
// a generated file differs from what the declaration gives (test/host-api.test.ts runs it). The
// count of Node-only lines in docs/host-api.md (host-shim/tools/native-lines.js) is a measurement,
// not part of the contract: every build writes it afresh, and --check does not hold it.
// require()d, it exports load() (the declaration, checked, with x-enum-from filled in) and
// schemaOf() (a self-contained JSON Schema, for test/host-api.test.ts).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..", "..");
const SOURCE = "firmware-module/contract/host-api.json";
const HEAD = `generated from ${SOURCE} by firmware-module/contract/generate.js: do not edit`;
const COUNT_BEGIN =
  "<!-- native-lines: written by every build (host-shim/tools/native-lines.js), not held by --check -->";
const COUNT_END = "<!-- /native-lines -->";

// The JSON Schema keywords the declaration may use: the ones device-profiles/src/profile.ts's
// validateAgainstSchema interprets, $ref, and two of ours (x-enum-from, x-ts-import).
const KEYWORDS = new Set([
  "description",
  "type",
  "properties",
  "required",
  "additionalProperties",
  "enum",
  "const",
  "items",
  "oneOf",
  "$ref",
  "x-enum-from",
  "x-ts-import",
]);
const PARAM_TYPES = new Set(["int", "f64", "string", "json", "bytes", "f64[]"]);
const RESULT_TYPES = new Set(["void", "int", "f64", "bool", "string", "json", "bytes"]);
/** The groups of the native API, in the order the docs list them. */
const DUTIES = {
  natural: "natural duties: clock, log, profile, panel, cancel",
  devices: "devices: the disk, layers over it, sector I/O",
  core: "the wasm core: calls and memory copies",
  crypto: "crypto primitives",
};

// ---- the declaration -------------------------------------------------------------------------
function load() {
  const api = JSON.parse(fs.readFileSync(path.join(root, SOURCE), "utf8"));
  fillEnums(api);
  validate(api);
  return api;
}

/** x-enum-from "core-abi.json Phase text": the texts of that enum of the core's contract, and "?". */
function fillEnums(api) {
  const coreAbi = JSON.parse(fs.readFileSync(path.join(root, "as-core", "contract", "core-abi.json"), "utf8"));
  const visit = (s) => {
    if (!s || typeof s !== "object") return;
    if (s["x-enum-from"]) {
      const m = /^core-abi\.json (\w+) text$/.exec(s["x-enum-from"]);
      const e = m && coreAbi.enums.find((x) => x.name === m[1]);
      if (!e) throw new Error(`${SOURCE}: x-enum-from "${s["x-enum-from"]}" names no enum of core-abi.json`);
      s.enum = [...e.members.map((x) => x.text), "?"];
    }
    for (const v of Object.values(s)) if (typeof v === "object") visit(v);
  };
  visit(api.types);
  visit(api.functions);
}

function validate(api) {
  const problems = [];
  const checkSchema = (s, where) => {
    if (typeof s !== "object" || s === null) return problems.push(`${where}: not a schema object`);
    for (const k of Object.keys(s)) if (!KEYWORDS.has(k)) problems.push(`${where}: keyword ${k} is not in the subset`);
    if (s.$ref?.startsWith("#/types/") && !api.types[s.$ref.slice(8)]) problems.push(`${where}: no type ${s.$ref}`);
    if (s.$ref && !s.$ref.startsWith("#/types/") && !fs.existsSync(path.join(root, s.$ref)))
      problems.push(`${where}: ${s.$ref} does not exist`);
    if (s.required)
      for (const r of s.required) if (!s.properties?.[r]) problems.push(`${where}: required ${r} undeclared`);
    for (const [k, v] of Object.entries(s.properties ?? {})) checkSchema(v, `${where}.${k}`);
    if (s.items) checkSchema(s.items, `${where}[]`);
    (s.oneOf ?? []).forEach((v, i) => checkSchema(v, `${where}.oneOf[${i}]`));
  };
  for (const [name, s] of Object.entries(api.types)) {
    checkSchema(s, `types.${name}`);
    if (!s.description) problems.push(`types.${name}: no description`);
  }
  for (const c of api.constants ?? [])
    if (!/^[A-Z][A-Z0-9_]*$/.test(c.name) || !Number.isSafeInteger(c.value) || !c.doc)
      problems.push(`constants.${c.name}: an upper-case name, a whole value and a doc`);
  for (const k of ["intro", "binding", "bindingC", "guarantees", "duties", "checklist"])
    if (!Array.isArray(api[k]) || api[k].length === 0) problems.push(`${k}: a list of paragraphs is missing`);
  const names = new Set();
  for (const f of api.functions) {
    const at = `functions.${f.name}`;
    if (names.has(f.name)) problems.push(`${at}: declared twice`);
    names.add(f.name);
    for (const k of ["doc", "blocks", "lifetime", "node"]) if (!f[k]) problems.push(`${at}: no ${k}`);
    if (!DUTIES[f.duty]) problems.push(`${at}: duty ${f.duty} (${Object.keys(DUTIES).join(", ")})`);
    if (!Array.isArray(f.errors)) problems.push(`${at}: errors must be a list (empty: never throws)`);
    for (const p of f.params) {
      if (!PARAM_TYPES.has(p.type)) problems.push(`${at}.${p.name}: type ${p.type}`);
      if (p.type === "json") checkSchema(p.schema ?? {}, `${at}.${p.name}`);
      if (p.schemaBy) {
        const by = f.params.find((x) => x.name === p.schemaBy.param);
        if (!by?.enum) problems.push(`${at}.${p.name}: schemaBy names ${p.schemaBy.param}, not an enum parameter`);
        for (const v of by?.enum ?? [])
          if (!p.schemaBy.cases[v]) problems.push(`${at}.${p.name}: no schema for ${p.schemaBy.param} ${v}`);
        for (const [v, s] of Object.entries(p.schemaBy.cases)) checkSchema(s, `${at}.${p.name} (${v})`);
      }
    }
    if (!RESULT_TYPES.has(f.result.type)) problems.push(`${at}: result type ${f.result.type}`);
    if (f.result.type === "json") checkSchema(f.result.schema ?? {}, `${at} result`);
  }
  // the bundle's own functions, which the native side calls (section 8)
  if (!Array.isArray(api.firmware?.about) || !Array.isArray(api.firmware?.functions))
    problems.push("firmware: about (paragraphs) and functions are missing");
  for (const f of api.firmware?.functions ?? []) {
    if (!f.name || !f.doc || !f.result) problems.push(`firmware.${f.name}: a name, a doc and a result`);
    if (f.arg) checkSchema(f.arg, `firmware.${f.name} argument`);
    if (f.result) checkSchema(f.result, `firmware.${f.name} result`);
  }
  if (problems.length) throw new Error(`${SOURCE} is inconsistent:\n  ${problems.join("\n  ")}`);
}

/** A self-contained JSON Schema for `schema` (its $refs inlined, the profile's schema file read in). */
function schemaOf(api, schema) {
  const inline = (s) => {
    if (Array.isArray(s)) return s.map(inline);
    if (!s || typeof s !== "object") return s;
    if (s.$ref?.startsWith("#/types/")) return inline(api.types[s.$ref.slice(8)]);
    if (s.$ref) return JSON.parse(fs.readFileSync(path.join(root, s.$ref), "utf8"));
    const out = {};
    for (const [k, v] of Object.entries(s)) if (!k.startsWith("x-")) out[k] = inline(v);
    return out;
  };
  return inline(schema);
}

// ---- TypeScript -------------------------------------------------------------------------------
const refName = (s) => s.$ref.slice("#/types/".length);
function tsOf(s) {
  if (s.$ref?.startsWith("#/types/")) return refName(s);
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.oneOf) return s.oneOf.map(tsOf).join(" | ");
  if (s.type === "integer" || s.type === "number") return "number";
  if (s.type === "null") return "null";
  if (s.type === "string" || s.type === "boolean") return s.type;
  if (s.type === "array") {
    const t = tsOf(s.items);
    return /[ |]/.test(t) ? `Array<${t}>` : `${t}[]`;
  }
  if (s.type === "object" && s.properties)
    return `{ ${Object.entries(s.properties)
      .map(([k, v]) => `${k}${s.required?.includes(k) ? "" : "?"}: ${tsOf(v)}`)
      .join("; ")} }`;
  return "unknown";
}
const jsdoc = (text, indent = "") => (text ? [`${indent}/** ${text.replace(/\*\//g, "* /")} */`] : []);
const tsParam = (p) =>
  p.type === "int" || p.type === "f64"
    ? "number"
    : p.type === "bytes"
      ? "ArrayBuffer"
      : p.type === "f64[]"
        ? "number[]"
        : p.enum
          ? p.enum.map((v) => JSON.stringify(v)).join(" | ")
          : "string";
const tsResult = {
  void: "void",
  int: "number",
  f64: "number",
  bool: "boolean",
  string: "string",
  json: "string",
  bytes: "ArrayBuffer",
};

function genTs(api) {
  const out = [`// The firmware's host API: ${HEAD}.`, "// docs/host-api.md is the integrator's reference.", ""];
  const imports = Object.values(api.types).filter((t) => t["x-ts-import"]);
  for (const t of imports)
    out.push(
      `import type { ${t["x-ts-import"].name} } from ${JSON.stringify(t["x-ts-import"].from)};`,
      `export type { ${t["x-ts-import"].name} };`,
    );
  if (imports.length) out.push("");
  for (const [name, s] of Object.entries(api.types)) {
    if (s["x-ts-import"]) continue;
    if (s.type === "object" && s.properties) {
      out.push(...jsdoc(s.description), `export interface ${name} {`);
      for (const [k, v] of Object.entries(s.properties))
        out.push(...jsdoc(v.description, "  "), `  ${k}${s.required?.includes(k) ? "" : "?"}: ${tsOf(v)};`);
      out.push("}", "");
    } else {
      out.push(...jsdoc(s.description), `export type ${name} = ${tsOf(s)};`, "");
    }
  }
  for (const c of api.constants ?? []) out.push(...jsdoc(c.doc), `export const ${c.name} = ${c.value};`, "");
  out.push(
    `/** The global \`${api.global}\` the native side installs in QuickJS before the firmware bundle runs. */`,
    "export interface HostApi {",
  );
  for (const f of api.functions) {
    const lines = [f.doc];
    for (const p of f.params.filter((x) => x.type === "json")) lines.push(`@param ${p.name} JSON: ${tsOf(p.schema)}`);
    if (f.result.type === "json") lines.push(`@returns JSON: ${tsOf(f.result.schema)}`);
    if (f.errors.length) lines.push(`@throws ${[...new Set(f.errors.map((e) => e.name))].join(", ")}`);
    out.push("  /**", ...lines.map((l) => `   * ${l.replace(/\*\//g, "* /")}`), "   */");
    out.push(`  ${f.name}(${f.params.map((p) => `${p.name}: ${tsParam(p)}`).join(", ")}): ${tsResult[f.result.type]};`);
  }
  out.push("}", "");
  out.push("/** What each host function that returns JSON returns, decoded. */", "export interface HostJsonResults {");
  for (const f of api.functions.filter((x) => x.result.type === "json"))
    out.push(`  ${f.name}: ${tsOf(f.result.schema)};`);
  out.push("}", "");
  out.push(
    `/** The names of the functions, in declaration order. */`,
    `export const HOST_FUNCTIONS = ${JSON.stringify(api.functions.map((f) => f.name))} as const;`,
    "",
    "/** Each function's parameter and result types, as declared (a host converts values by them). */",
    `export const HOST_SIGNATURES: Record<(typeof HOST_FUNCTIONS)[number], { params: readonly string[]; result: string }> = ${JSON.stringify(Object.fromEntries(api.functions.map((f) => [f.name, { params: f.params.map((p) => p.type), result: f.result.type }])))};`,
  );
  return out.join("\n") + "\n";
}

// ---- C binding --------------------------------------------------------------------------------
const snake = (s) => s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
function cSignature(f) {
  const args = [];
  for (const p of f.params) {
    const n = snake(p.name);
    if (p.type === "int") args.push(`int32_t ${n}`);
    else if (p.type === "f64") args.push(`double ${n}`);
    else if (p.type === "bytes") args.push(`const uint8_t *${n}`, `size_t ${n}_len`);
    else if (p.type === "f64[]") args.push(`const double *${n}`, `size_t ${n}_len`);
    else args.push(`const char *${n}`, `size_t ${n}_len`);
  }
  const fails = f.errors.length > 0;
  const t = f.result.type;
  const cScalar = { int: "int32_t", f64: "double", bool: "bool" }[t];
  let ret = "void";
  if (t === "json" || t === "string") args.push("cb_str *out");
  else if (t === "bytes") args.push("cb_bytes *out");
  else if (cScalar && fails) args.push(`${cScalar} *out`);
  else if (cScalar) ret = cScalar;
  if (fails) {
    args.push("cb_err *err");
    ret = "int";
  }
  return `${ret} cb_host_${snake(f.name)}(${args.join(", ") || "void"})`;
}

// ---- docs -------------------------------------------------------------------------------------
const cell = (s) =>
  String(s ?? "")
    .replace(/\|/g, "\\|")
    .replace(/\n/g, " ");
function shapeText(s) {
  if (s.$ref?.startsWith("#/types/")) return `[${refName(s)}](#${refName(s).toLowerCase()})`;
  if (s.type === "array") return `array of ${shapeText(s.items)}`;
  if (s.oneOf) return s.oneOf.map(shapeText).join(" or ");
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(", ");
  if (s.type === "object" && s.properties)
    return `object {${Object.entries(s.properties)
      .map(([k, v]) => ` ${k}${s.required?.includes(k) ? "" : "?"}: ${shapeText(v)}`)
      .join(",")} }`;
  return s.type ?? "any";
}
/** A JSON parameter's shape; one whose shape another parameter decides says which for which. */
const paramShape = (p) =>
  p.schemaBy
    ? Object.entries(p.schemaBy.cases)
        .map(([v, s]) => `${shapeText(s)} when ${p.schemaBy.param} is \`"${v}"\``)
        .join("; ")
    : shapeText(p.schema);
const jsSig = (f) =>
  `${f.name}(${f.params.map((p) => `${p.name}: ${p.type}`).join(", ")}): ${f.result.type === "json" ? `json ${shapeText(f.result.schema).replace(/\[([^\]]+)\]\([^)]*\)/g, "$1")}` : f.result.type}`;

function genDoc(api, nativeCount) {
  const md = [];
  md.push("# The firmware's host API: reference for a native integrator", "", `<!-- ${HEAD} -->`, "");
  md.push(`API version ${api.apiVersion}. ${api.about}`, "");
  md.push(api.intro.join("\n\n"), "");
  md.push("## 1. The functions", "");
  md.push("| function | C binding | duty | may block |", "|---|---|---|---|");
  for (const f of api.functions)
    md.push(
      `| [\`${f.name}\`](#${f.name.toLowerCase()}) | \`${cSignature(f)}\` | ${f.duty} | ${cell(f.blocks.split(/[:;]/)[0])} |`,
    );
  md.push("");
  md.push("## 2. How values cross", "");
  md.push(api.binding.join("\n\n"), "");
  md.push(
    "The API's limits (C: `#define CB_HOST_<NAME>`; the firmware and the Node host take them from host-api.ts):",
    "",
  );
  md.push("| constant | value | meaning |", "|---|---:|---|");
  for (const c of api.constants ?? []) md.push(`| \`${c.name}\` | ${c.value} | ${cell(c.doc)} |`);
  md.push("");
  md.push("```c", ...api.bindingC, "```", "");
  md.push("## 3. Each function", "");
  for (const f of api.functions) {
    md.push(`### ${f.name}`, "");
    md.push("```c", cSignature(f), "```", "");
    md.push(`JavaScript: \`${f.name}(${f.params.map((p) => p.name).join(", ")})\` — ${jsSig(f)}.`, "");
    md.push(f.doc, "");
    if (f.params.length) {
      md.push("| argument | type | meaning |", "|---|---|---|");
      for (const p of f.params)
        md.push(
          `| \`${p.name}\` | ${p.type}${p.enum ? `: ${p.enum.map((v) => `\`"${v}"\``).join(", ")}` : ""}${p.type === "json" ? ` ${paramShape(p)}` : ""} | ${cell(p.doc)} |`,
        );
      md.push("");
    }
    const r = f.result;
    md.push(`**Result:** ${r.type === "json" ? `JSON, ${shapeText(r.schema)}` : r.type}.`, "");
    if (f.errors.length) {
      md.push("**Errors** (the call throws; C: returns -1 with `err` filled):", "", "| name | when |", "|---|---|");
      for (const e of f.errors) md.push(`| ${e.name} | ${cell(e.when)} |`);
      md.push("");
      if (f.afterError) md.push(`After an error: ${f.afterError}.`, "");
    } else md.push("**Errors:** none: the native side must not fail this call.", "");
    md.push(`**Blocks:** ${f.blocks}.`, "");
    if (f.lifetime !== "-") md.push(`**Lifetime:** ${f.lifetime}.`, "");
    md.push(`**Group:** ${DUTIES[f.duty]}. Node: ${f.node}.`, "");
  }
  md.push("## 4. Shapes of the JSON", "");
  md.push(
    "Each shape is declared as a JSON Schema in `firmware-module/contract/host-api.json` (types); the tables below are generated from it. A field without `required` may be absent (never `null`). Numbers are JSON numbers (IEEE doubles: integers exact below 2^53).",
    "",
  );
  for (const [name, s] of Object.entries(api.types)) {
    md.push(`### ${name}`, "", s.description, "");
    if (s.properties) {
      md.push("| field | type | required | meaning |", "|---|---|---|---|");
      for (const [k, v] of Object.entries(s.properties))
        md.push(
          `| \`${k}\` | ${cell(shapeText(v))} | ${s.required?.includes(k) ? "yes" : "no"} | ${cell(v.description)} |`,
        );
      md.push("");
    } else if (s.oneOf || s.enum) md.push(`One of: ${shapeText(s)}.`, "");
    else if (s.$ref) md.push(`Schema: \`${s.$ref}\`.`, "");
  }
  md.push("## 5. What the native side must guarantee", "");
  for (const g of api.guarantees) md.push(`- ${g}`);
  md.push("");
  md.push("## 6. What is native, and what is not", "");
  md.push(api.duties.join("\n\n"), "");
  md.push("| group | functions |", "|---|---|");
  for (const [k, text] of Object.entries(DUTIES))
    md.push(
      `| ${text} | ${api.functions
        .filter((f) => f.duty === k)
        .map((f) => `\`${f.name}\``)
        .join(", ")} |`,
    );
  md.push("");
  md.push(COUNT_BEGIN, countText(nativeCount), COUNT_END, "");
  md.push("## 7. Porting checklist", "");
  api.checklist.forEach((c, i) => md.push(`${i + 1}. ${c}`));
  md.push("");
  md.push("## 8. The firmware's functions (what the native side calls)", "");
  md.push(api.firmware.about.join("\n\n"), "");
  md.push("| function | argument (a JSON text) | result (a JSON text) | what it does |", "|---|---|---|---|");
  for (const f of api.firmware.functions)
    md.push(
      `| \`firmware.${f.name}(${f.arg ? "json" : ""})\` | ${f.arg ? cell(shapeText(f.arg)) : "none"} | ${cell(shapeText(f.result))} | ${cell(f.doc)} |`,
    );
  md.push("");
  return md.join("\n");
}

function countText(c) {
  const rows = [...c.files].sort((a, b) => b.lines - a.lines);
  return [
    "",
    `**The code behind this API, which a printer ports: ${c.total} lines in ${c.files.length} files** (\`npm run count:native\`, host-shim/tools/native-lines.js; issue 14's target is at most 600). Of these, ${c.nodeOnly} are the Node host's own (host-shim/src/native: they use node: modules), and ${c.portable} are portable modules it imports (firmware-module/src/ops: the block device interface and the device errors), which a C host writes in its own terms. The layers over the disk (window, write guard, read-failure trap, 512-byte view) are not counted: they are the wasm core's (layerOpen), which a printer runs as it is. The wasm instance is held by host-shim/src/native/wasm-core.ts; the CLI's Core (core.ts, with its background writer) wraps it and is not counted. The rule:`,
    "",
    ...c.rule.map((r) => `- ${r}`),
    "",
    "| file | lines counted | node: imports |",
    "|---|---:|---|",
    ...rows.map((f) => `| ${f.file} | ${f.lines} | ${f.node.join(", ")} |`),
    "",
  ].join("\n");
}

/** `text` with the native-lines block taken out (what --check compares). */
const withoutCount = (text) => text.replace(new RegExp(`${COUNT_BEGIN}[\\s\\S]*?${COUNT_END}`), "");

function main() {
  const api = load();
  const { count } = require(path.join(root, "host-shim", "tools", "native-lines.js"));
  const outputs = [
    ["firmware-module/src/host-api.ts", genTs(api), (x) => x],
    ["docs/host-api.md", genDoc(api, count()), withoutCount],
  ];
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [file, text, held] of outputs) {
    const full = path.join(root, file);
    const now = fs.existsSync(full) ? fs.readFileSync(full, "utf8") : null;
    if (now !== null && held(now) === held(text) && (check || now === text)) continue;
    if (check) {
      console.error(`${file} is not what ${SOURCE} gives: run node firmware-module/contract/generate.js`);
      stale++;
      continue;
    }
    fs.writeFileSync(full, text);
  }
  process.exit(stale ? 1 : 0);
}

module.exports = { load, schemaOf, cSignature, genTs, genDoc, withoutCount };
if (require.main === module) main();
