// Loads the wasm core and gives it the sector I/O of block devices through three imports.
// Bulk data moves between a device and wasm memory only: reads land straight in the
// core's buffers (fs.readSync into the wasm memory view), writes leave from them.
import * as fs from "node:fs";
import * as path from "node:path";
import { CoreExports, DeviceCode, IO_BYTES, MEMORY_PAGES } from "../../../firmware-module/src/ops/abi";
import { Core as PortableCore } from "../../../firmware-module/src/ops/core";
import { AsyncWriter } from "./async-writer";
import "./platform";
import type { BlockDevice } from "../../../firmware-module/src/ops/devices";
import { ClusterbackError, DeviceError } from "../../../firmware-module/src/ops/errors";

// The portable part (results, check, run, the types) is firmware-module/src/ops/core.ts.
export * from "../../../firmware-module/src/ops/core";

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

/** The path of a build's wasm file. */
export function coreFile(build: CoreBuild): string {
  return path.join(findPackageRoot(), "as-core", "build", CORE_FILES[build]);
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

function coreModule(build: CoreBuild): WebAssembly.Module {
  let m = compiled.get(build);
  if (!m) {
    const file = coreFile(build);
    if (!fs.existsSync(file)) throw new ClusterbackError(`wasm core not built: ${file} is missing (run npm run build)`);
    m = new WebAssembly.Module(fs.readFileSync(file));
    compiled.set(build, m);
  }
  return m;
}

/** The Node host's instance of the wasm core (a printer's is its wasm runtime, docs/core-abi.md). */
export class Core extends PortableCore {
  readonly exports: CoreExports;
  private readonly devices = new Map<number, BlockDevice>();
  private nextHandle = 1;
  private mem: Uint8Array;
  private readonly memory: WebAssembly.Memory;
  private writer: AsyncWriter | undefined;
  private ioStart = 0;
  private ioEnd = 0;
  /** Let writes from the block buffers complete in a worker thread (file devices only; the SIMD build only). */
  backgroundWrites: boolean;
  /** Which build of the core this instance runs. */
  readonly build: CoreBuild;

  /**
   * build: "simd" (core.wasm) or "portable" (core-portable.wasm); default: CLUSTERBACK_CORE, else
   * "simd". The portable build's memory is not shared, so it has no background writer (a
   * backgroundWrites request is ignored there).
   */
  constructor(options: { backgroundWrites?: boolean; build?: CoreBuild } = {}) {
    super();
    this.build = options.build ?? coreBuildFromEnv();
    const shared = this.build === "simd";
    this.backgroundWrites = shared && (options.backgroundWrites ?? true);
    // 64 pages (4 MiB), never grows; shared in the SIMD build so that a writer thread can write
    // straight from it
    this.memory = new WebAssembly.Memory({ initial: MEMORY_PAGES, maximum: MEMORY_PAGES, shared });
    const imports = {
      env: {
        memory: this.memory,
        abort: (msg: number, file: number, line: number, col: number) => {
          throw new ClusterbackError(
            `wasm core aborted at ${this.readString(file)}:${line}:${col}: ${this.readString(msg)}`,
          );
        },
      },
      dev: {
        read: (h: number, lba: number, count: number, ptr: number) =>
          this.io(h, (d) => {
            this.writer?.beforeMemoryUse(ptr, count * d.sectorSize);
            d.read(lba, count, this.mem, ptr);
          }),
        write: (h: number, lba: number, count: number, ptr: number) =>
          this.io(h, (d) => {
            if (
              this.backgroundWrites &&
              shared &&
              d.deferWrite &&
              ptr >= this.ioStart &&
              ptr + count * d.sectorSize <= this.ioEnd
            ) {
              if (d.deferWrite(lba, count, ptr, this.asyncWriter())) return;
            }
            d.write(lba, count, this.mem, ptr);
          }),
        flush: (h: number) => this.io(h, (d) => d.flush()),
      },
    };
    const instance = new WebAssembly.Instance(coreModule(this.build), imports);
    this.exports = instance.exports as unknown as CoreExports;
    this.exports.init();
    // the memory is sized once and never grows, so this view stays valid
    this.mem = new Uint8Array(this.memory.buffer);
    const a = this.exports.ioPtr(),
      b = this.exports.io2Ptr();
    this.ioStart = Math.min(a, b);
    this.ioEnd = Math.max(a, b) + IO_BYTES;
  }

  private asyncWriter(): AsyncWriter {
    if (this.build !== "simd")
      throw new ClusterbackError("the portable core has no background writer (its memory is not shared)");
    this.writer ??= new AsyncWriter(this.memory.buffer as unknown as SharedArrayBuffer);
    return this.writer;
  }

  /** Starts the writer thread now (a job that will write calls this first, so that the thread's start overlaps the image checks). */
  prepareWrites(): void {
    if (this.backgroundWrites && this.build === "simd") this.asyncWriter();
  }

  /** Waits for background writes and stops the writer thread. */
  dispose(): void {
    this.writer?.close();
    this.writer = undefined;
  }

  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** A copy of core memory (the host API's coreRead). */
  copyOut(ptr: number, length: number): Uint8Array {
    return this.readMemory(ptr, length);
  }
  /** Copies into core memory (the host API's coreWrite). */
  copyIn(ptr: number, bytes: Uint8Array): void {
    this.writeMemory(ptr, bytes);
  }

  protected readMemory(ptr: number, length: number): Uint8Array {
    return this.mem.slice(ptr, ptr + length);
  }
  protected writeMemory(ptr: number, bytes: Uint8Array): void {
    this.mem.set(bytes, ptr);
  }

  private io(h: number, fn: (d: BlockDevice) => void): number {
    const d = this.devices.get(h);
    if (!d) return -DeviceCode.closed;
    try {
      fn(d);
      return 0;
    } catch (e) {
      if (e instanceof DeviceError) {
        this.lastDeviceError = e;
        return -e.code;
      }
      throw e;
    }
  }

  private readString(ptr: number): string {
    if (!ptr) return "?";
    const len = new Uint32Array(this.memory.buffer, ptr - 4, 1)[0];
    return Buffer.from(this.mem.subarray(ptr, ptr + len)).toString("utf16le");
  }

  attach(d: BlockDevice): number {
    const h = this.nextHandle++;
    this.devices.set(h, d);
    return h;
  }
  detach(h: number): void {
    this.devices.delete(h);
  }
}
