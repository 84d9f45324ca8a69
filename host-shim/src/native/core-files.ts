// Where the Node host finds its files: the package root, the two builds of the wasm core
// (compiled once per process) and the firmware bundle. A printer has them in its own image.
import * as fs from "node:fs";
import * as path from "node:path";
import { ClusterbackError } from "../../../firmware-module/src/ops/device-errors";

/**
 * The two builds of the core (asconfig.json targets): "simd" (as-core/build/core.wasm: fixed-width
 * SIMD and a shared memory, for V8/Node and the background writer thread) and "portable"
 * (core-portable.wasm: no SIMD, no threads, an unshared memory, for wasm3, WAMR's classic
 * interpreter, wasm2c). Both compute the same checks and write the same images.
 */
export type CoreBuild = "simd" | "portable";
const CORE_FILES: Record<CoreBuild, string> = { simd: "core.wasm", portable: "core-portable.wasm" };
const compiled = new Map<CoreBuild, WebAssembly.Module>();

/** The build that CLUSTERBACK_CORE names ("simd" or "portable"); "simd" when it is unset or empty. */
export function coreBuildFromEnv(env: NodeJS.ProcessEnv = process.env): CoreBuild {
  const v = env.CLUSTERBACK_CORE;
  if (v === undefined || v === "" || v === "simd") return "simd";
  if (v === "portable") return "portable";
  throw new ClusterbackError(`CLUSTERBACK_CORE=${v}: expected "simd" or "portable"`);
}

export function findPackageRoot(from = __dirname): string {
  let dir = from;
  for (;;) {
    if (fs.existsSync(path.join(dir, "asconfig.json"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new ClusterbackError(`cannot find the clusterback package root above ${from}`);
    dir = up;
  }
}

/** The path of a build's wasm file. */
export function coreFile(build: CoreBuild): string {
  return path.join(findPackageRoot(), "as-core", "build", CORE_FILES[build]);
}

/** A build of the core, compiled (once per process). */
export function coreModule(build: CoreBuild): WebAssembly.Module {
  let m = compiled.get(build);
  if (!m) {
    const file = coreFile(build);
    if (!fs.existsSync(file)) throw new ClusterbackError(`wasm core not built: ${file} is missing (run npm run build)`);
    m = new WebAssembly.Module(fs.readFileSync(file));
    compiled.set(build, m);
  }
  return m;
}

/**
 * The firmware bundle (npm run build): dist/firmware/firmware.js, every file system; with
 * `ntfs: false`, dist/firmware/firmware-nontfs.js, built without NTFS (firmware-module/src/ops/
 * build-flags.d.ts), for a printer whose profile names no NTFS partition.
 */
export function bundlePath(options: { ntfs?: boolean } = {}): string {
  return path.join(
    findPackageRoot(),
    "dist",
    "firmware",
    options.ntfs === false ? "firmware-nontfs.js" : "firmware.js",
  );
}
