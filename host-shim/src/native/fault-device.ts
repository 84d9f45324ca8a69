// A block device that fails on purpose (littlefs bd/lfs_emubd style): it wraps another device
// and, following a plan that may be set and changed at any time, cuts the power after a number
// of writes (optionally tearing the write it cuts), fails reads and writes at chosen sectors,
// silently drops chosen writes and silently flips chosen bits. It counts what passed through
// and can log every write, so that a test can say exactly what reached the medium.
//
// Write indices: every write() call made to this wrapper gets the next index, from 0, whatever
// its outcome (written, dropped, failed, cut). `powerCutAfterWrites` counts completed writes
// (those that returned normally, dropped ones included) since construction or powerOn().
// It has no deferWrite: every write goes through write(), where the plan sees it.

import { BadSectorError, DeviceCode, DeviceError } from "../../../firmware-module/src/ops/errors";
import { BlockDevice } from "./devices";

/** The power went at a write: that write (unless torn) and everything after it did not happen. */
export class PowerCutError extends DeviceError {
  constructor(
    message: string,
    readonly writeIndex: number,
    readonly lba: number,
  ) {
    super(DeviceCode.io, message);
    this.name = "PowerCutError";
  }
}

export { BadSectorError }; // defined in errors.ts (the CLI does not load this module to know it)

/** A bit to flip: byte `byte` (0 .. sectorSize - 1) of sector `lba`, bit `bit` (0 = least significant). */
export interface BitFlip {
  lba: number;
  byte: number;
  bit: number;
}

export interface WriteInfo {
  index: number;
  lba: number;
  sectorCount: number;
}

export type WriteOutcome = "written" | "dropped" | "torn" | "cut" | "failed";

export interface WriteRecord extends WriteInfo {
  outcome: WriteOutcome;
  /** Sectors of this write that reached the inner device. */
  sectorsReached: number;
}

export interface FaultCounters {
  /** Completed calls (a failed call is not counted; a dropped write is: its caller saw success). */
  reads: number;
  writes: number;
  flushes: number;
  sectorsRead: number;
  sectorsWritten: number;
  bytesRead: number;
  bytesWritten: number;
}

export interface FaultPlan {
  /** After this many completed writes the power goes: the next write and every later read, write and flush throw PowerCutError. */
  powerCutAfterWrites?: number;
  /** Sectors at the start of the cut write that reach the medium before the power goes (default 0). */
  tearSectors?: number;
  /** Reads touching these LBAs fail with BadSectorError (IO). */
  badReadSectors: Set<number>;
  /** Writes touching these LBAs fail with BadSectorError (IO) and write nothing. */
  badWriteSectors: Set<number>;
  /** Write indices (or a predicate) whose writes complete without reaching the medium. */
  dropWrites: Set<number> | ((w: WriteInfo) => boolean);
  /** Bits flipped in what a read returns (the medium keeps its bytes). */
  flipOnRead: BitFlip[];
  /** Bits flipped on their way to the medium (the caller's buffer keeps its bytes). */
  flipOnWrite: BitFlip[];
  /** Record every write() call in `writeLog`. */
  logWrites: boolean;
}

function newCounters(): FaultCounters {
  return { reads: 0, writes: 0, flushes: 0, sectorsRead: 0, sectorsWritten: 0, bytesRead: 0, bytesWritten: 0 };
}

export class FaultDevice implements BlockDevice, FaultPlan {
  powerCutAfterWrites?: number;
  tearSectors?: number;
  badReadSectors = new Set<number>();
  badWriteSectors = new Set<number>();
  dropWrites: Set<number> | ((w: WriteInfo) => boolean) = new Set<number>();
  flipOnRead: BitFlip[] = [];
  flipOnWrite: BitFlip[] = [];
  logWrites = false;
  readonly writeLog: WriteRecord[] = [];
  counters: FaultCounters = newCounters();
  readonly name: string;
  /** Set when the power went: the write it went at. */
  powerCut: WriteRecord | undefined;
  private nextWriteIndex = 0;
  private writesSincePowerOn = 0;
  private closed = false;

  constructor(
    readonly inner: BlockDevice,
    plan: Partial<FaultPlan> = {},
    name?: string,
  ) {
    this.name = name ?? inner.name;
    Object.assign(this, plan);
  }

  get sectorSize(): number {
    return this.inner.sectorSize;
  }
  get sectorCount(): number {
    return this.inner.sectorCount;
  }
  /** The index the next write() call will get. */
  get writeIndex(): number {
    return this.nextWriteIndex;
  }

  /** The reboot: power is back, the power cut of the plan is used up. The inner device holds exactly what reached it. */
  powerOn(): void {
    this.powerCut = undefined;
    this.powerCutAfterWrites = undefined;
    this.tearSectors = undefined;
    this.writesSincePowerOn = 0;
  }

  resetCounters(): void {
    this.counters = newCounters();
    this.writeLog.length = 0;
  }

  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.live("read", lba, sectorCount);
    this.checkRequest("read", lba, sectorCount);
    const bad = firstIn(this.badReadSectors, lba, sectorCount);
    if (bad !== undefined) throw new BadSectorError(this.name, "read", bad, lba, sectorCount);
    this.inner.read(lba, sectorCount, dst, dstOffset);
    for (const f of this.flipOnRead) {
      if (f.lba >= lba && f.lba < lba + sectorCount)
        dst[dstOffset + (f.lba - lba) * this.sectorSize + f.byte] ^= 1 << f.bit;
    }
    this.counters.reads++;
    this.counters.sectorsRead += sectorCount;
    this.counters.bytesRead += sectorCount * this.sectorSize;
  }

  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.live("write", lba, sectorCount);
    this.checkRequest("write", lba, sectorCount);
    const record: WriteRecord = {
      index: this.nextWriteIndex++,
      lba,
      sectorCount,
      outcome: "failed",
      sectorsReached: 0,
    };
    if (this.logWrites) this.writeLog.push(record);
    if (this.powerCutAfterWrites !== undefined && this.writesSincePowerOn >= this.powerCutAfterWrites)
      this.cut(record, src, srcOffset);
    const bad = firstIn(this.badWriteSectors, lba, sectorCount);
    if (bad !== undefined) throw new BadSectorError(this.name, "write", bad, lba, sectorCount);
    const drop =
      typeof this.dropWrites === "function"
        ? this.dropWrites({ index: record.index, lba, sectorCount })
        : this.dropWrites.has(record.index);
    if (drop) {
      record.outcome = "dropped";
    } else {
      this.writeThrough(lba, sectorCount, src, srcOffset);
      record.outcome = "written";
      record.sectorsReached = sectorCount;
    }
    this.writesSincePowerOn++;
    this.counters.writes++;
    this.counters.sectorsWritten += sectorCount;
    this.counters.bytesWritten += sectorCount * this.sectorSize;
  }

  flush(): void {
    this.live("flush", -1, 0);
    this.inner.flush();
    this.counters.flushes++;
  }

  close(): void {
    this.closed = true;
    this.inner.close();
  }

  /** The power goes at this write: its first tearSectors sectors reach the medium, then it throws. */
  private cut(record: WriteRecord, src: Uint8Array, srcOffset: number): never {
    const torn = Math.min(Math.max(0, Math.floor(this.tearSectors ?? 0)), record.sectorCount);
    if (torn > 0) this.writeThrough(record.lba, torn, src, srcOffset);
    record.outcome = torn > 0 ? "torn" : "cut";
    record.sectorsReached = torn;
    this.powerCut = record;
    throw new PowerCutError(
      `${this.name}: power cut at write ${record.index} (LBA ${record.lba}, ${record.sectorCount} sectors): ${torn} of them reached the medium`,
      record.index,
      record.lba,
    );
  }

  private writeThrough(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    const flips = this.flipOnWrite.filter((f) => f.lba >= lba && f.lba < lba + sectorCount);
    if (flips.length === 0) {
      this.inner.write(lba, sectorCount, src, srcOffset);
      return;
    }
    const copy = src.slice(srcOffset, srcOffset + sectorCount * this.sectorSize);
    for (const f of flips) copy[(f.lba - lba) * this.sectorSize + f.byte] ^= 1 << f.bit;
    this.inner.write(lba, sectorCount, copy, 0);
  }

  private live(op: string, lba: number, sectorCount: number): void {
    if (this.closed) throw new DeviceError(DeviceCode.closed, `${this.name}: used after close`);
    const p = this.powerCut;
    if (p) {
      const what = op === "flush" ? "flush" : `${op} of ${sectorCount} sectors at LBA ${lba}`;
      throw new PowerCutError(
        `${this.name}: power is off since write ${p.index} (LBA ${p.lba}): ${what} refused`,
        p.index,
        p.lba,
      );
    }
  }

  /** LBAs must be whole and not negative before the fault sets are consulted; the inner device checks the upper bound. */
  private checkRequest(op: string, lba: number, sectorCount: number): void {
    const limit = op === "read" ? this.inner.sectorCount : Number.MAX_SAFE_INTEGER;
    if (
      !Number.isSafeInteger(lba) ||
      !Number.isSafeInteger(sectorCount) ||
      lba < 0 ||
      sectorCount < 0 ||
      lba + sectorCount > limit
    ) {
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: ${op} of ${sectorCount} sectors at LBA ${lba} is outside the device (${this.inner.sectorCount} sectors)`,
      );
    }
  }
}

/** The lowest member of `set` in [lba, lba + count), or undefined. */
function firstIn(set: Set<number>, lba: number, count: number): number | undefined {
  let first: number | undefined;
  if (set.size < count) {
    for (const s of set) if (s >= lba && s < lba + count && (first === undefined || s < first)) first = s;
  } else {
    for (let s = lba; s < lba + count && first === undefined; s++) if (set.has(s)) first = s;
  }
  return first;
}
