// The firmware <-> host API is declared once (firmware-module/contract/host-api.json). These tests
// hold the rest of the project to it: the generated files (firmware-module/src/host-api.ts,
// docs/host-api.md) are what the declaration gives; the QuickJS host (host-shim/src/native/quickjs-host.ts)
// installs exactly the declared functions in the real global `host`; and the results the host
// gives on simulator printers of every profile (and the JSON the firmware hands it) have the
// declared shapes. Shapes are checked with the repo's own JSON Schema validator
// (device-profiles/src/profile.ts validateAgainstSchema, the subset the declaration is held to).

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { JsonSchema, validateAgainstSchema } from "../device-profiles/src/profile";
import { ClusterbackError } from "../firmware-module/src/ops/errors";
import { RamDevice } from "../host-shim/src/native/devices";
import { listProfiles, loadProfile } from "../host-shim/src/native/load-profile";
import { NativeHost } from "../host-shim/src/native/native-host";
import { Firmware } from "../host-shim/src/native/quickjs-host";
import type { NativeCore } from "../host-shim/src/native/wasm-core";
import { injectDamage } from "../simulator/src/damage";
import { buildPrinter, provisionFactory, SimPrinter, startFirmware, systemPartition } from "../simulator/src/printer";
import { evaluate } from "./helpers/evaluate";

const root = path.join(__dirname, "..");
const generator = path.join(root, "firmware-module", "contract", "generate.js");
interface Param {
  name: string;
  type: string;
  schema?: JsonSchema;
  /** The schema another (enum) parameter's value picks. */
  schemaBy?: { param: string; cases: Record<string, JsonSchema> };
}
interface Fn {
  name: string;
  params: Param[];
  result: { type: string; schema?: JsonSchema };
}
interface Api {
  global: string;
  functions: Fn[];
}
const gen = require(generator) as {
  load(): Api;
  schemaOf(api: Api, schema: JsonSchema): JsonSchema;
  withoutCount(text: string): string;
};
const api = gen.load();
const declared = api.functions.map((f) => f.name);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-host-api-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

t.test("the generated files are what host-api.json gives", async (t) => {
  const r = spawnSync(process.execPath, [generator, "--check"], { encoding: "utf8" });
  t.equal(r.status, 0, `generate.js --check: ${r.stderr.trim() || "current"}`);
  const ts = fs.readFileSync(path.join(root, "firmware-module", "src", "host-api.ts"), "utf8");
  for (const name of declared) t.match(ts, new RegExp(`\\n  ${name}\\(`), `host-api.ts declares ${name}`);
  const host = fs.readFileSync(path.join(root, "firmware-module", "src", "host.ts"), "utf8");
  t.notMatch(host, /interface HostApi/, "host.ts keeps no hand-written HostApi");
});

t.test("the doc's count of the native side's lines is the one the rule gives now", async (t) => {
  // --check does not hold the count (a measurement); a build writes it, and npm test builds first
  const doc = fs.readFileSync(path.join(root, "docs", "host-api.md"), "utf8");
  const { count } = require(path.join(root, "host-shim", "tools", "native-lines.js"));
  const c = count();
  t.match(doc, `${c.total} lines in ${c.files.length} files`);
  t.ok(c.files.some((f: { file: string }) => f.file === "host-shim/src/native/native-host.ts"));
  t.notOk(
    c.files.some((f: { file: string }) => f.file === "firmware-module/src/ops/printer-host.ts"),
    "the printer's logic runs in the firmware bundle: it is not counted",
  );
  t.notOk(
    c.files.some((f: { file: string }) => f.file === "firmware-module/src/ops/abi.ts"),
    "the generated abi.ts is not counted",
  );
});

/** Records every host call the firmware makes (arguments, result or error) inside its QuickJS context. */
const RECORDER = `(function () {
  var h = host;
  globalThis.__calls = [];
  // bytes are recorded by type and length only (a printer's life moves megabytes through devRead)
  globalThis.__type = function (v) {
    return v instanceof ArrayBuffer ? "ArrayBuffer" : Array.isArray(v) ? "array" : typeof v;
  };
  globalThis.__shape = function (v) {
    return v instanceof ArrayBuffer ? { bytes: v.byteLength } : v;
  };
  // __failStep: the core's step runs in 1 MiB steps and fails after that many more (a power cut
  // in the middle of a job: the step's writes are made, its result never reaches the firmware)
  globalThis.__failStep = -1;
  var call = h.coreCall;
  h.coreCall = function (name, args) {
    if (name !== "step" || __failStep < 0) return call.call(h, name, args);
    var r = call.call(h, name, [1 << 20]);
    var slots = new Float64Array(h.coreRead(call.call(h, "resultPtr", []), 24));
    // phase (slot 0) past checkCommit: the restore writes; bytesDone (1) past half of bytesTotal (2)
    if (slots[0] > 7 && slots[1] * 2 >= slots[2] && __failStep-- === 0) throw new Error("power cut (test)");
    return r;
  };
  Object.keys(h).forEach(function (n) {
    var f = h[n];
    h[n] = function () {
      var a = Array.prototype.slice.call(arguments);
      try {
        var r = f.apply(h, a);
        __calls.push({ name: n, args: a.map(__shape), result: __shape(r), type: __type(r) });
        return r;
      } catch (e) {
        __calls.push({ name: n, args: a.map(__shape), error: e.name + ": " + e.message });
        throw e;
      }
    };
  });
})()`;
interface Call {
  name: string;
  args: unknown[];
  result?: unknown;
  type?: string;
  error?: string;
}

const jsType: Record<string, string> = {
  void: "undefined",
  int: "number",
  f64: "number",
  bool: "boolean",
  string: "string",
  json: "string",
  bytes: "ArrayBuffer",
};
const paramType: Record<string, string> = {
  int: "number",
  f64: "number",
  string: "string",
  json: "string",
  bytes: "ArrayBuffer",
  "f64[]": "array",
};

/** The problems of one recorded call against the declaration ([] when it conforms). */
function conformance(c: Call): string[] {
  const f = api.functions.find((x) => x.name === c.name);
  if (!f) return [`${c.name}: not declared`];
  const out: string[] = [];
  f.params.forEach((p, i) => {
    const a = c.args[i];
    const type = a && typeof a === "object" && "bytes" in a ? "ArrayBuffer" : Array.isArray(a) ? "array" : typeof a;
    if (type !== paramType[p.type]) out.push(`${c.name}(${p.name}): a ${typeof a}, declared ${p.type}`);
    else if (p.type === "int" && !Number.isInteger(a)) out.push(`${c.name}(${p.name}): ${a} is not an integer`);
    else if (p.type === "json") {
      const by = p.schemaBy
        ? p.schemaBy.cases[String(c.args[f.params.findIndex((x) => x.name === p.schemaBy!.param)])]
        : undefined;
      const schema = p.schemaBy ? by : p.schema;
      if (!schema) out.push(`${c.name}(${p.name}): no schema for that ${p.schemaBy?.param}`);
      else
        out.push(...validateAgainstSchema(gen.schemaOf(api, schema), JSON.parse(a as string), `${c.name}(${p.name})`));
    }
  });
  if (c.error !== undefined) return out;
  if (c.type !== jsType[f.result.type]) out.push(`${c.name}: returned a ${c.type}, declared ${f.result.type}`);
  else if (f.result.type === "json" && f.result.schema)
    out.push(...validateAgainstSchema(gen.schemaOf(api, f.result.schema), JSON.parse(c.result as string), c.name));
  return out;
}

interface Booted {
  p: SimPrinter;
  fw: Firmware;
}
async function small(id: string): Promise<Booted> {
  const profile = loadProfile(id);
  profile.firmware.fillMiB = Math.min(profile.firmware.fillMiB, 4);
  const p = buildPrinter(profile, path.join(tmp, `${id}.img`));
  provisionFactory(p);
  const fw = await startFirmware(p, { onProgress: () => undefined, shouldCancel: () => false });
  return { p, fw };
}

t.test("the QuickJS host installs exactly the declared functions", async (t) => {
  const { p, fw } = await small("office-laser-emmc8g");
  t.teardown(() => {
    fw.dispose();
    p.close();
  });
  const installed = evaluate(fw, `Object.keys(${api.global})`) as string[];
  t.same(
    installed.filter((n) => !declared.includes(n)),
    [],
    "installed but not declared in host-api.json",
  );
  t.same(
    declared.filter((n) => !installed.includes(n)),
    [],
    "declared in host-api.json but not installed",
  );
  t.same(
    evaluate(fw, `Object.keys(${api.global}).filter(function (n) { return typeof ${api.global}[n] !== "function"; })`),
    [],
    "every property is a function",
  );
});

for (const id of listProfiles()) {
  t.test(`${id}: every host call of a printer's life has the declared shapes`, async (t) => {
    const { p, fw } = await small(id);
    t.teardown(() => {
      fw.dispose();
      p.close();
    });
    evaluate(fw, RECORDER);
    const sys = p.layout.system;
    fw.call("health", {});
    fw.call("listImages");
    fw.call("backup", {});
    fw.call("verify", { image: 0 });
    fw.call("verify", { image: 0, against: sys });
    fw.call("restore", { image: 0, full: true });
    // damage: a boot restores; a critical file's damage names its path
    injectDamage(p.core, systemPartition(p), "zero-boot-sector", [], 1);
    t.equal((fw.call("boot") as { action: string }).action, "restored");
    injectDamage(p.core, systemPartition(p), "corrupt-file", ["\\FIRMWARE\\MAIN.BIN"], 2);
    t.equal((fw.call("boot") as { action: string }).action, "restored");
    // a restore cut off halfway (the core's step fails after a few steps of a full restore at
    // the panel's budget): the next health check names the restore mark, and the boot finishes it
    evaluate(fw, "__failStep = 0");
    t.throws(() => fw.call("restore", { image: 0, full: true }), /power cut/);
    const mark = fw.call("health", {}) as { restoreInProgress?: unknown };
    t.ok(mark.restoreInProgress, "the restore mark is reported");
    t.equal((fw.call("boot") as { action: string }).action, "restored", "and the boot finishes that restore");
    // the firmware's own menu
    fw.call("menuOpen");

    // the printer's life ends here: what follows calls the host directly, some calls wrong on purpose
    const life = evaluate(fw, "__calls.length") as number;
    // errors cross with a name and a message, a device error's code too
    const thrown = (code: string) =>
      evaluate(
        fw,
        `(function () { try { ${code}; return "no error"; } catch (e) { return e.name + ": " + e.message + (e.code === undefined ? "" : " [code " + e.code + "]"); } })()`,
      );
    t.match(thrown("host.devRead(99999, 0, 1)"), /^DeviceError: descriptor 99999 is not the disk's \(\d+\) \[code 6\]/);
    t.match(
      thrown("host.devRead(JSON.parse(host.disk()).handle, 1e15, 1)"),
      /^DeviceError: .*outside the device.*\[code 2\]/,
    );
    t.match(thrown('host.coreCall("format", [])'), /^UsageError: the core has no export format/);
    // a layer is the core's: an unknown kind is the core's E_LAYER (49), not a host error
    t.equal(evaluate(fw, 'host.coreCall("layerOpen", [9, JSON.parse(host.disk()).handle, 0, 0, 0, 0])'), -49);
    t.same(evaluate(fw, '[host.coreCall("failureCode", []), host.coreCall("failureValue", [0])]'), [49, 1]);
    t.match(thrown("host.sha256End(42)"), /^UsageError: no SHA-256 hash 42 is open/);
    t.equal(evaluate(fw, "host.coreDeviceError()"), "null", "no device error after a job that had none");
    t.equal(
      evaluate(
        fw,
        "var id = host.sha256Begin(); host.sha256Update(id, new Uint8Array([97, 98, 99]).buffer); host.sha256End(id)",
      ),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      "SHA-256 of abc (FIPS 180-4's example)",
    );
    // RFC 8032 section 7.1, test 1 (the empty message), and the same signature with a bit flipped
    const ed = (sig: string) =>
      evaluate(
        fw,
        `(function () { var h = function (s) { var b = new Uint8Array(s.length / 2); for (var i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16); return b.buffer; }; return host.ed25519Verify(h("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"), new ArrayBuffer(0), h("${sig}")); })()`,
      );
    const rfc =
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    t.equal(ed(rfc), true, "Ed25519: RFC 8032's test 1 verifies");
    t.equal(ed(`f${rfc.slice(1)}`), false, "and a changed signature does not");
    t.equal(
      evaluate(
        fw,
        "(function () { var m = new Uint8Array([1, 2, 3]).buffer; return host.ed25519Verify(host.devicePublicKey(), m, host.deviceSign(m)); })()",
      ),
      true,
      "the device key signs, and its public half verifies the signature",
    );
    // PBKDF2-HMAC-SHA256 of "password" with salt "salt", 1 iteration, 32 bytes (RFC 7914 section 11's vector)
    t.equal(
      evaluate(
        fw,
        '(function () { var t = function (s) { return new Uint8Array(s.split("").map(function (c) { return c.charCodeAt(0); })).buffer; }; return Array.prototype.map.call(new Uint8Array(host.pbkdf2Sha256(t("password"), t("salt"), 1, 32)), function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join(""); })()',
      ),
      "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
      "PBKDF2-HMAC-SHA256: the published test vector",
    );
    // as one JSON text: dumping the array value by value costs the context more
    const calls = JSON.parse(evaluate(fw, "JSON.stringify(__calls)") as string) as Call[];
    const seen = new Set(calls.map((c) => c.name));
    t.same(
      declared.filter((n) => !seen.has(n)),
      [],
      "every declared function was called",
    );
    const problems = calls.slice(0, life).flatMap(conformance);
    t.same(problems.slice(0, 10), [], `${calls.length} calls conform (${problems.length} problems)`);
  });
}

t.test("the shapes are checked, not waved through", async (t) => {
  const report = { ok: true, restoreNeeded: false, problems: [], files: 3, manifestFiles: 2 };
  const health = { $ref: "#/types/HealthReport" } as JsonSchema;
  t.same(validateAgainstSchema(gen.schemaOf(api, health), report, "health"), []);
  t.not(validateAgainstSchema(gen.schemaOf(api, health), { ...report, extra: 1 }, "health"), [], "an undeclared field");
  t.not(validateAgainstSchema(gen.schemaOf(api, health), { ...report, files: "3" }, "health"), [], "a wrong type");
  const { files: _files, ...missing } = report;
  t.not(validateAgainstSchema(gen.schemaOf(api, health), missing, "health"), [], "a missing field");
  const step = { $ref: "#/types/StepResult" } as JsonSchema;
  const s = { done: false, phase: "clusters", bytesDone: 1, bytesTotal: 2 };
  t.same(validateAgainstSchema(gen.schemaOf(api, step), s, "step"), [], "phase: a text of core-abi.json's Phase");
  t.not(validateAgainstSchema(gen.schemaOf(api, step), { ...s, phase: "copying" }, "step"), [], "an unknown phase");
  const wrong: Call = { name: "devFlush", args: ["1"], type: "undefined" };
  t.not(conformance(wrong), [], "a string where an int is declared");
  const disk: Call = { name: "disk", args: [], result: '{"handle":1}', type: "string" };
  t.not(conformance(disk), [], "a result without a required field");
  t.not(conformance({ name: "format", args: [] }), [], "an undeclared function");
});

t.test("a trap in the core crosses as CoreTrap, whatever threw it", (t) => {
  const trapping = (e: unknown) =>
    new NativeHost(
      {
        exports: {
          step: (_budget: number) => {
            throw e;
          },
        } as unknown as NativeCore["exports"],
        attach: () => 1,
        detach: () => undefined,
        copyOut: () => new Uint8Array(0),
        copyIn: () => undefined,
        takeDeviceError: () => undefined,
      },
      new RamDevice(512, 8),
      { profile: {}, now: () => 0 },
    );
  for (const e of [
    new WebAssembly.RuntimeError("unreachable"),
    Object.assign(new ClusterbackError("wasm core aborted at ~lib/x.ts:1:2: assertion"), { name: "CoreTrap" }),
    new TypeError("a bug in an import"),
  ]) {
    const err = (() => {
      try {
        trapping(e).coreCall("step", [1]);
      } catch (x) {
        return x as Error;
      }
    })();
    t.equal(err?.name, "CoreTrap", `${e.constructor.name}: named CoreTrap`);
    t.match(err?.message, new RegExp(`^the core trapped in step: ${e.message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  }
  t.end();
});
