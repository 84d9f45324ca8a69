// The command line's file devices: the disk file of disk-file.ts, plus what a job on a Linux
// machine needs besides a printer's disk: block-device nodes (their size and sector size from
// sysfs), creating and growing an image file, opening a whole disk exclusively (O_EXCL, so that a mounted disk or a second job is refused), and writes
// queued on the background writer (async-writer.ts).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LockError } from "../../../firmware-module/src/ops/errors";
import { DiskFile } from "./disk-file";

/** The queue a deferred write goes on (the CLI's background writer, async-writer.ts, is one). */
export interface FileWriteQueue {
  enqueue(fd: number, ptr: number, byteCount: number, position: number): void;
  beforeFileRead(fd: number, position: number, byteCount: number): void;
  beforeFileUse(fd: number): void;
}

export interface FileDeviceOptions {
  sectorSize?: number;
  writable?: boolean;
  /** Writes past the end extend the file (an image being written). */
  growable?: boolean;
  /** Create (or truncate) the file. */
  create?: boolean;
  /**
   * The whole disk behind a block device node (host-shim/src/cli/endpoints.ts exclusiveDiskKey):
   * the node is opened with O_EXCL, which Linux refuses while it is mounted or held by another
   * exclusive opener (a second job). Within this process a disk already held so is opened again
   * without it (an image partition and its disk's target partition). Undefined: no O_EXCL.
   */
  exclusive?: string;
}

/** A new file of `bytes` zero bytes (sparse: nothing written), replacing any file of that name. */
export function createSparseFile(file: string, bytes: number): void {
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, "");
  fs.truncateSync(file, bytes);
}

/** A new directory in the system's temporary directory, and the way to remove it with all it holds. */
export function scratchDir(prefix: string): { path: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Whole disks this process holds open with O_EXCL, and how many times. */
const exclusiveDisks = new Map<string, number>();

/** A regular file (partition or disk image, backup image) or a Linux block device node. */
export class FileDevice extends DiskFile {
  private readonly growable: boolean;
  private writer: FileWriteQueue | undefined; // set once a write was queued on it
  private heldDisk: string | undefined;

  constructor(filePath: string, options: FileDeviceOptions = {}) {
    const c = fs.constants;
    let flags = options.create ? c.O_RDWR | c.O_CREAT | c.O_TRUNC : options.writable ? c.O_RDWR : c.O_RDONLY;
    const disk =
      options.exclusive && !options.create && !exclusiveDisks.has(options.exclusive) ? options.exclusive : undefined;
    if (disk) flags |= c.O_EXCL;
    super(filePath, { sectorSize: options.sectorSize, flags }, options.writable ?? false);
    this.growable = options.growable ?? false;
    if (disk) {
      this.heldDisk = disk;
      exclusiveDisks.set(disk, (exclusiveDisks.get(disk) ?? 0) + 1);
    }
  }

  protected openFile(filePath: string, flags: number): number {
    try {
      return fs.openSync(filePath, flags, 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EBUSY")
        throw new LockError(
          `${filePath} is in use: it is mounted, or another program holds it open exclusively (EBUSY); unmount it or wait for that program`,
        );
      return super.openFile(filePath, flags);
    }
  }

  protected measure(st: fs.Stats): { bytes: number; sectorSize: number } {
    if (!st.isBlockDevice()) return super.measure(st);
    return { bytes: blockDeviceBytes(st.rdev), sectorSize: blockDeviceSectorSize(st.rdev) };
  }

  protected get writeLimit(): number {
    return this.growable ? Number.MAX_SAFE_INTEGER : this.sectorCount;
  }

  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.writer?.beforeFileRead(this.live(), lba * this.sectorSize, sectorCount * this.sectorSize);
    super.read(lba, sectorCount, dst, dstOffset);
  }

  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.writer?.beforeFileUse(this.live());
    super.write(lba, sectorCount, src, srcOffset);
  }

  deferWrite(lba: number, sectorCount: number, ptr: number, writer: FileWriteQueue): boolean {
    const fd = this.checkWrite(lba, sectorCount);
    this.writer = writer;
    writer.enqueue(fd, ptr, sectorCount * this.sectorSize, lba * this.sectorSize);
    this.sizeBytes = Math.max(this.sizeBytes, (lba + sectorCount) * this.sectorSize);
    return true;
  }

  flush(): void {
    this.writer?.beforeFileUse(this.live());
    super.flush();
  }

  close(): void {
    if (this.fd < 0) return;
    const d = this.heldDisk;
    this.heldDisk = undefined;
    if (d) {
      const n = (exclusiveDisks.get(d) ?? 1) - 1;
      if (n > 0) exclusiveDisks.set(d, n);
      else exclusiveDisks.delete(d);
    }
    this.writer?.beforeFileUse(this.fd);
    super.close();
  }
}

/** The sysfs directory of a block device number. */
export function sysBlockDir(rdev: number): string {
  const major = Math.floor(rdev / 256) & 0xfff,
    minor = (rdev & 0xff) | (Math.floor(rdev / 1048576) & 0xfff00);
  return `/sys/dev/block/${major}:${minor}`;
}
function blockDeviceBytes(rdev: number): number {
  return Number(fs.readFileSync(path.join(sysBlockDir(rdev), "size"), "utf8").trim()) * 512;
}
function blockDeviceSectorSize(rdev: number): number {
  const dir = sysBlockDir(rdev);
  for (const p of [path.join(dir, "queue/logical_block_size"), path.join(dir, "../queue/logical_block_size")])
    if (fs.existsSync(p)) return Number(fs.readFileSync(p, "utf8").trim());
  return 512;
}
