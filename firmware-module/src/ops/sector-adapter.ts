// Images are addressed in 512-byte image sectors (docs/image-format.md). On a disk with larger
// sectors (4Kn), an image slot is seen through this adapter: reads take the covering device
// sectors, writes read, modify and write the partial device sectors at either end.

import { DeviceCode, DeviceError } from "./device-errors";
import { BlockDevice } from "./devices";

export class SectorAdapter implements BlockDevice {
  readonly name: string;
  private readonly ratio: number;

  constructor(
    readonly inner: BlockDevice,
    readonly sectorSize = 512,
  ) {
    if (inner.sectorSize % sectorSize !== 0)
      throw new DeviceError(
        DeviceCode.range,
        `${inner.name}: ${inner.sectorSize}-byte sectors cannot be seen as ${sectorSize}-byte ones`,
      );
    this.ratio = inner.sectorSize / sectorSize;
    this.name = inner.name;
  }

  get sectorCount(): number {
    return this.inner.sectorCount * this.ratio;
  }

  private span(lba: number, sectorCount: number, op: string): { first: number; count: number; skip: number } {
    if (!Number.isSafeInteger(lba) || lba < 0 || sectorCount < 0 || lba + sectorCount > this.sectorCount) {
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: ${op} of ${sectorCount} sectors at LBA ${lba} is outside the device (${this.sectorCount} ${this.sectorSize}-byte sectors)`,
      );
    }
    const first = Math.floor(lba / this.ratio);
    const last = Math.ceil((lba + sectorCount) / this.ratio);
    return { first, count: last - first, skip: (lba - first * this.ratio) * this.sectorSize };
  }

  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    if (this.ratio === 1) return this.inner.read(lba, sectorCount, dst, dstOffset);
    const { first, count, skip } = this.span(lba, sectorCount, "read");
    const tmp = new Uint8Array(count * this.inner.sectorSize);
    this.inner.read(first, count, tmp, 0);
    dst.set(tmp.subarray(skip, skip + sectorCount * this.sectorSize), dstOffset);
  }

  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    if (this.ratio === 1) return this.inner.write(lba, sectorCount, src, srcOffset);
    const { first, count, skip } = this.span(lba, sectorCount, "write");
    const bytes = sectorCount * this.sectorSize;
    const tmp = new Uint8Array(count * this.inner.sectorSize);
    const partial = skip !== 0 || bytes !== tmp.length;
    if (partial) this.inner.read(first, count, tmp, 0); // keep the neighbours in the end sectors
    tmp.set(src.subarray(srcOffset, srcOffset + bytes), skip);
    this.inner.write(first, count, tmp, 0);
  }

  flush(): void {
    this.inner.flush();
  }
  close(): void {
    this.inner.close();
  }
}
