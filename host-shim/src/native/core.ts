// The Node host's core for the CLI and the tests: the portable operations' Core (ops/core.ts:
// results, check, run) over a WasmCore instance (wasm-core.ts: the module, its imports and
// memory, which is all a printer's native side holds), plus the CLI's background writer: the
// SIMD build's shared memory lets a worker thread write blocks straight out of it.
import { CoreExports, IO_BYTES } from "../../../firmware-module/src/ops/abi";
import type { BlockDevice } from "../../../firmware-module/src/ops/block-device";
import { Core as PortableCore } from "../../../firmware-module/src/ops/core";
import { ClusterbackError, DeviceError } from "../../../firmware-module/src/ops/errors";
import { AsyncWriter } from "./async-writer";
import "./platform";
import { CoreBuild, coreBuildFromEnv, coreModule } from "./core-files";
import { NativeCore, WasmCore } from "./wasm-core";

// The portable part (results, check, run, the types) is firmware-module/src/ops/core.ts.
export * from "../../../firmware-module/src/ops/core";
export { CoreBuild, coreBuildFromEnv, coreFile, findPackageRoot } from "./core-files";
export { NativeCore, WasmCore } from "./wasm-core";

/** The Node host's instance of the wasm core (a printer's is its wasm runtime, docs/core-abi.md). */
export class Core extends PortableCore implements NativeCore {
  /** The instance itself: what the native host API (native-host.ts) is given. */
  readonly wasm: WasmCore;
  /** Which build of the core this instance runs. */
  readonly build: CoreBuild;
  private writer: AsyncWriter | undefined;
  private readonly ioStart: number;
  private readonly ioEnd: number;
  /** Let writes from the block buffers complete in a worker thread (file devices only; the SIMD build only). */
  backgroundWrites: boolean;

  /**
   * build: "simd" (core.wasm) or "portable" (core-portable.wasm); default: CLUSTERBACK_CORE, else
   * "simd". The portable build's memory is not shared, so it has no background writer (a
   * backgroundWrites request is ignored there).
   */
  constructor(options: { backgroundWrites?: boolean; build?: CoreBuild } = {}) {
    super();
    this.build = options.build ?? coreBuildFromEnv();
    this.wasm = new WasmCore(coreModule(this.build), this.build === "simd");
    this.backgroundWrites = this.build === "simd" && (options.backgroundWrites ?? true);
    const a = this.exports.ioPtr(),
      b = this.exports.io2Ptr();
    this.ioStart = Math.min(a, b);
    this.ioEnd = Math.max(a, b) + IO_BYTES;
    this.wasm.hooks = {
      beforeMemoryUse: (ptr, bytes) => this.writer?.beforeMemoryUse(ptr, bytes),
      deferWrite: (d, lba, count, ptr) =>
        this.backgroundWrites &&
        this.build === "simd" &&
        d.deferWrite !== undefined &&
        ptr >= this.ioStart &&
        ptr + count * d.sectorSize <= this.ioEnd &&
        d.deferWrite(lba, count, ptr, this.asyncWriter()),
    };
  }

  get exports(): CoreExports {
    return this.wasm.exports;
  }

  private asyncWriter(): AsyncWriter {
    if (this.build !== "simd")
      throw new ClusterbackError("the portable core has no background writer (its memory is not shared)");
    this.writer ??= new AsyncWriter(this.wasm.memory.buffer as unknown as SharedArrayBuffer);
    return this.writer;
  }

  /** The writer thread, for an image's SHA-256 taken off this thread (undefined: no thread; hash here). */
  hashThread(): AsyncWriter | undefined {
    return this.backgroundWrites && this.build === "simd" ? this.asyncWriter() : undefined;
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
    return this.wasm.memory.buffer.byteLength;
  }

  /** A copy of core memory (the host API's coreRead). */
  copyOut(ptr: number, length: number): Uint8Array {
    return this.wasm.copyOut(ptr, length);
  }
  /** Copies into core memory (the host API's coreWrite). */
  copyIn(ptr: number, bytes: Uint8Array): void {
    this.wasm.copyIn(ptr, bytes);
  }
  protected readMemory(ptr: number, length: number): Uint8Array {
    return this.wasm.copyOut(ptr, length);
  }
  protected writeMemory(ptr: number, bytes: Uint8Array): void {
    this.wasm.copyIn(ptr, bytes);
  }
  takeDeviceError(): DeviceError | undefined {
    return this.wasm.takeDeviceError();
  }

  attach(d: BlockDevice): number {
    return this.wasm.attach(d);
  }
  detach(h: number): void {
    this.wasm.detach(h);
  }
}
