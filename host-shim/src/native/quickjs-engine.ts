// Loads the QuickJS engine (quickjs-emscripten's release, sync build) for the Node host, once per
// process. A printer links QuickJS as native code, compiled before it ships; in Node, QuickJS is
// wasm that V8 compiles in the process. By default V8 compiles each wasm function on its first
// call with its baseline compiler and recompiles the hot ones later: then the first runtime of a
// process spends most of its time in V8's compilers while QuickJS parses firmware.js (50-200 ms,
// measured by npm run bench, docs/bench-firmware.md). So the engine compiles all of QuickJS's
// wasm with V8's optimizing compiler while it loads, before any runtime exists, as a printer's
// build does: the engine load takes that time instead (0.35 s on an idle 2-CPU machine, about
// 1 s on a loaded one, 0.4-0.5 s more CPU), and a runtime's creation is QuickJS's own work.
import * as fs from "node:fs";
import * as path from "node:path";
import * as v8 from "node:v8";
import { newQuickJSWASMModuleFromVariant, newVariant, QuickJSWASMModule, RELEASE_SYNC } from "quickjs-emscripten";

export interface EngineLoadOptions {
  /** "eager" (default): compiled as the engine loads, optimized; "lazy": V8's default (above). */
  compile?: "eager" | "lazy";
}

let quickjs: Promise<QuickJSWASMModule> | undefined;
/** The QuickJS engine; the first call's options decide how it is compiled. */
export function loadQuickJS(options: EngineLoadOptions = {}): Promise<QuickJSWASMModule> {
  const variant = options.compile === "lazy" ? RELEASE_SYNC : newVariant(RELEASE_SYNC, { wasmModule: compileEagerly });
  quickjs ??= newQuickJSWASMModuleFromVariant(variant).catch((e) => {
    quickjs = undefined;
    throw e;
  });
  return quickjs;
}

/**
 * V8 has no per-module switch for eager, optimized compilation: the flags are turned off for the
 * duration of the compile (V8 reads them when a module is compiled; the module keeps its code)
 * and back on after it (Node 20's defaults), unless the process was started with one of them
 * set explicitly, which is then left as given.
 */
async function compileEagerly(): Promise<WebAssembly.Module> {
  const from = { paths: [path.dirname(require.resolve("quickjs-emscripten"))] };
  const bytes = fs.readFileSync(require.resolve("@jitl/quickjs-wasmfile-release-sync/wasm", from));
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)].map((a) =>
    a.replace(/_/g, "-"),
  );
  const flags = ["wasm-lazy-compilation", "wasm-dynamic-tiering"].filter(
    (f) => !given.includes(`--${f}`) && !given.includes(`--no-${f}`),
  );
  for (const f of flags) v8.setFlagsFromString(`--no-${f}`);
  try {
    // asynchronously: a synchronous compile (new WebAssembly.Module) under the same flags still
    // gave baseline code (Node 20.20); @types/node declares no WebAssembly.compile
    return await (WebAssembly as unknown as { compile(b: Uint8Array): Promise<WebAssembly.Module> }).compile(bytes);
  } finally {
    for (const f of flags) v8.setFlagsFromString(`--${f}`);
  }
}
