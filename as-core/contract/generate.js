#!/usr/bin/env node
// Generates, from the one declaration of the core's contract (as-core/contract/core-abi.json):
//   as-core/assembly/abi.ts           the constants the core uses (AssemblyScript)
//   firmware-module/src/ops/abi.ts              the Node host's constants, export signatures and decoders
//   as-core/include/clusterback_core.h  the same constants for a C host
//   docs/core-abi.md                  the integrator's reference
// `node as-core/contract/generate.js` writes them; `--check` writes nothing and exits 1 when a
// generated file differs from what the declaration gives (test/abi.test.ts runs it).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..", "..");
const abi = JSON.parse(fs.readFileSync(path.join(__dirname, "core-abi.json"), "utf8"));
const HEAD = "generated from as-core/contract/core-abi.json by as-core/contract/generate.js: do not edit";

// ---- names ---------------------------------------------------------------------------------
/** readBack -> READ_BACK; IO -> IO; FAT12 -> FAT12 */
const upper = (s) => (/^[A-Z0-9_]+$/.test(s) ? s : s.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase());
/** READ_BACK -> readBack; IO -> io; FAT12 -> fat12; bytesDone -> bytesDone */
const camel = (s) => (/^[A-Z0-9_]+$/.test(s) ? s.toLowerCase().replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase()) : s);
const cap = (s) => s[0].toUpperCase() + s.slice(1);
/** A result field's host name (Slot key): prefix + Name, or name. */
const slotKey = (rec, f) => (rec.prefix ? rec.prefix + cap(f.name) : f.name);
/** A result field's AssemblyScript name. */
const slotConst = (rec, f) => (rec.relative ? "ENTRY_" : "SLOT_") + upper(slotKey(rec, f));
const enumByName = Object.fromEntries(abi.enums.map((e) => [e.name, e]));
const constant = (name) => {
  const c = abi.constants.find((x) => x.name === name);
  if (!c) throw new Error(`core-abi.json: no constant ${name}`);
  return c.value;
};

// ---- consistency of the declaration itself ---------------------------------------------------
function validate() {
  const problems = [];
  const seen = new Map();
  const claim = (what, key) => {
    if (seen.has(key)) problems.push(`${what} and ${seen.get(key)} have one name ${key}`);
    seen.set(key, what);
  };
  for (const c of abi.constants) claim(`constant ${c.name}`, c.name);
  for (const e of abi.enums) {
    const values = new Set();
    for (const m of e.members) {
      claim(`${e.name}.${m.name}`, e.as + upper(m.name));
      if (values.has(m.value)) problems.push(`${e.name}: value ${m.value} twice`);
      values.add(m.value);
    }
  }
  const codes = new Set();
  for (const e of abi.errors) {
    claim(`error ${e.name}`, e.name);
    if (codes.has(e.code)) problems.push(`error code ${e.code} twice`);
    codes.add(e.code);
    if (e.values.length > 4) problems.push(`${e.name}: more than four values`);
    for (const v of e.values) {
      const t = v.split(":")[1];
      if (t && !enumByName[t]) problems.push(`${e.name}: no enum ${t}`);
    }
    for (const m of e.message.matchAll(/\{(\w+)\}/g))
      if (!e.values.some((v) => v.split(":")[0] === m[1]))
        problems.push(`${e.name}: message names {${m[1]}}, not one of its values`);
  }
  const slots = new Map();
  for (const rec of abi.results) {
    if (rec.relative) {
      if (rec.fields.some((f) => f.slot + (f.count || 1) > rec.stride))
        problems.push(`${rec.name}: a field outside its stride`);
      continue;
    }
    for (const f of rec.fields) {
      if (f.slot + (f.count || 1) > constant("RESULT_SLOTS")) problems.push(`${rec.name}.${f.name}: past RESULT_SLOTS`);
      const t = f.type?.startsWith("enum:") ? f.type.slice(5) : null;
      if (t && !enumByName[t]) problems.push(`${rec.name}.${f.name}: no enum ${t}`);
      for (let s = f.slot; s < f.slot + (f.count || 1); s++) {
        const other = slots.get(s);
        // records that are never current at once may share slots: a job's progress and the partition table
        if (other && other.rec !== rec.name && !sharing(other.rec, rec.name))
          problems.push(`slot ${s}: ${other.rec}.${other.f} and ${rec.name}.${f.name}`);
        slots.set(s, { rec: rec.name, f: f.name });
      }
    }
  }
  if (constant("RESULT_BYTES") !== constant("RESULT_SLOTS") * 8) problems.push("RESULT_BYTES != RESULT_SLOTS * 8");
  if (constant("IO_BYTES") !== constant("BLOCK_DATA_MAX") + constant("TABLE_MAX"))
    problems.push("IO_BYTES != BLOCK_DATA_MAX + TABLE_MAX");
  if (constant("PATCH_AREA_BYTES") !== constant("PATCH_MAX") * constant("PATCH_BYTES"))
    problems.push("PATCH_AREA_BYTES != PATCH_MAX * PATCH_BYTES");
  const entry = abi.results.find((r) => r.name === "partitionEntry");
  const table = abi.results.find((r) => r.name === "partitionTable");
  const first = table.fields.find((f) => f.name === "first").slot,
    extra = table.fields.find((f) => f.name === "extNumber").slot;
  if (first + entry.stride * constant("PART_ENTRIES_MAX") > extra)
    problems.push("partition entries overlap the extra slots");
  if (problems.length) throw new Error(`core-abi.json is inconsistent:\n  ${problems.join("\n  ")}`);
}
/** partitionTable's slots are only current after scanPartitions, when no job is. */
function sharing(a, b) {
  return [a, b].includes("partitionTable");
}

// ---- AssemblyScript -------------------------------------------------------------------------
const asType = { u32: "u32", i32: "i32", f64: "f64" };
function genAs() {
  const out = [`// The core's contract: ${HEAD}.`, "// docs/core-abi.md explains every name.", ""];
  out.push("// constants");
  for (const c of abi.constants) out.push(`export const ${c.name}: u32 = ${c.value}; // ${c.doc}`);
  out.push("", "// params: byte offsets at paramsPtr()");
  for (const p of abi.params)
    out.push(
      `export const PARAM_${upper(p.name)}: usize = ${p.offset};${p.length ? ` export const PARAM_${upper(p.name)}_BYTES: u32 = ${p.length};` : ""}`,
    );
  out.push("", "// a source patch: byte offsets in its PATCH_BYTES");
  for (const p of abi.patch) out.push(`export const PATCH_AT_${upper(p.name)}: usize = ${p.offset};`);
  for (const e of abi.enums) {
    out.push("", `// ${e.name}: ${e.doc}`);
    for (const m of e.members) out.push(`export const ${e.as}${upper(m.name)}: ${asType[e.type]} = ${m.value};`);
  }
  for (const rec of abi.results) {
    out.push("", `// result slots, ${rec.name}${rec.relative ? ` (relative to an entry; ENTRY_SLOTS per entry)` : ""}`);
    if (rec.relative) out.push(`export const ENTRY_SLOTS: u32 = ${rec.stride};`);
    for (const f of rec.fields)
      out.push(`export const ${slotConst(rec, f)}: u32 = ${f.slot};${f.count ? ` // ${f.count} slots` : ""}`);
  }
  out.push("", "// error codes (failureCode); the values each carries are in docs/core-abi.md");
  for (const e of abi.errors)
    out.push(`export const ${e.name}: i32 = ${e.code}; // ${e.values.map((v) => v.split(":")[0]).join(", ")}`);
  return out.join("\n") + "\n";
}

// ---- Node host ------------------------------------------------------------------------------
const tsType = { u32: "number", i32: "number", f64: "number" };
function fieldTs(f) {
  if (f.type === "bool") return "boolean";
  if (f.type === "u64") return "bigint";
  if (f.type?.startsWith("bytes:")) return "Uint8Array";
  if (f.count) return "number[]";
  return "number";
}
function fieldRead(f, base) {
  const at = base ? `${base} + ${f.slot}` : `${f.slot}`;
  if (f.type === "bool") return `r[${at}] === 1`;
  if (f.type === "u64") return `new DataView(r.buffer, r.byteOffset + (${at}) * 8, 8).getBigUint64(0, true)`;
  if (f.type?.startsWith("bytes:"))
    return `new Uint8Array(r.buffer, r.byteOffset + (${at}) * 8, ${f.type.slice(6)}).slice()`;
  if (f.count) return `Array.from(r.subarray(${at}, ${at} + ${f.count}))`;
  return `r[${at}]`;
}
function genHost() {
  const out = [
    `// The core's contract for the Node host: ${HEAD}.`,
    "// docs/core-abi.md explains every name.",
    "/* eslint-disable */",
    "",
  ];
  out.push(
    "/** Pages (64 KiB) of the memory the host creates: initial = maximum. */",
    `export const MEMORY_PAGES = ${abi.memory.pages};`,
  );
  for (const c of abi.constants) out.push(`/** ${c.doc} */`, `export const ${c.name} = ${c.value};`);
  out.push("", "/** Byte offsets (and lengths) in the params area. */");
  out.push(
    `export const Param = {\n${abi.params.map((p) => `  /** ${p.doc} */\n  ${p.name}: { offset: ${p.offset}, ${p.length ? `length: ${p.length}` : `type: "${p.type}"`} },`).join("\n")}\n} as const;`,
  );
  out.push("", "/** Byte offsets in a source patch (PATCH_BYTES). */");
  out.push(
    `export const PatchField = {\n${abi.patch.map((p) => `  /** ${p.type}: ${p.doc} */\n  ${p.name}: ${p.offset},`).join("\n")}\n} as const;`,
  );
  for (const e of abi.enums) {
    out.push("", `/** ${e.doc} */`, `export const ${e.name} = {`);
    for (const m of e.members) out.push(...(m.doc ? [`  /** ${m.doc} */`] : []), `  ${camel(m.name)}: ${m.value},`);
    out.push("} as const;");
    if (e.members.some((m) => m.text))
      out.push(
        `export const ${e.name}Text: Readonly<Record<number, string>> = {\n${e.members
          .filter((m) => m.text)
          .map((m) => `  ${m.value < 0 ? `[${m.value}]` : m.value}: ${JSON.stringify(m.text)},`)
          .join("\n")}\n};`,
      );
  }
  out.push("", "/** Result slots (f64 at resultPtr()): each record's fields by name. */", "export const Slot = {");
  for (const rec of abi.results.filter((r) => !r.relative)) {
    out.push(`  // ${rec.name}: ${rec.doc}`);
    for (const f of rec.fields) out.push(`  ${slotKey(rec, f)}: ${f.slot},`);
  }
  out.push("} as const;");
  const entry = abi.results.find((r) => r.relative);
  out.push(
    "",
    `/** ${entry.doc} */`,
    `export const ENTRY_SLOTS = ${entry.stride};`,
    `export const EntrySlot = {\n${entry.fields.map((f) => `  ${f.name}: ${f.slot},`).join("\n")}\n} as const;`,
  );
  for (const rec of abi.results) {
    const T = cap(rec.name) + "Results";
    out.push("", `/** ${rec.doc} */`, `export interface ${T} {`);
    for (const f of rec.fields) out.push(...(f.doc ? [`  /** ${f.doc} */`] : []), `  ${f.name}: ${fieldTs(f)};`);
    out.push("}");
    const base = rec.relative ? "base" : "";
    out.push(
      `export function read${cap(rec.name)}(r: Float64Array${rec.relative ? ", base: number" : ""}): ${T} {`,
      "  return {",
    );
    for (const f of rec.fields) out.push(`    ${f.name}: ${fieldRead(f, base)},`);
    out.push("  };", "}");
  }
  out.push(
    "",
    "/** Error codes (failureCode()). */",
    `export const CoreCode = {\n${abi.errors.map((e) => `  ${e.name}: ${e.code},`).join("\n")}\n} as const;`,
  );
  out.push("export type CoreCodeName = keyof typeof CoreCode;");
  out.push(
    "export interface CoreCodeInfo { name: CoreCodeName; kind: string; values: readonly string[]; enums: readonly (string | null)[]; message: string }",
  );
  out.push(
    "/** Each code's kind, the names of its values (and the enum that names a value's meaning), its message template. */",
  );
  out.push(
    `export const coreCodes: Readonly<Record<number, CoreCodeInfo>> = {\n${abi.errors.map((e) => `  ${e.code}: { name: "${e.name}", kind: "${e.kind}", values: ${JSON.stringify(e.values.map((v) => v.split(":")[0]))}, enums: ${JSON.stringify(e.values.map((v) => v.split(":")[1] || null))}, message: ${JSON.stringify(e.message)} },`).join("\n")}\n};`,
  );
  out.push(
    "",
    "/** The core's exports, with their parameters as core-abi.json declares them. */",
    "export interface CoreExports {",
  );
  for (const x of abi.exports)
    out.push(
      `  /** ${x.doc} */`,
      `  ${x.name}(${x.params.map(([n, t]) => `${n}: ${tsType[t]}`).join(", ")}): ${x.result ? "number" : "void"};`,
    );
  out.push("}");
  out.push("", "/** The import and export names the module must have. */");
  out.push(
    `export const IMPORTS: readonly (readonly [string, string])[] = ${JSON.stringify(abi.imports.map((i) => [i.module, i.name]))};`,
  );
  out.push(`export const EXPORTS: readonly string[] = ${JSON.stringify(abi.exports.map((x) => x.name))};`);
  return out.join("\n") + "\n";
}

// ---- C header -------------------------------------------------------------------------------
const cType = { u32: "uint32_t", i32: "int32_t", f64: "double", null: "void" };
function genC() {
  const out = [
    `/* The clusterback core's contract for a C host: ${HEAD}. */`,
    "/* docs/core-abi.md explains every name. */",
    "#ifndef CLUSTERBACK_CORE_H",
    "#define CLUSTERBACK_CORE_H",
    "",
    "#include <stdint.h>",
    "",
    `#define CB_ABI_VERSION ${abi.abiVersion}`,
    `#define CB_MEMORY_PAGES ${abi.memory.pages}`,
    "",
  ];
  for (const c of abi.constants) out.push(`#define CB_${c.name} ${c.value}u /* ${c.doc} */`);
  out.push("", "/* params: byte offsets at paramsPtr() */");
  for (const p of abi.params)
    out.push(
      `#define CB_PARAM_${upper(p.name)} ${p.offset}${p.length ? `\n#define CB_PARAM_${upper(p.name)}_BYTES ${p.length}` : ` /* ${p.type} */`}`,
    );
  out.push("", "/* a source patch: byte offsets in its CB_PATCH_BYTES */");
  for (const p of abi.patch) out.push(`#define CB_PATCH_AT_${upper(p.name)} ${p.offset} /* ${p.type} */`);
  for (const e of abi.enums) {
    out.push("", `/* ${e.name}: ${e.doc} */`);
    for (const m of e.members) out.push(`#define CB_${e.as}${upper(m.name)} ${m.value}${m.value < 0 ? "" : ""}`);
  }
  for (const rec of abi.results) {
    out.push("", `/* result slots (double), ${rec.name}: ${rec.doc} */`);
    if (rec.relative) out.push(`#define CB_ENTRY_SLOTS ${rec.stride}`);
    for (const f of rec.fields)
      out.push(`#define CB_${slotConst(rec, f)} ${f.slot}${f.count ? ` /* ${f.count} slots */` : ""}`);
  }
  out.push("", "/* error codes (failureCode) */");
  for (const e of abi.errors)
    out.push(`#define CB_${e.name} ${e.code} /* ${e.values.map((v) => v.split(":")[0]).join(", ")} */`);
  out.push("", '/* imports the host provides (module "dev") */');
  for (const i of abi.imports.filter((x) => x.kind === "function"))
    out.push(
      `/* ${i.module}.${i.name}: ${cType[i.result] || "void"} (${i.params.map(([n, t]) => `${cType[t]} ${n}`).join(", ")}) */`,
    );
  out.push("", "/* exports */");
  for (const x of abi.exports)
    out.push(
      `/* ${x.name}: ${cType[x.result] || "void"} (${x.params.map(([n, t]) => `${cType[t]} ${n}`).join(", ") || "void"}) */`,
    );
  out.push("", "#endif");
  return out.join("\n") + "\n";
}

// ---- docs -----------------------------------------------------------------------------------
function genDoc() {
  const md = [];
  const sig = (x) =>
    `${x.name}(${x.params.map(([n, t]) => `${n}: ${t}`).join(", ")})${x.result ? `: ${x.result}` : ""}`;
  md.push("# The clusterback core: ABI reference", "", `<!-- ${HEAD} -->`, "");
  md.push(`ABI version ${abi.abiVersion}. ${abi.about}`, "");
  md.push(
    "This is the one document an integrator needs to embed the core (core.wasm or core-portable.wasm) in a wasm runtime and drive it from C or any other language. Every number below also exists, with the same name, in `as-core/include/clusterback_core.h` (prefix `CB_`) and in `firmware-module/src/ops/abi.ts`.",
    "",
  );
  md.push(
    "## 1. Builds",
    "",
    "| file | needs | for |",
    "|---|---|---|",
    "| `as-core/build/core.wasm` | fixed-width SIMD, threads (shared memory) | Node (the host writes from a worker thread), runtimes with SIMD |",
    "| `as-core/build/core-portable.wasm` | nothing beyond wasm 1.0 + bulk memory, mutable globals, sign extension, non-trapping float-to-int | interpreters without SIMD or threads (wasm3, WAMR classic), RISC-V |",
    "",
    "Both builds compute the same checks bit for bit and write byte-identical images (test/portable-core.test.ts). Run here: both in Node (V8); the portable build in wabt's interpreter, from a C++ host that takes every number from the generated header (test/hosts/wabt-interp). Not yet run: wasm3 and WAMR (neither is packaged where CI installs from). Beyond wasm 1.0 both builds use bulk memory, sign extension, non-trapping float-to-int and mutable globals (AssemblyScript's defaults).",
    "",
  );
  md.push("## 2. Memory", "", abi.memory.doc, "", "| buffer | pointer export | bytes | use |", "|---|---|---|---|");
  for (const b of abi.buffers)
    md.push(`| ${b.name} | \`${b.pointer}()\` | ${b.bytes} = ${constant(b.bytes)} | ${b.doc} |`);
  md.push(
    "",
    "Other memory (the core's own tables, the bitmap window, scratch sectors) is private: a host never reads or writes it.",
    "",
  );
  md.push("## 3. Imports", "", "| import | signature | what it must do |", "|---|---|---|");
  for (const i of abi.imports)
    md.push(
      `| \`${i.module}.${i.name}\` | ${i.kind === "memory" ? "memory" : `(${i.params.map(([n, t]) => `${n}: ${t}`).join(", ")})${i.result ? ` → ${i.result}` : ""}`} | ${i.doc} |`,
    );
  md.push("", "### Buffers in flight", "", abi.inFlight, "", "### Threading and lifetime", "", abi.threading, "");
  md.push("## 4. Exports", "", "| export | results | what it does |", "|---|---|---|");
  for (const x of abi.exports)
    md.push(`| \`${sig(x)}\` | ${x.results ? `[${x.results}](#${x.results.toLowerCase()})` : ""} | ${x.doc} |`);
  md.push(
    "",
    "### The begin/step protocol",
    "",
    "A job (scan, backup, restore, verify) is started by its `*Begin` export and driven by `step(budget)`:",
    "",
    "1. `*Begin(...)` returns 0 (started) or a negative number (refused: read `failureCode()` and `failureValue(0..3)`). It clears the result slots.",
    "2. Call `step(budget)` until it returns 1 (done) or a negative number (failed, as above). 0 means: call again. After every step the progress results are current: report them, check for a cancel request between steps.",
    "3. Read the job's results (the record named for the export).",
    "",
    "Device handles are the host's own numbers (any u32 but NO_DEVICE); the core passes them back in `dev.*` calls unchanged. Images are always addressed in IMAGE_SECTOR-byte sectors; partitions in their own sector size.",
    "",
  );
  md.push("## 5. Constants", "", "| name | value | meaning |", "|---|---|---|");
  for (const c of abi.constants) md.push(`| ${c.name} | ${c.value} | ${c.doc} |`);
  md.push("", "## 6. Params (paramsPtr)", "", "| field | offset | type | meaning |", "|---|---|---|---|");
  for (const p of abi.params)
    md.push(`| ${p.name} | ${p.offset} | ${p.type}${p.length ? `[${p.length}]` : ""} | ${p.doc} |`);
  md.push(
    "",
    "## 7. Source patches (patchesPtr)",
    "",
    "Each patch is PATCH_BYTES little-endian bytes:",
    "",
    "| field | offset | type | meaning |",
    "|---|---|---|---|",
  );
  for (const p of abi.patch) md.push(`| ${p.name} | ${p.offset} | ${p.type} | ${p.doc} |`);
  md.push(
    "",
    "## 8. Results (resultPtr)",
    "",
    "RESULT_SLOTS little-endian f64 slots; integers are exact (below 2^53). bool slots hold 0 or 1; bytes fields hold raw bytes in their slots' 8-byte cells, in order.",
    "",
  );
  for (const rec of abi.results) {
    md.push(
      `<a id="${rec.name.toLowerCase()}"></a>`,
      `### ${rec.name}`,
      "",
      rec.doc,
      "",
      `| field | slot | type | meaning |`,
      "|---|---|---|---|",
    );
    for (const f of rec.fields)
      md.push(
        `| ${f.name} | ${rec.relative ? "+" : ""}${f.slot}${f.count ? `..${rec.relative ? "+" : ""}${f.slot + f.count - 1}` : ""} | ${f.type ? f.type.replace("enum:", "") : "number"} | ${f.doc || ""} |`,
      );
    md.push("");
  }
  md.push("## 9. Enumerations", "");
  for (const e of abi.enums) {
    md.push(`### ${e.name}`, "", e.doc, "", "| name | value | meaning |", "|---|---|---|");
    for (const m of e.members)
      md.push(`| ${e.as}${upper(m.name)} | ${m.value} | ${[m.text, m.doc].filter(Boolean).join(": ")} |`);
    md.push("");
  }
  md.push(
    "## 10. Errors",
    "",
    "A negative result `-code`; `failureCode()` gives the code and `failureValue(i)` its values, in the order named. A value written `name:Enum` holds a member of that enumeration. The message is a template: a host fills in the values (the Node host's wording, firmware-module/src/ops/errors.ts, says the same more fully).",
    "",
    "| code | name | kind | values | message |",
    "|---|---|---|---|---|",
  );
  for (const e of abi.errors)
    md.push(`| ${e.code} | ${e.name} | ${e.kind} | ${e.values.join(", ")} | ${e.message.replace(/\|/g, "\\|")} |`);
  md.push(
    "",
    "Kinds: *device* (a dev.* import failed: the code is the DeviceCode), *volume* (the partition table or boot record), *image* (the image is damaged, truncated, crafted or not an image), *target* (the target does not fit the image), *state* (the call itself: a wrong sequence or a limit of the core).",
    "",
  );
  md.push(
    "## 11. A worked call sequence",
    "",
    "Backup of a partition (handle 1, 512-byte sectors, 2,097,152 sectors) into an image file (handle 2):",
    "",
    "```c",
    "init();                                    /* once per instance */",
    "uint8_t *mem = wasm_memory_base;",
    "uint8_t *params = mem + paramsPtr();",
    "memset(params, 0, CB_PARAMS_BYTES);",
    'memcpy(params + CB_PARAM_IMAGE_NAME, "factory", 7);',
    "if (backupBeginFlags(1, 512, 2097152, 2, 0x0C, 2048, time(NULL), 0) < 0) fail();",
    "for (;;) {",
    "  int32_t r = step(32 << 20);",
    "  double *slot = (double *)(mem + resultPtr());",
    "  progress(slot[CB_SLOT_PHASE], slot[CB_SLOT_BYTES_DONE], slot[CB_SLOT_BYTES_TOTAL]);",
    "  if (r == 1) break;",
    "  if (r < 0) { report(failureCode(), failureValue(0), failureValue(1), failureValue(2), failureValue(3)); break; }",
    "}",
    "/* slot[CB_SLOT_SCAN_ALLOCATED]: clusters stored; slot[CB_SLOT_SCAN_IMAGE_LENGTH]: the image's bytes */",
    "```",
    "",
    "Restore of that image (handle 2, its length in 512-byte sectors) onto the partition (handle 1):",
    "",
    "```c",
    "/* 1. learn the image's sector size: verify the image alone */",
    "if (verifyBegin(2, imageSectors, CB_NO_DEVICE, 0, 0) < 0) fail();",
    "while ((r = step(32 << 20)) == 0) {}",
    "uint32_t sectorBytes = slot[CB_SLOT_IMG_SECTOR_BYTES];   /* open the target with it */",
    "/* 2. restore, reading the target back */",
    "if (restoreBegin(2, imageSectors, 1, sectorBytes, targetSectors, CB_RESTORE_READ_BACK) < 0) fail();",
    "while ((r = step(32 << 20)) == 0) report_progress();",
    "/* r == 1: slot[CB_SLOT_MISMATCHES] == 0 means every cluster read back equal */",
    "```",
    "",
    "Verify of a partition against its image: `verifyBegin(img, imageSectors, part, sectorBytes, partSectors)`, then step; `slot[CB_SLOT_MISMATCHES]`, `slot[CB_SLOT_FIRST_MISMATCH]` and `slot[CB_SLOT_META_MISMATCH]` say what differs.",
    "",
  );
  return md.join("\n") + "\n";
}

validate();
const outputs = [
  ["as-core/assembly/abi.ts", genAs()],
  ["firmware-module/src/ops/abi.ts", genHost()],
  ["as-core/include/clusterback_core.h", genC()],
  ["docs/core-abi.md", genDoc()],
];
const check = process.argv.includes("--check");
let stale = 0;
for (const [file, text] of outputs) {
  const full = path.join(root, file);
  const now = fs.existsSync(full) ? fs.readFileSync(full, "utf8") : null;
  if (now === text) continue;
  if (check) {
    console.error(`${file} is not what as-core/contract/core-abi.json gives: run node as-core/contract/generate.js`);
    stale++;
    continue;
  }
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, text);
}
process.exit(stale ? 1 : 0);
