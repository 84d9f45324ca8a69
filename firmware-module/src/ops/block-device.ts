// The block device interface (FatFs diskio / littlefs lfs_config style): what every device
// implements, the Node host's disk (host-shim/src/native/disk-file.ts) and a printer's alike, and
// the range check they share. The devices that compose others are in devices.ts.
import { DeviceCode, DeviceError } from "./device-errors";

export interface BlockDevice {
  /** Bytes per sector: 512, 1024, 2048 or 4096. */
  readonly sectorSize: number;
  /** Sectors the device holds now (a growable image file grows with writes). */
  readonly sectorCount: number;
  /** For messages. */
  readonly name: string;
  /** Reads sectorCount sectors from lba into dst[dstOffset ...]. Throws DeviceError. */
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void;
  /** Writes sectorCount sectors at lba from src[srcOffset ...]. Throws DeviceError. */
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void;
  /** Makes every completed write durable. */
  flush(): void;
  /** Releases the device; any later call throws DeviceError(CLOSED). */
  close(): void;
  /**
   * Optional: queues a write of memory[ptr ...] (the core's shared memory) on `writer` instead
   * of writing now (the writer is the host's own: host-shim/src/native/async-writer.ts in Node). Returns false when this device cannot (the caller then writes it itself).
   * Checks are made now, exactly as write() makes them.
   */
  deferWrite?(lba: number, sectorCount: number, ptr: number, writer: unknown): boolean;
}

export function checkRange(
  dev: BlockDevice,
  lba: number,
  sectorCount: number,
  op: string,
  limit = dev.sectorCount,
): void {
  if (
    !Number.isSafeInteger(lba) ||
    !Number.isSafeInteger(sectorCount) ||
    lba < 0 ||
    sectorCount < 0 ||
    lba + sectorCount > limit
  ) {
    throw new DeviceError(
      DeviceCode.range,
      `${dev.name}: ${op} of ${sectorCount} sectors at LBA ${lba} is outside the device (${limit} sectors)`,
    );
  }
}
