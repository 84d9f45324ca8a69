// The portable side of the wasm core: what every operation needs from an instance of it (its
// exports, its result slots, its params and patch areas, and the device handle table), with
// no knowledge of how it was instantiated. The Node host's instance is host-shim/src/native/
// core.ts; a printer's is its wasm runtime behind the host API (docs/host-api.md). The exports,
// slots, flags and codes are declared once, in as-core/contract/core-abi.json (abi.ts is
// generated from it; docs/core-abi.md is the integrator's reference).
import {
  CHECK_INPUT_MAX,
  CLAIMED_BYTES,
  CoreCode,
  CoreExports,
  PARAMS_BYTES,
  PATCH_AREA_BYTES,
  PATCH_BYTES,
  PhaseText,
  RESULT_SLOTS,
  readCheck,
  Slot,
  STEP_BUDGET_DEFAULT,
} from "./abi";
import { BlockDevice } from "./devices";
import { ClusterbackError, coreError, DeviceError } from "./errors";

/** restoreBegin's flags (RestoreFlag in the contract: readBack, full, onePass). */
export { NO_DEVICE, RestoreFlag, Slot } from "./abi";
/** The progress phase's words. */
export const PhaseName = PhaseText;

export interface Progress {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface RunOptions {
  /** Bytes of I/O per step (default 32 MiB). */
  budget?: number;
  onProgress?: (p: Progress) => void;
  /** Polled between steps; true stops the job with a CancelledError. */
  shouldCancel?: () => boolean;
}

export class CancelledError extends ClusterbackError {
  constructor() {
    super("cancelled");
    this.name = "CancelledError";
  }
}

/** One instance of the wasm core with its device handle table, as the operations see it. */
export abstract class Core {
  abstract readonly exports: CoreExports;
  /** The device error behind the core's last E_DEVICE, kept by the device imports. */
  protected lastDeviceError: DeviceError | undefined;

  /** The device error behind the core's last E_DEVICE, if any; taking it clears it. */
  takeDeviceError(): DeviceError | undefined {
    const e = this.lastDeviceError;
    this.lastDeviceError = undefined;
    return e;
  }

  /** Gives `d` a handle the core's dev.read/write/flush imports reach it by. */
  abstract attach(d: BlockDevice): number;
  abstract detach(h: number): void;
  // The operations reach the core's memory only through these two copies, never through a
  // live view: a printer's QuickJS cannot see its wasm runtime's memory, and cluster data never
  // has to cross (only results, params and patches do: a few KiB).
  /** A copy of `length` bytes of the core's memory at `ptr`. */
  protected abstract readMemory(ptr: number, length: number): Uint8Array;
  /** Copies `bytes` into the core's memory at `ptr`. */
  protected abstract writeMemory(ptr: number, bytes: Uint8Array): void;

  /** A copy of the result slots as they are now (take a new one after the next call). */
  results(): Float64Array {
    const b = this.readMemory(this.exports.resultPtr(), RESULT_SLOTS * 8);
    return new Float64Array(b.buffer, b.byteOffset, RESULT_SLOTS);
  }
  resultBytes(slot: number, length: number): Uint8Array {
    return this.readMemory(this.exports.resultPtr() + slot * 8, length);
  }
  /** Sets the params area (docs/core-abi.md, Params) to `bytes`, zero past them. */
  setParams(bytes: Uint8Array = new Uint8Array(0)): void {
    if (bytes.length > PARAMS_BYTES) throw new RangeError(`params are ${PARAMS_BYTES} bytes, not ${bytes.length}`);
    const all = new Uint8Array(PARAMS_BYTES);
    all.set(bytes);
    this.writeMemory(this.exports.paramsPtr(), all);
  }
  /** Writes source patches (as-core/assembly/patch.ts layout) at the start of the core's patch area. */
  writePatches(bytes: Uint8Array): void {
    if (bytes.length > PATCH_AREA_BYTES)
      throw new RangeError(`the patch area is ${PATCH_AREA_BYTES} bytes, not ${bytes.length}`);
    this.writeMemory(this.exports.patchesPtr(), bytes);
  }

  /** A copy of `count` patches of the core's patch area from patch `first` (the tree walk's KEEP patches follow the host's). */
  readPatches(first: number, count: number): Uint8Array {
    if (first < 0 || count < 0 || (first + count) * PATCH_BYTES > PATCH_AREA_BYTES)
      throw new RangeError(`patches ${first}..${first + count} are outside the patch area (${PATCH_AREA_BYTES} bytes)`);
    return this.readMemory(this.exports.patchesPtr() + first * PATCH_BYTES, count * PATCH_BYTES);
  }

  /** Writes fatCheck's claimed bits (a window of a ClusterBitmap) at the start of the core's claimed buffer. */
  writeClaimed(bytes: Uint8Array): void {
    if (bytes.length > CLAIMED_BYTES)
      throw new RangeError(`the claimed buffer is ${CLAIMED_BYTES} bytes, not ${bytes.length}`);
    if (bytes.length > 0) this.writeMemory(this.exports.claimedPtr(), bytes);
  }

  /** Turns a negative core result into the matching error; a device failure rethrows the device's own error. */
  check(r: number): number {
    if (r >= 0) return r;
    const code = this.exports.failureCode();
    const e = this.takeDeviceError();
    if (code === CoreCode.E_DEVICE && e) throw e;
    throw coreError(
      code,
      [0, 1, 2, 3].map((i) => this.exports.failureValue(i)),
    );
  }

  /** Drives the current job: step(budget) until done, progress and cancel between steps. */
  run(options: RunOptions = {}): void {
    const budget = options.budget ?? STEP_BUDGET_DEFAULT;
    for (;;) {
      this.takeDeviceError();
      const r = this.check(this.exports.step(budget));
      const res = this.results();
      options.onProgress?.({
        phase: PhaseName[res[Slot.phase]] ?? "?",
        bytesDone: res[Slot.bytesDone],
        bytesTotal: res[Slot.bytesTotal],
      });
      if (r === 1) return;
      if (options.shouldCancel?.()) throw new CancelledError();
    }
  }

  /** CBH-64 of bytes (a multiple of 64) as a 16-digit hex string: for tests and tools. */
  checkOf(bytes: Uint8Array, seed = 0): string {
    const ptr = this.exports.paramsPtr();
    if (bytes.length % 64 !== 0 || bytes.length > CHECK_INPUT_MAX)
      throw new RangeError(`checkOf takes 64..${CHECK_INPUT_MAX} bytes in steps of 64`);
    this.writeMemory(ptr, bytes);
    this.exports.checkOf(ptr, bytes.length, seed);
    return readCheck(this.results()).digest.toString(16).padStart(16, "0");
  }
}
