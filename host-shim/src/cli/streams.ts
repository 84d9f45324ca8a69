// Images as streams (issue 12): `backup ... --image -` writes the image to standard output (or a
// FIFO, a socket, /dev/null) strictly front to back, and `restore - TARGET` / `verify -` read
// it from standard input (or a FIFO) strictly front to back, so that an image can go through
// gzip, ssh or netcat, or come from object storage that cannot seek back
// (docs/image-format.md, section 13).
//
// The core writes an image's header after its bitmap and metadata (the header carries their
// checks). StreamSink holds everything written until the header arrives, then emits the bytes
// in order, and keeps the head [0, DataOffset) to serve the core's reads of the bitmap. Reading,
// StreamSource keeps the head [0, MetaOffset) (header and bitmap) that a one-pass restore reads
// again, and refuses any other read behind the stream's position.
import * as fs from "node:fs";
import { DeviceCode, DeviceError, UsageError } from "../../../firmware-module/src/ops/errors";
import { BlockDevice } from "../native/devices";

const IMG_SECTOR = 512;
// Header fields a stream needs (docs/image-format.md, section 2)
const HDR_Magic = 0; // 8 bytes "CBIMAGE1"
const HDR_MetaOffset = 200; // u64: the end of the header and bitmap
const HDR_DataOffset = 216; // u64: the end of the header, bitmap and metadata
const HDR_CommitOffset = 232; // u64: the commit record; the image ends 512 bytes after it
const IMAGE_MAGIC = "CBIMAGE1";
/** The most of an image's head (header, bitmap, metadata) a stream holds in memory. */
export const STREAM_HEAD_MAX = 256 * 1024 * 1024;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** How long to wait for the other end of a FIFO: $CLUSTERBACK_FIFO_WAIT_MS, default 30 s. */
export function fifoWaitMs(): number {
  const v = Number(process.env.CLUSTERBACK_FIFO_WAIT_MS);
  return Number.isFinite(v) && v >= 0 ? v : 30000;
}

const STDIO_FDS: Record<string, number> = { "-": -1, "/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2 };

/** The descriptor a standard-stream path names (`-` is stdin or stdout by direction), or undefined. */
export function stdioFd(arg: string, direction: "in" | "out"): number | undefined {
  if (arg === "-") return direction === "in" ? 0 : 1;
  if (arg in STDIO_FDS) return STDIO_FDS[arg];
  const m = /^\/(?:dev\/fd|proc\/self\/fd)\/(\d+)$/.exec(arg);
  return m ? Number(m[1]) : undefined;
}

/** Opens a FIFO without blocking on a missing other end: waits up to `waitMs` for it, then fails by name. */
export function openFifo(file: string, direction: "in" | "out", waitMs = fifoWaitMs()): number {
  if (direction === "in") return fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENXIO") throw e;
      if (Date.now() >= deadline)
        throw new UsageError(
          `${file}: FIFO with no reader after ${waited(waitMs)}; start the reader first (or use --image - in a pipe)`,
        );
      sleepMs(10);
    }
  }
}

/** A wait for messages: 500 ms, 30 s. */
function waited(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(1)} s`;
}

function u64(b: Uint8Array, at: number): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * 2 ** 32;
}

/** The image written to a stream, front to back. */
export class StreamSink implements BlockDevice {
  readonly sectorSize = IMG_SECTOR;
  /** Bytes sent down the stream. */
  emitted = 0;
  private highWater = 0;
  private pending = new Map<number, Uint8Array>();
  private pendingBytes = 0;
  private head: { at: number; bytes: Uint8Array }[] = [];
  private headEnd = Infinity;
  private closed = false;

  constructor(
    readonly fd: number,
    readonly name: string,
    private readonly ownsFd: boolean,
  ) {}

  get sectorCount(): number {
    return Math.ceil(this.highWater / IMG_SECTOR);
  }

  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.live();
    const at = lba * IMG_SECTOR,
      len = sectorCount * IMG_SECTOR;
    if (at < this.emitted)
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: a stream cannot be written again at byte ${at}: ${this.emitted} bytes have been sent`,
      );
    const bytes = src.slice(srcOffset, srcOffset + len);
    if (!this.pending.has(at)) this.pendingBytes += len;
    this.pending.set(at, bytes);
    if (this.pendingBytes > STREAM_HEAD_MAX)
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: the image's header, bitmap and metadata exceed ${STREAM_HEAD_MAX} bytes, more than a stream holds: write the image to a file or a device`,
      );
    if (at === 0) this.headEnd = u64(bytes, HDR_DataOffset);
    if (at < this.headEnd) this.head.push({ at, bytes });
    this.head = this.head.filter((c) => c.at < this.headEnd);
    this.highWater = Math.max(this.highWater, at + len);
    this.drain();
  }

  private drain(): void {
    for (let c = this.pending.get(this.emitted); c; c = this.pending.get(this.emitted)) {
      this.pending.delete(this.emitted);
      this.pendingBytes -= c.length;
      this.send(c);
    }
  }

  private send(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      try {
        done += fs.writeSync(this.fd, bytes, done, bytes.length - done);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") {
          sleepMs(1);
          continue;
        }
        if (code === "EPIPE")
          throw new DeviceError(
            DeviceCode.io,
            `${this.name}: the reader closed the stream after ${this.emitted + done} bytes`,
          );
        throw new DeviceError(
          DeviceCode.io,
          `${this.name}: write error after ${this.emitted + done} bytes: ${(e as Error).message}`,
        );
      }
    }
    this.emitted += bytes.length;
  }

  /** Serves the core's reads of what it wrote to the head (the bitmap, while it copies clusters). */
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.live();
    const at = lba * IMG_SECTOR,
      end = at + sectorCount * IMG_SECTOR;
    let covered = 0;
    for (const c of this.head) {
      const from = Math.max(at, c.at),
        to = Math.min(end, c.at + c.bytes.length);
      if (from >= to) continue;
      dst.set(c.bytes.subarray(from - c.at, to - c.at), dstOffset + from - at);
      covered += to - from;
    }
    if (covered < end - at)
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: a stream cannot be read back at bytes ${at}..${end - 1} (only the image's head is kept)`,
      );
  }

  flush(): void {
    this.live();
    try {
      fs.fsyncSync(this.fd);
    } catch {
      /* a pipe or a terminal: nothing to make durable */
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsFd) fs.closeSync(this.fd);
  }

  private live(): void {
    if (this.closed) throw new DeviceError(DeviceCode.closed, `${this.name}: used after close`);
  }
}

/** An image read from a stream, front to back; the head [0, MetaOffset) may be read again. */
export class StreamSource implements BlockDevice {
  readonly sectorSize = IMG_SECTOR;
  readonly sectorCount: number;
  /** Bytes taken from the stream. */
  position = 0;
  private head = new Uint8Array(0);
  private received = false;

  constructor(
    readonly fd: number,
    readonly name: string,
    private readonly ownsFd: boolean,
    private readonly waitMs = fifoWaitMs(),
  ) {
    const first = new Uint8Array(IMG_SECTOR);
    this.take(first, 0, IMG_SECTOR);
    const magic = Buffer.from(first.subarray(HDR_Magic, HDR_Magic + 8)).toString("latin1");
    if (magic !== IMAGE_MAGIC) {
      throw new UsageError(
        `${name}: not a clusterback image (the stream starts with 0x${Buffer.from(first.subarray(0, 4)).toString("hex").toUpperCase()}, not "${IMAGE_MAGIC}")`,
      );
    }
    // a crafted header's offsets are refused by the core's header check before they are used
    const imageBytes = Math.min(u64(first, HDR_CommitOffset) + IMG_SECTOR, Number.MAX_SAFE_INTEGER);
    this.sectorCount = Math.floor(imageBytes / IMG_SECTOR);
    this.head = new Uint8Array(Math.max(IMG_SECTOR, Math.min(u64(first, HDR_MetaOffset), STREAM_HEAD_MAX)));
    this.head.set(first);
  }

  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    const at = lba * IMG_SECTOR,
      len = sectorCount * IMG_SECTOR;
    if (at + len > this.sectorCount * IMG_SECTOR)
      throw new DeviceError(
        DeviceCode.range,
        `${this.name}: read of ${sectorCount} sectors at LBA ${lba} is outside the image (${this.sectorCount} sectors)`,
      );
    let done = 0;
    if (at < this.position) {
      const kept = Math.min(this.position, this.head.length);
      if (at >= kept) throw this.behind(at);
      done = Math.min(len, kept - at);
      dst.set(this.head.subarray(at, at + done), dstOffset);
    }
    if (done === len) return;
    const from = at + done;
    if (from < this.position) throw this.behind(from);
    this.skipTo(from);
    this.take(dst, dstOffset + done, len - done);
  }

  private trailerBytes: Uint8Array | undefined;
  private trailerRead = false;
  /**
   * Up to 512 bytes that follow the image in the stream (a signature section, docs/image-format.md
   * section 14), read once the image has been; undefined when the stream ends with the image.
   */
  trailer(): Uint8Array | undefined {
    if (this.trailerRead) return this.trailerBytes;
    this.skipTo(this.sectorCount * IMG_SECTOR);
    this.trailerRead = true;
    const b = new Uint8Array(IMG_SECTOR);
    let done = 0;
    while (done < b.length) {
      let n: number;
      try {
        n = fs.readSync(this.fd, b, done, b.length - done, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
          sleepMs(1);
          continue;
        }
        throw new DeviceError(DeviceCode.io, `${this.name}: read error after the image: ${(e as Error).message}`);
      }
      if (n === 0) break;
      done += n;
    }
    this.position += done;
    this.trailerBytes = done > 0 ? b.subarray(0, done) : undefined;
    return this.trailerBytes;
  }

  private behind(at: number): DeviceError {
    return new DeviceError(
      DeviceCode.range,
      `${this.name}: a stream cannot be read back at byte ${at} (it is at byte ${this.position}); save the image to a file first`,
    );
  }

  private skipTo(at: number): void {
    const scratch = new Uint8Array(1 << 16);
    while (this.position < at) this.take(scratch, 0, Math.min(scratch.length, at - this.position));
  }

  /** Reads exactly `len` bytes at the stream's position into dst (keeping what falls in the head). */
  private take(dst: Uint8Array, dstOffset: number, len: number): void {
    let done = 0;
    const deadline = Date.now() + this.waitMs;
    while (done < len) {
      let n: number;
      try {
        n = fs.readSync(this.fd, dst, dstOffset + done, len - done, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
          sleepMs(1);
          continue;
        }
        throw new DeviceError(
          DeviceCode.io,
          `${this.name}: read error at byte ${this.position + done}: ${(e as Error).message}`,
        );
      }
      if (n === 0) {
        // a FIFO opened without blocking reads nothing until its writer comes
        if (!this.received && Date.now() < deadline) {
          sleepMs(5);
          continue;
        }
        if (!this.received)
          throw new UsageError(
            `${this.name}: no writer and no data after ${waited(this.waitMs)}; start the writer (or pipe the image into standard input)`,
          );
        throw new DeviceError(
          DeviceCode.short,
          `${this.name}: the stream ended at byte ${this.position + done}; the image is ${this.sectorCount * IMG_SECTOR} bytes`,
        );
      }
      this.received = true;
      done += n;
    }
    const start = this.position;
    if (start < this.head.length) {
      const keep = Math.min(len, this.head.length - start);
      this.head.set(dst.subarray(dstOffset, dstOffset + keep), start);
    }
    this.position += len;
  }

  write(lba: number): void {
    throw new DeviceError(
      DeviceCode.readonly,
      `${this.name}: an image stream is read-only, write at LBA ${lba} refused`,
    );
  }
  flush(): void {
    /* read-only */
  }
  close(): void {
    if (this.ownsFd) fs.closeSync(this.fd);
  }
}
