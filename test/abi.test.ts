// The core's contract is declared once (as-core/contract/core-abi.json). These tests hold the
// rest of the project to it: the generated files are what the declaration gives; the built
// cores import and export exactly what it declares, with the declared signatures; no slot
// number, offset, code or sub-code is written as a literal (or defined a second time) in the
// core or the host; the C header compiles; and the documented values are the ones the core uses.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import t from "tap";
import * as abi from "../firmware-module/src/ops/abi";
import { Core } from "../host-shim/src/native/core";

const root = path.join(__dirname, "..");
const contract = JSON.parse(fs.readFileSync(path.join(root, "as-core", "contract", "core-abi.json"), "utf8"));

t.test("the generated files are what core-abi.json gives", async (t) => {
  const r = spawnSync(process.execPath, [path.join(root, "as-core", "contract", "generate.js"), "--check"], {
    encoding: "utf8",
  });
  t.equal(r.status, 0, `generate.js --check: ${r.stderr.trim() || "current"}`);
});

/** The types of a wasm module's imported and exported functions, read from its sections. */
function signatures(bytes: Uint8Array): { imports: Map<string, string>; exports: Map<string, string> } {
  let at = 8;
  const u32 = (): number => {
    let v = 0,
      shift = 0,
      b: number;
    do {
      b = bytes[at++];
      v |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return v >>> 0;
  };
  const name = (): string => {
    const n = u32();
    const s = Buffer.from(bytes.subarray(at, at + n)).toString("utf8");
    at += n;
    return s;
  };
  const valType: Record<number, string> = { 127: "i32", 126: "i64", 125: "f32", 124: "f64", 123: "v128" };
  const types: string[] = [],
    funcTypes: number[] = [];
  const imports = new Map<string, string>(),
    exports = new Map<string, string>();
  while (at < bytes.length) {
    const id = bytes[at++],
      size = u32(),
      end = at + size;
    if (id === 1) {
      for (let n = u32(); n > 0; n--) {
        at++; // 0x60
        const params = Array.from({ length: u32() }, () => valType[bytes[at++]]);
        const results = Array.from({ length: u32() }, () => valType[bytes[at++]]);
        types.push(`(${params.join(",")})${results.join(",") || "void"}`);
      }
    } else if (id === 2) {
      for (let n = u32(); n > 0; n--) {
        const key = `${name()}.${name()}`,
          kind = bytes[at++];
        if (kind === 0) {
          const t = u32();
          imports.set(key, types[t]);
          funcTypes.push(t);
        } else if (kind === 2) {
          const flags = bytes[at++];
          const min = u32();
          const max = flags & 1 ? u32() : -1;
          imports.set(key, `memory ${min}..${max}${flags & 2 ? " shared" : ""}`);
        } else throw new Error(`import kind ${kind}`);
      }
    } else if (id === 3) {
      for (let n = u32(); n > 0; n--) funcTypes.push(u32());
    } else if (id === 7) {
      for (let n = u32(); n > 0; n--) {
        const key = name(),
          kind = bytes[at++],
          index = u32();
        if (kind === 0) exports.set(key, types[funcTypes[index]]);
      }
    }
    at = end;
  }
  return { imports, exports };
}

const wasmType: Record<string, string> = { u32: "i32", i32: "i32", f64: "f64" };
const declared = (params: [string, string][], result: string | null) =>
  `(${params.map(([, ty]) => wasmType[ty]).join(",")})${result ? wasmType[result] : "void"}`;

for (const build of ["core.wasm", "core-portable.wasm"]) {
  const file = path.join(root, "as-core", "build", build);
  t.test(
    `${build} imports and exports what the contract declares, with its signatures`,
    { skip: fs.existsSync(file) ? false : `${build} is not built` },
    async (t) => {
      const { imports, exports } = signatures(fs.readFileSync(file));
      const fnImports = contract.imports.filter((i: { kind: string }) => i.kind === "function");
      t.same(
        [...imports.keys()].filter((k) => !k.endsWith(".memory")).sort(),
        fnImports.map((i: { module: string; name: string }) => `${i.module}.${i.name}`).sort(),
        "function imports",
      );
      for (const i of fnImports)
        t.equal(imports.get(`${i.module}.${i.name}`), declared(i.params, i.result), `import ${i.module}.${i.name}`);
      t.match(
        imports.get("env.memory"),
        new RegExp(`^memory ${contract.memory.pages}\\.\\.${contract.memory.pages}`),
        "memory: the declared pages, fixed",
      );
      t.same(
        [...exports.keys()].sort(),
        contract.exports.map((x: { name: string }) => x.name).sort(),
        "function exports",
      );
      for (const x of contract.exports) t.equal(exports.get(x.name), declared(x.params, x.result), `export ${x.name}`);
    },
  );
}

/** Every .ts file under dir, but the generated abi.ts. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith(".ts") && e.name !== "abi.ts") out.push(p);
  }
  return out;
}
/** Lines without their // comments. */
const codeLines = (file: string) =>
  fs
    .readFileSync(file, "utf8")
    .split("\n")
    .map((l, i) => ({ n: i + 1, text: l.replace(/\/\/.*$/, "") }));

t.test("the core writes no slot, offset, code or sub-code as a literal, and defines none again", async (t) => {
  const asNames = new Set(
    fs
      .readFileSync(path.join(root, "as-core", "assembly", "abi.ts"), "utf8")
      .match(/export const (\w+)/g)!
      .map((s) => s.slice(13)),
  );
  // the error values that hold an enumeration's member, by error name: value positions
  const enumValues = new Map<string, number[]>();
  for (const e of contract.errors) {
    const at = (e.values as string[]).map((v, i) => (v.includes(":") ? i : -1)).filter((i) => i >= 0);
    if (at.length) enumValues.set(e.name, at);
  }
  const found: string[] = [];
  for (const file of sources(path.join(root, "as-core", "assembly"))) {
    const rel = path.relative(root, file);
    for (const { n, text } of codeLines(file)) {
      if (/\b(setResult|getResult)\(\s*-?\d/.test(text))
        found.push(`${rel}:${n}: a result slot as a number: ${text.trim()}`);
      if (/buf\.(result|params|patches)\s*\+\s*\(?\s*\d/.test(text))
        found.push(`${rel}:${n}: an offset into a contract buffer as a number: ${text.trim()}`);
      const def = text.match(/\bconst (\w+)\s*:\s*\w+\s*=\s*-?(0x)?[\dA-Fa-f]+\s*;/);
      if (def && asNames.has(def[1])) found.push(`${rel}:${n}: ${def[1]} defined again (abi.ts has it)`);
      for (const m of text.matchAll(/\bfail\(\s*(?:E\.|A\.)?(E_\w+)\s*,([^;]*)/g)) {
        const positions = enumValues.get(m[1]);
        if (!positions) continue;
        const args = m[2].split(",").map((a) => a.trim());
        for (const i of positions)
          if (args[i] !== undefined && /^-?\d+\)?$/.test(args[i]))
            found.push(`${rel}:${n}: ${m[1]}'s value ${i} as a number (${args[i]}): name it`);
      }
    }
  }
  t.same(found, [], "every number that crosses to the host is named in the contract");
});

t.test("the host reads no slot and compares no code as a literal, and defines no contract name again", async (t) => {
  const hostNames = [
    "Slot",
    "EntrySlot",
    "ENTRY_SLOTS",
    "RestoreFlag",
    "DeviceCode",
    "NO_DEVICE",
    "PATCH_MAX",
    "PhaseText",
    "CoreCode",
    "IO_BYTES",
    "RESULT_SLOTS",
  ];
  const found: string[] = [];
  for (const dir of ["host-shim/src", "simulator/src", "firmware-module/src"]) {
    for (const file of sources(path.join(root, dir))) {
      const rel = path.relative(root, file);
      for (const { n, text } of codeLines(file)) {
        if (/\b(res|results\(\)|r|geo)\[\s*\d+\s*\]/.test(text))
          found.push(`${rel}:${n}: a result slot as a number: ${text.trim()}`);
        if (/\b(failureCode\(\)|code)\s*===?\s*\d/.test(text) && /core|failure/i.test(text))
          found.push(`${rel}:${n}: a core code as a number: ${text.trim()}`);
        if (/coreMessages\[\s*\d/.test(text)) found.push(`${rel}:${n}: a core code as a number: ${text.trim()}`);
        const def = text.match(/\b(?:const|let) (\w+)\s*(?::[^=]+)?=\s*[\d{]/);
        if (def && hostNames.includes(def[1]))
          found.push(`${rel}:${n}: ${def[1]} defined again (firmware-module/src/ops/abi.ts has it)`);
        if (/\bkind:\s*[0-2]\s*[,}]/.test(text) && /byteOffset/.test(text))
          found.push(`${rel}:${n}: a patch kind as a number: ${text.trim()}`);
      }
    }
  }
  t.same(found, [], "the host names every slot and code");
});

t.test("the values the contract documents are the ones the core uses", async (t) => {
  const core = new Core({ backgroundWrites: false });
  try {
    // a probe of a blank device fails with the documented code and names it
    const blank = new Uint8Array(abi.IMAGE_SECTOR * 64);
    const { RamDevice } = await import("../host-shim/src/native/devices");
    const h = core.attach(new RamDevice(abi.IMAGE_SECTOR, blank));
    const r = core.exports.probeVolume(h, abi.IMAGE_SECTOR, 64);
    t.equal(r, -core.exports.failureCode(), "a negative result is minus failureCode()");
    t.equal(abi.coreCodes[core.exports.failureCode()]?.name, "E_NOT_FAT", "a blank volume: E_NOT_FAT");
    // an unattached handle: DeviceCode closed, reported as E_DEVICE with the code and the handle
    t.equal(core.exports.probeVolume(99, abi.IMAGE_SECTOR, 64), -abi.CoreCode.E_DEVICE, "an unknown handle: E_DEVICE");
    t.equal(core.exports.failureValue(0), -abi.DeviceCode.closed, "value 0: the device code (negated), CLOSED");
    t.equal(core.exports.failureValue(1), 99, "value 1: the handle");
    // step without a job: E_STATE
    t.equal(core.exports.step(1), -abi.CoreCode.E_STATE, "step without a job: E_STATE");
    // checkOf writes the check record's digest slot
    const digest = core.checkOf(new Uint8Array(64));
    t.equal(
      abi.readCheck(core.results()).digest.toString(16).padStart(16, "0"),
      digest,
      "checkOf: the digest in check.digest",
    );
    // buffer sizes: the I/O buffers are IO_BYTES apart or more, the results RESULT_BYTES, inside the declared memory
    const ptrs = [
      core.exports.ioPtr(),
      core.exports.io2Ptr(),
      core.exports.resultPtr(),
      core.exports.paramsPtr(),
      core.exports.patchesPtr(),
    ];
    const sizes = [abi.IO_BYTES, abi.IO_BYTES, abi.RESULT_BYTES, abi.PARAMS_BYTES, abi.PATCH_AREA_BYTES];
    const spans = ptrs.map((p, i) => [p, p + sizes[i]] as const).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++)
      t.ok(
        spans[i][0] >= spans[i - 1][1],
        `buffers do not overlap (${spans[i - 1][0]}..${spans[i - 1][1]} and ${spans[i][0]}..)`,
      );
    t.ok(spans[spans.length - 1][1] <= contract.memory.bytes, "every buffer inside the declared memory");
    t.equal(core.exports.setPatches(h, abi.IMAGE_SECTOR, abi.PATCH_MAX + 1), -1, "setPatches over PATCH_MAX: -1");
    t.equal(core.exports.setPatches(h, abi.IMAGE_SECTOR, 0), 0, "setPatches 0: 0");
  } finally {
    core.dispose();
  }
});

t.test(
  "the C header compiles and its values match the contract",
  { skip: spawnSync("sh", ["-c", "command -v gcc"]).status === 0 ? false : "no gcc" },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "cb-abi-"));
    try {
      const c = path.join(dir, "t.c");
      fs.writeFileSync(
        c,
        `#include <stdio.h>\n#include "clusterback_core.h"\nint main(void) { printf("%u %u %u %u %d %d\\n", CB_IO_BYTES, CB_SLOT_IMG_SECTOR_BYTES, CB_RESTORE_READ_BACK, CB_NO_DEVICE, CB_E_IMG_META_SIZE, CB_BC_RESERVED); return 0; }\n`,
      );
      const cc = spawnSync(
        "gcc",
        ["-std=c99", "-Wall", "-Werror", "-I", path.join(root, "as-core", "include"), "-o", path.join(dir, "t"), c],
        { encoding: "utf8" },
      );
      t.equal(cc.status, 0, `gcc: ${cc.stderr.trim() || "ok"}`);
      const out = spawnSync(path.join(dir, "t"), { encoding: "utf8" }).stdout.trim();
      t.equal(
        out,
        [
          abi.IO_BYTES,
          abi.Slot.imgSectorBytes,
          abi.RestoreFlag.readBack,
          abi.NO_DEVICE,
          abi.CoreCode.E_IMG_META_SIZE,
          abi.BitmapCountWhat.reserved,
        ].join(" "),
        "the header's values are the contract's",
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
