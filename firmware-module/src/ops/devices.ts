// Block devices: the devices that only compose others (a window, a write guard, a read-failure
// trap) or live in memory, over the interface of block-device.ts. The Node host's file and
// block-device nodes are host-shim/src/native/devices.ts; one contract test covers them all
// (test/devices.test.ts). LBAs and counts are numbers (exact to 2^53).
import { BadSectorError, DeviceCode, DeviceError, WriteGuardError } from "./errors";

export { type BlockDevice, checkRange } from "./block-device";

import { type BlockDevice, checkRange } from "./block-device";

/** Bytes [byte, byte + bytes) of `dev`, whatever their sector alignment. */
export function readBytes(dev: BlockDevice, byte: number, bytes: number): Uint8Array {
  const ss = dev.sectorSize;
  const first = Math.floor(byte / ss),
    n = Math.ceil((byte + bytes) / ss) - first;
  const tmp = new Uint8Array(n * ss);
  dev.read(first, n, tmp, 0);
  return tmp.subarray(byte - first * ss, byte - first * ss + bytes);
}

/** Writes `bytes` at byte `byte` of `dev` through whole sectors (the sectors' other bytes read first, unless the write covers them whole). */
export function writeBytes(dev: BlockDevice, byte: number, bytes: Uint8Array): void {
  const ss = dev.sectorSize;
  const first = Math.floor(byte / ss),
    n = Math.ceil((byte + bytes.length) / ss) - first;
  const tmp = new Uint8Array(n * ss);
  if (byte % ss !== 0 || bytes.length % ss !== 0) dev.read(first, n, tmp, 0);
  tmp.set(bytes, byte - first * ss);
  dev.write(first, n, tmp, 0);
}

/** A device in memory (tests, the simulator). */
export class RamDevice implements BlockDevice {
  readonly bytes: Uint8Array;
  private closed = false;
  constructor(
    readonly sectorSize: number,
    sectorCountOrBytes: number | Uint8Array,
    readonly name = "ram",
  ) {
    this.bytes =
      typeof sectorCountOrBytes === "number" ? new Uint8Array(sectorCountOrBytes * sectorSize) : sectorCountOrBytes;
  }
  get sectorCount(): number {
    return Math.floor(this.bytes.length / this.sectorSize);
  }
  private live(): void {
    if (this.closed) throw new DeviceError(DeviceCode.closed, `${this.name}: used after close`);
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.live();
    checkRange(this, lba, sectorCount, "read");
    dst.set(this.bytes.subarray(lba * this.sectorSize, (lba + sectorCount) * this.sectorSize), dstOffset);
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.live();
    checkRange(this, lba, sectorCount, "write");
    this.bytes.set(src.subarray(srcOffset, srcOffset + sectorCount * this.sectorSize), lba * this.sectorSize);
  }
  flush(): void {
    this.live();
  }
  close(): void {
    this.closed = true;
  }
}

/** A window of another device: a partition (LBA 0 = its first sector). Closing it leaves the parent open. */
export class PartitionView implements BlockDevice {
  readonly name: string;
  constructor(
    readonly parent: BlockDevice,
    readonly startLba: number,
    readonly sectorCount: number,
    label?: string,
  ) {
    this.name = label ?? `${parent.name}[${startLba}+${sectorCount}]`;
    if (startLba + sectorCount > parent.sectorCount) {
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: partition (start ${startLba}, ${sectorCount} sectors) reaches past the end of ${parent.name} (${parent.sectorCount} sectors)`,
      );
    }
  }
  get sectorSize(): number {
    return this.parent.sectorSize;
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    checkRange(this, lba, sectorCount, "read");
    this.parent.read(this.startLba + lba, sectorCount, dst, dstOffset);
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    checkRange(this, lba, sectorCount, "write");
    this.parent.write(this.startLba + lba, sectorCount, src, srcOffset);
  }
  deferWrite(lba: number, sectorCount: number, ptr: number, writer: unknown): boolean {
    checkRange(this, lba, sectorCount, "write");
    return this.parent.deferWrite?.(this.startLba + lba, sectorCount, ptr, writer) ?? false;
  }
  flush(): void {
    this.parent.flush();
  }
  close(): void {
    /* the parent owns the descriptor */
  }
}

/** A device over another: every call passes through to it, but for what a subclass changes. */
export class DeviceWrapper implements BlockDevice {
  constructor(readonly inner: BlockDevice) {}
  get sectorSize(): number {
    return this.inner.sectorSize;
  }
  get sectorCount(): number {
    return this.inner.sectorCount;
  }
  get name(): string {
    return this.inner.name;
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.inner.read(lba, sectorCount, dst, dstOffset);
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.inner.write(lba, sectorCount, src, srcOffset);
  }
  flush(): void {
    this.inner.flush();
  }
  close(): void {
    this.inner.close();
  }
}

/**
 * The write guard: every write must fall inside [firstLba, firstLba + sectorCount) of the
 * device it wraps, the extent the job was given; anything else is refused before it
 * reaches the device. Reads pass through. Counts what it let through.
 */
export class WriteGuard extends DeviceWrapper {
  sectorsWritten = 0;
  sectorsRead = 0;
  /** hole: sectors inside the extent that are refused too (a ghost image's own extent). */
  constructor(
    inner: BlockDevice,
    readonly firstLba: number,
    readonly extentSectors: number,
    readonly hole?: { startSector: number; sectors: number },
  ) {
    super(inner);
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.inner.read(lba, sectorCount, dst, dstOffset);
    this.sectorsRead += sectorCount;
  }
  /** The error a write of sectorCount sectors at lba gets from this guard, or undefined when it may pass. */
  refusal(lba: number, sectorCount: number): WriteGuardError | undefined {
    if (lba < this.firstLba || lba + sectorCount > this.firstLba + this.extentSectors || sectorCount < 0)
      return new WriteGuardError(
        `${this.name}: write guard refused ${sectorCount} sectors at LBA ${lba}: the job may write only LBA ${this.firstLba}..${this.firstLba + this.extentSectors - 1}`,
      );
    const h = this.hole;
    if (h && lba < h.startSector + h.sectors && lba + sectorCount > h.startSector)
      return new WriteGuardError(
        `${this.name}: write guard refused ${sectorCount} sectors at LBA ${lba}: the ghost image lies at LBA ${h.startSector}..${h.startSector + h.sectors - 1}`,
      );
    return undefined;
  }
  private guard(lba: number, sectorCount: number): void {
    const e = this.refusal(lba, sectorCount);
    if (e) throw e;
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.guard(lba, sectorCount);
    this.inner.write(lba, sectorCount, src, srcOffset);
    this.sectorsWritten += sectorCount;
  }
  deferWrite(lba: number, sectorCount: number, ptr: number, writer: unknown): boolean {
    this.guard(lba, sectorCount);
    const queued = this.inner.deferWrite?.(lba, sectorCount, ptr, writer) ?? false;
    if (queued) this.sectorsWritten += sectorCount;
    return queued;
  }
}

/** A failed read of the source: its LBA (the exact bad one when known, else the request's first) and sector count. */
export interface ReadFailure {
  lba: number;
  sectorCount: number;
  error: DeviceError;
}

/**
 * Wraps a backup's source and remembers its last failed read (in the wrapper's LBAs, the
 * exact bad sector when the device below says which). Everything else passes through.
 */
export class ReadFailureTrap extends DeviceWrapper {
  lastFailure: ReadFailure | undefined;
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    try {
      this.inner.read(lba, sectorCount, dst, dstOffset);
    } catch (e) {
      if (e instanceof DeviceError && e.code === DeviceCode.io) {
        const exact =
          e instanceof BadSectorError && e.sectorCount === sectorCount ? lba + (e.lba - e.requestLba) : undefined;
        this.lastFailure =
          exact === undefined ? { lba, sectorCount, error: e } : { lba: exact, sectorCount: 1, error: e };
      }
      throw e;
    }
  }
}
