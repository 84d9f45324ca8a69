// Where an image is read from and written to, per kind of path (issue 12; README "Paths"):
//
//   --image PATH (backup)                       an image given to restore, verify
//   regular file  temporary name beside it, flushed,   read by sector
//                 renamed over PATH when complete;
//                 an existing PATH needs --overwrite
//   block device  written in place from sector 0;      read by sector
//                 --overwrite when it holds an image,
//                 a file system or a partition table;
//                 refused when smaller than the image
//   symlink       followed (a dangling link is refused)
//   -, FIFO,      a stream, written front to back      a stream, read front to back
//   /dev/stdout,  (docs/image-format.md section 13)    (a one-pass restore)
//   /dev/null
//   directory, terminal, other character devices, sockets: refused, nothing opened
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tty from "node:tty";
import { UsageError } from "../../../firmware-module/src/ops/errors";
import { imageLengthOf } from "../../../firmware-module/src/ops/signature";
import { BlockDevice, FileDevice } from "../native/devices";
import { describe, Endpoint, exclusiveDiskKey, KIND_NAMES } from "./endpoints";
import { processAlive } from "./locks";
import { openFifo, StreamSink, StreamSource, stdioFd } from "./streams";

const IMAGE_MAGIC = "CBIMAGE1";

export interface ImageInput {
  device: BlockDevice;
  endpoint: Endpoint;
  /** Read front to back: the restore runs in one pass. */
  stream: boolean;
  close(): void;
}

export interface ImageOutput {
  device: BlockDevice;
  endpoint: Endpoint;
  /** Where the image ends up, for messages. */
  label: string;
  /** Once the image is complete: make it durable and put it in place. Returns its length in bytes. */
  commit(): number;
  /** After a failure: remove what was written (a file's temporary name), close. Never throws. */
  abort(): string | undefined;
}

const isTty = (fd: number) => tty.isatty(fd);

/** Opens an image to read: a file or block device by sector, a pipe or FIFO as a stream. */
export function openImageInput(e: Endpoint): ImageInput {
  switch (e.kind) {
    case "file":
    case "block": {
      const device = new FileDevice(e.arg, { sectorSize: 512, exclusive: exclusiveDiskKey(e.arg) });
      return { device, endpoint: e, stream: false, close: () => device.close() };
    }
    case "stdio": {
      const fd = stdioFd(e.arg, "in")!;
      if (isTty(fd))
        throw new UsageError(
          `${e.arg === "-" ? "standard input" : e.arg} is a terminal: pipe the image into it (for example: gunzip -c system.cbi.gz | clusterback restore - TARGET)`,
        );
      const device = new StreamSource(fd, e.arg === "-" ? "standard input" : e.arg, false);
      return { device, endpoint: e, stream: true, close: () => device.close() };
    }
    case "fifo": {
      const device = new StreamSource(openFifo(e.resolved, "in"), e.arg, true);
      return { device, endpoint: e, stream: true, close: () => device.close() };
    }
    case "missing":
      throw new UsageError(`${e.arg}: no such image file`);
    default:
      throw new UsageError(
        `${e.arg} is ${KIND_NAMES[e.kind]}, not an image: give an image file, a block device holding one, or - for standard input`,
      );
  }
}

/**
 * A verify reads the image twice (the commit record at its end before the blocks), so an image
 * stream is first copied, front to back, into a temporary file (mode 0600, removed when closed;
 * $TMPDIR must hold the image), which is then verified by sector.
 */
export function spoolStream(input: ImageInput): ImageInput {
  if (!input.stream) return input;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clusterback-verify-"));
  const file = path.join(dir, "image.cbi");
  const remove = () => quietly(() => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    const fd = fs.openSync(file, "wx", 0o600);
    try {
      const src = input.device,
        chunk = new Uint8Array(1 << 20),
        sectors = chunk.length / 512;
      for (let lba = 0; lba < src.sectorCount; lba += sectors) {
        const n = Math.min(sectors, src.sectorCount - lba);
        src.read(lba, n, chunk, 0);
        fs.writeSync(fd, chunk, 0, n * 512);
      }
      // a signature section after the image comes along
      const trailer = src instanceof StreamSource ? src.trailer() : undefined;
      if (trailer) fs.writeSync(fd, trailer);
    } finally {
      fs.closeSync(fd);
      input.close();
    }
    const device = new FileDevice(file, { sectorSize: 512 });
    return {
      device,
      endpoint: input.endpoint,
      stream: false,
      close: () => {
        quietly(() => device.close());
        remove();
      },
    };
  } catch (e) {
    remove();
    throw e;
  }
}

export interface OutputOptions {
  /** Replace an existing image file, or overwrite a device that holds an image or a file system. */
  overwrite?: boolean;
  /** The image's length as far as known before writing (a block device must hold it). */
  expectedBytes?: number;
}

/** Checks where a backup's image would go, before anything is opened for writing. */
export function checkImageOutput(e: Endpoint, options: OutputOptions): void {
  switch (e.kind) {
    case "missing": {
      const dir = path.dirname(path.resolve(e.arg));
      const d = describe(dir);
      if (d.kind !== "directory")
        throw new UsageError(
          `--image ${e.arg}: ${dir} is ${d.kind === "missing" ? "not there" : KIND_NAMES[d.kind]}; the image goes into an existing directory`,
        );
      return;
    }
    case "file":
      if (!options.overwrite)
        throw new UsageError(
          `--image ${e.arg} already exists (${e.sizeBytes} bytes${looksLikeImage(e.arg) ? ", a clusterback image" : ""}); give --overwrite to replace it, or another name`,
        );
      return;
    case "block": {
      const held = whatDeviceHolds(e.arg);
      if (held && !options.overwrite)
        throw new UsageError(
          `--image ${e.arg} is a block device that holds ${held}; give --overwrite to write the image over it`,
        );
      if (options.expectedBytes !== undefined && e.sizeBytes > 0 && options.expectedBytes > e.sizeBytes) {
        throw new UsageError(`--image ${e.arg} holds ${e.sizeBytes} bytes; the image needs ${options.expectedBytes}`);
      }
      return;
    }
    case "stdio":
    case "fifo":
    case "socket":
      if (e.kind === "stdio" && isTty(stdioFd(e.arg, "out")!))
        throw new UsageError(
          `--image ${e.arg}: standard output is a terminal; redirect it to a file or a pipe (for example: --image - | gzip > system.cbi.gz)`,
        );
      if (e.kind === "socket")
        throw new UsageError(`--image ${e.arg} is a socket; pipe the image into it instead (--image - | nc ...)`);
      return;
    case "char":
      if (e.resolved === "/dev/null") return;
      throw new UsageError(
        `--image ${e.arg} is a character device; an image goes into a regular file, a block device, or a stream (-, a FIFO)`,
      );
    case "terminal":
      throw new UsageError(`--image ${e.arg} is a terminal; redirect the image to a file or a pipe`);
    case "directory":
      throw new UsageError(
        `--image ${e.arg} is a directory; give a file name inside it (for example ${path.join(e.arg, "system.cbi")})`,
      );
  }
}

/** Opens the backup's image output (after checkImageOutput and the job's locks). */
export function openImageOutput(e: Endpoint): ImageOutput {
  switch (e.kind) {
    case "missing":
    case "file":
      return fileOutput(e);
    case "block": {
      const device = new FileDevice(e.arg, { sectorSize: 512, writable: true, exclusive: exclusiveDiskKey(e.arg) });
      return {
        device,
        endpoint: e,
        label: e.arg,
        // the image's length, from its header (CommitOffset + one sector), not the device's
        commit: () => {
          device.flush();
          const bytes = imageLength(device);
          device.close();
          return bytes;
        },
        abort: () => {
          quietly(() => device.close());
          return undefined;
        },
      };
    }
    default: {
      const fd =
        e.kind === "stdio"
          ? stdioFd(e.arg, "out")!
          : e.kind === "fifo"
            ? openFifo(e.resolved, "out")
            : fs.openSync(e.resolved, "w");
      const sink = new StreamSink(fd, e.arg === "-" ? "standard output" : e.arg, e.kind !== "stdio");
      return {
        device: sink,
        endpoint: e,
        label: e.arg === "-" ? "standard output" : e.arg,
        commit: () => {
          sink.flush();
          sink.close();
          return sink.emitted;
        },
        abort: () => {
          quietly(() => sink.close());
          return undefined;
        },
      };
    }
  }
}

/** The temporary name of a backup into `file` by process `pid`. */
export function partialPath(file: string, pid = process.pid): string {
  return path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.partial-${pid}`);
}

/** Removes partial images of `file` left by processes that are gone (killed backups). Returns their names. */
export function removeStalePartials(file: string): string[] {
  const dir = path.dirname(path.resolve(file));
  const prefix = `.${path.basename(file)}.partial-`;
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length));
    if (!Number.isInteger(pid) || pid <= 0 || (pid !== process.pid && processAlive(pid))) continue;
    try {
      fs.unlinkSync(path.join(dir, n));
      removed.push(path.join(dir, n));
    } catch {
      /* gone already */
    }
  }
  return removed;
}

function fileOutput(e: Endpoint): ImageOutput {
  const target = e.kind === "file" ? e.resolved : e.arg;
  const tmp = partialPath(target);
  const device = new FileDevice(tmp, { create: true, writable: true, growable: true, sectorSize: 512 });
  return {
    device,
    endpoint: e,
    label: e.arg,
    commit: () => {
      device.flush();
      device.close();
      const bytes = fs.statSync(tmp).size;
      fs.renameSync(tmp, target);
      syncDir(path.dirname(path.resolve(target)));
      return bytes;
    },
    abort: () => {
      quietly(() => device.close());
      let removed: string | undefined;
      quietly(() => {
        if (fs.existsSync(tmp)) {
          fs.unlinkSync(tmp);
          removed = tmp;
        }
      });
      return removed;
    },
  };
}

/** The length of the image at the start of `device`: its commit record's offset and that sector. */
function imageLength(device: BlockDevice): number {
  const head = new Uint8Array(512);
  device.read(0, 1, head, 0);
  return imageLengthOf(head);
}

function quietly(f: () => void): void {
  try {
    f();
  } catch {
    /* clean-up after a failure: the first error is the one reported */
  }
}

export function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* not every platform can fsync a directory */
  }
}

function readFirst(file: string, bytes: number, at = 0): Buffer {
  const b = Buffer.alloc(bytes);
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    fs.readSync(fd, b, 0, bytes, at);
  } finally {
    fs.closeSync(fd);
  }
  return b;
}

function looksLikeImage(file: string): boolean {
  try {
    return readFirst(file, 8).toString("latin1") === IMAGE_MAGIC;
  } catch {
    return false;
  }
}

/** What a device's first sectors hold that an in-place write would destroy, or undefined when nothing is recognised. */
export function whatDeviceHolds(file: string): string | undefined {
  let head: Buffer;
  try {
    head = readFirst(file, 8192);
  } catch {
    return undefined;
  }
  if (head.toString("latin1", 0, 8) === IMAGE_MAGIC) return "a clusterback image";
  if (head.toString("latin1", 512, 520) === "EFI PART" || head.toString("latin1", 4096, 4104) === "EFI PART")
    return "a GPT partition table";
  const oem = head.toString("latin1", 3, 11);
  if (oem === "NTFS    ") return "an NTFS file system";
  if (oem === "EXFAT   ") return "an exFAT file system";
  if (head.readUInt16LE(1080) === 0xef53) return "an ext2/3/4 file system";
  if (head[510] === 0x55 && head[511] === 0xaa)
    return head[0] === 0xeb || head[0] === 0xe9 ? "a FAT file system" : "an MBR partition table";
  return undefined;
}
