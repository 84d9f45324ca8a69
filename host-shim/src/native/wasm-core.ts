// The wasm core as a printer's native side holds it: the module instantiated with its fixed
// memory, the dev.read, dev.write and dev.flush imports over a table of block devices (a
// handle is a descriptor of the host API), copies in and out of its memory, and the device error
// behind its last E_DEVICE. Nothing else: the operations over it are portable (ops/core.ts), and
// the CLI's background writer hooks in from core.ts.
import { CoreExports, DeviceCode, LAYER_FIRST, MEMORY_PAGES } from "../../../firmware-module/src/ops/abi";
import type { BlockDevice } from "../../../firmware-module/src/ops/block-device";
import { ClusterbackError, DeviceError } from "../../../firmware-module/src/ops/device-errors";

/** What the native host API needs of a core instance (WasmCore, and the CLI's Core over it). */
export interface NativeCore {
  readonly exports: CoreExports;
  attach(d: BlockDevice): number;
  detach(h: number): void;
  copyOut(ptr: number, length: number): Uint8Array;
  copyIn(ptr: number, bytes: Uint8Array): void;
  takeDeviceError(): DeviceError | undefined;
}

/** Hooks the CLI's background writer sets (core.ts); a printer host has none. */
export interface WriteHooks {
  /** Before the core's memory at ptr is read into: wait for writes still using it. */
  beforeMemoryUse(ptr: number, bytes: number): void;
  /** Queues a write instead of making it now; false: make it now. */
  deferWrite(d: BlockDevice, lba: number, count: number, ptr: number): boolean;
}

export class WasmCore implements NativeCore {
  readonly exports: CoreExports;
  readonly memory: WebAssembly.Memory;
  readonly mem: Uint8Array;
  hooks: WriteHooks | undefined;
  private readonly devices = new Map<number, BlockDevice>();
  private nextHandle = 1;
  private lastDeviceError: DeviceError | undefined;

  /** module: a build of the core (core-files.ts finds them); shared: its memory is shared (the SIMD build's). */
  constructor(module: WebAssembly.Module, shared: boolean) {
    // 64 pages (4 MiB), never grows; shared in the SIMD build so that a writer thread can write straight from it
    this.memory = new WebAssembly.Memory({ initial: MEMORY_PAGES, maximum: MEMORY_PAGES, shared });
    const imports = {
      env: {
        memory: this.memory,
        abort: (msg: number, file: number, line: number, col: number) => {
          const where = `${this.readString(file)}:${line}:${col}`;
          throw Object.assign(new ClusterbackError(`wasm core aborted at ${where}: ${this.readString(msg)}`), {
            name: "CoreTrap",
          });
        },
      },
      dev: {
        read: (h: number, lba: number, count: number, ptr: number) =>
          this.io(h, (d) => {
            this.hooks?.beforeMemoryUse(ptr, count * d.sectorSize);
            d.read(lba, count, this.mem, ptr);
          }),
        write: (h: number, lba: number, count: number, ptr: number) =>
          this.io(h, (d) => {
            if (!this.hooks?.deferWrite(d, lba, count, ptr)) d.write(lba, count, this.mem, ptr);
          }),
        flush: (h: number) => this.io(h, (d) => d.flush()),
      },
    };
    const instance = new WebAssembly.Instance(module, imports);
    this.exports = instance.exports as unknown as CoreExports;
    this.exports.init();
    // the memory is sized once and never grows, so this view stays valid
    this.mem = new Uint8Array(this.memory.buffer);
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

  /** A handle for d: 1..LAYER_FIRST - 1 (the core's layers take the handles above), the next free one round. */
  attach(d: BlockDevice): number {
    if (this.devices.size >= LAYER_FIRST - 1)
      throw new ClusterbackError(`the core holds ${LAYER_FIRST - 1} devices already`);
    while (this.devices.has(this.nextHandle)) this.nextHandle = (this.nextHandle % (LAYER_FIRST - 1)) + 1;
    const h = this.nextHandle;
    this.nextHandle = (h % (LAYER_FIRST - 1)) + 1;
    this.devices.set(h, d);
    return h;
  }
  detach(h: number): void {
    this.devices.delete(h);
  }
  copyOut(ptr: number, length: number): Uint8Array {
    return this.mem.slice(ptr, ptr + length);
  }
  copyIn(ptr: number, bytes: Uint8Array): void {
    this.mem.set(bytes, ptr);
  }
  takeDeviceError(): DeviceError | undefined {
    const e = this.lastDeviceError;
    this.lastDeviceError = undefined;
    return e;
  }
}
