// The printer's disk in the Node host: a file (the simulator's disk image) with checked sector
// I/O (BlockDevice). This is what a printer's C host
// opens at start-up (docs/host-api.md, porting checklist): everything layered over the disk
// (partitions, image slots, the ghost, the write guard) is the core's or the firmware's. The
// command line's devices (Linux block-device nodes, exclusive opening, growing images, background
// writes) extend it in file-device.ts.
import * as fs from "node:fs";
import { type BlockDevice, checkRange } from "../../../firmware-module/src/ops/block-device";
import { DeviceCode, DeviceError } from "../../../firmware-module/src/ops/device-errors";

export class DiskFile implements BlockDevice {
  readonly sectorSize: number;
  readonly name: string;
  protected fd: number;
  protected sizeBytes: number;

  /** flags: the open(2) flags (default read-write when writable, else read-only). */
  constructor(
    readonly filePath: string,
    options: { sectorSize?: number; writable?: boolean; flags?: number } = {},
    protected readonly writable = options.writable ?? false,
  ) {
    this.name = filePath;
    const flags = options.flags ?? (writable ? fs.constants.O_RDWR : fs.constants.O_RDONLY);
    this.fd = this.openFile(filePath, flags);
    const size = this.measure(fs.fstatSync(this.fd));
    this.sectorSize = options.sectorSize ?? size.sectorSize;
    this.sizeBytes = size.bytes;
  }

  /** The file's size, and its sector size when none is given (a file: 512; file-device.ts reads a device node's). */
  protected measure(st: fs.Stats): { bytes: number; sectorSize: number } {
    return { bytes: st.size, sectorSize: 512 };
  }

  protected openFile(filePath: string, flags: number): number {
    try {
      return fs.openSync(filePath, flags, 0o644);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new DeviceError(
        DeviceCode.io,
        `cannot open ${filePath}: ${err.code === "ENOENT" ? "no such file" : err.message}`,
      );
    }
  }

  get sectorCount(): number {
    return Math.floor(this.sizeBytes / this.sectorSize);
  }
  get byteLength(): number {
    return this.sizeBytes;
  }
  /** Sectors a write may reach (a growing image: any). */
  protected get writeLimit(): number {
    return this.sectorCount;
  }

  protected live(): number {
    if (this.fd < 0) throw new DeviceError(DeviceCode.closed, `${this.name}: used after close`);
    return this.fd;
  }
  protected checkWrite(lba: number, sectorCount: number): number {
    const fd = this.live();
    if (!this.writable)
      throw new DeviceError(DeviceCode.readonly, `${this.name}: opened read-only, write at LBA ${lba} refused`);
    checkRange(this, lba, sectorCount, "write", this.writeLimit);
    return fd;
  }

  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    const fd = this.live();
    checkRange(this, lba, sectorCount, "read");
    this.io("read", lba, sectorCount * this.sectorSize, (done, left) =>
      fs.readSync(fd, dst, dstOffset + done, left, lba * this.sectorSize + done),
    );
  }

  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    const fd = this.checkWrite(lba, sectorCount);
    this.io("write", lba, sectorCount * this.sectorSize, (done, left) =>
      fs.writeSync(fd, src, srcOffset + done, left, lba * this.sectorSize + done),
    );
    this.sizeBytes = Math.max(this.sizeBytes, (lba + sectorCount) * this.sectorSize);
  }

  /** Repeats a read or write until `want` bytes moved; an OS error is DeviceError IO, end of file SHORT. */
  private io(op: string, lba: number, want: number, move: (done: number, left: number) => number): void {
    for (let done = 0; done < want; ) {
      let n: number;
      try {
        n = move(done, want - done);
      } catch (e) {
        throw new DeviceError(DeviceCode.io, `${this.name}: ${op} error at LBA ${lba}: ${(e as Error).message}`);
      }
      if (n === 0)
        throw new DeviceError(DeviceCode.short, `${this.name}: short ${op} at LBA ${lba} (${done} of ${want} bytes)`);
      done += n;
    }
  }

  flush(): void {
    const fd = this.live();
    if (!this.writable) return;
    try {
      fs.fsyncSync(fd);
    } catch (e) {
      throw new DeviceError(DeviceCode.io, `${this.name}: flush failed: ${(e as Error).message}`);
    }
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    fs.closeSync(fd);
  }
}
