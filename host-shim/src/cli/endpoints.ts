// What a path a user typed is, before anything is opened for writing (issue 12; invariant 7 of
// the design): the kind of thing it names (regular file, block device, FIFO, terminal, ...), and
// where its bytes really live (a file's device and inode, a block device's whole disk and the
// byte range of it, a loop device's backing file), so that a job can refuse to write into its
// own input under any other name: a hard link, a symlink, a loop device over the same file, a
// partition of the same disk, or the file system the input file lives on.
import * as fs from "node:fs";
import * as path from "node:path";
import { UsageError } from "../../../firmware-module/src/ops/errors";
import { sysBlockDir } from "../native/devices";

export type EndpointKind =
  | "missing"
  | "file"
  | "block"
  | "char"
  | "terminal"
  | "fifo"
  | "socket"
  | "directory"
  | "stdio";

/** A byte range of one store of bytes: a regular file (by device and inode) or a whole disk. */
export interface Extent {
  /** "file:<dev>:<ino>" or "disk:<major>:<minor>" of the whole disk. */
  key: string;
  startByte: number;
  /** Infinity: to the end, whatever it is. */
  lengthBytes: number;
}

export interface Endpoint {
  /** As typed. */
  arg: string;
  kind: EndpointKind;
  /** The path with links followed (arg itself when missing or a stream). */
  resolved: string;
  /** The path was a symbolic link (followed). */
  viaLink: boolean;
  /** Where its bytes live (files and block devices). */
  extent?: Extent;
  /** A regular file: the block device its file system lives on, when there is one. */
  container?: Extent;
  sizeBytes: number;
}

/** Descriptors that name the process's own standard streams (written and read as streams). */
const STDIO_PATH = /^\/(dev\/(stdin|stdout|stderr)|dev\/fd\/\d+|proc\/self\/fd\/\d+)$/;

function readSys(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * The extent of the block device `rdev` on its whole disk, in bytes. A loop device with a
 * backing file is that file's bytes (from the loop's offset); a partition is its range of the
 * parent disk. Undefined when sysfs does not know the device.
 */
export function blockExtent(rdev: number): Extent | undefined {
  const dir = sysBlockDir(rdev);
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    return undefined;
  }
  const sectors = Number(readSys(path.join(real, "size")) ?? NaN);
  const isPartition = fs.existsSync(path.join(real, "partition"));
  const diskDir = isPartition ? path.dirname(real) : real;
  const start = isPartition ? Number(readSys(path.join(real, "start")) ?? 0) * 512 : 0;
  const length = Number.isFinite(sectors) ? sectors * 512 : Infinity;
  const backing = readSys(path.join(diskDir, "loop", "backing_file"));
  if (backing) {
    const offset = Number(readSys(path.join(diskDir, "loop", "offset")) ?? 0);
    try {
      const st = fs.statSync(backing.replace(/ \(deleted\)$/, ""));
      return { key: `file:${st.dev}:${st.ino}`, startByte: offset + start, lengthBytes: length };
    } catch {
      /* the backing file is gone: fall back to the loop device itself */
    }
  }
  const diskDev = readSys(path.join(diskDir, "dev")) ?? `${rdev}`;
  return { key: `disk:${diskDev}`, startByte: start, lengthBytes: length };
}

/** Classifies a path without opening it. Symbolic links are followed; a dangling one is refused. */
export function describe(arg: string): Endpoint {
  if (arg === "-") return { arg, kind: "stdio", resolved: arg, viaLink: false, sizeBytes: 0 };
  let lst: fs.Stats;
  try {
    lst = fs.lstatSync(arg);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT")
      return { arg, kind: "missing", resolved: arg, viaLink: false, sizeBytes: 0 };
    throw new UsageError(`${arg}: cannot be examined: ${(e as Error).message}`);
  }
  const viaLink = lst.isSymbolicLink();
  if (STDIO_PATH.test(arg)) return { arg, kind: "stdio", resolved: arg, viaLink, sizeBytes: 0 };
  let st: fs.Stats, resolved: string;
  try {
    st = fs.statSync(arg);
    resolved = fs.realpathSync(arg);
  } catch {
    throw new UsageError(
      `${arg} is a symbolic link to ${fs.readlinkSync(arg)}, which does not exist: give the path it should point to`,
    );
  }
  const base = { arg, resolved, viaLink };
  if (st.isDirectory()) return { ...base, kind: "directory", sizeBytes: 0 };
  if (st.isFIFO()) return { ...base, kind: "fifo", sizeBytes: 0 };
  if (st.isSocket()) return { ...base, kind: "socket", sizeBytes: 0 };
  if (st.isCharacterDevice()) return { ...base, kind: isTerminal(resolved) ? "terminal" : "char", sizeBytes: 0 };
  if (st.isBlockDevice()) {
    const extent = blockExtent(st.rdev) ?? { key: `disk:${st.rdev}`, startByte: 0, lengthBytes: Infinity };
    return { ...base, kind: "block", extent, sizeBytes: Number.isFinite(extent.lengthBytes) ? extent.lengthBytes : 0 };
  }
  const extent: Extent = { key: `file:${st.dev}:${st.ino}`, startByte: 0, lengthBytes: Infinity };
  return { ...base, kind: "file", extent, container: blockExtent(st.dev), sizeBytes: st.size };
}

function isTerminal(p: string): boolean {
  let fd = -1;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
    return require("node:tty").isatty(fd) as boolean;
  } catch {
    return false;
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}

/** The same store of bytes, and byte ranges that meet. */
export function overlaps(a: Extent | undefined, b: Extent | undefined): boolean {
  if (!a || !b || a.key !== b.key) return false;
  return a.startByte < b.startByte + b.lengthBytes && b.startByte < a.startByte + a.lengthBytes;
}

/** The part of `e` from `startByte` for `lengthBytes` (a partition of a disk, say). */
export function narrow(e: Extent | undefined, startByte: number, lengthBytes: number): Extent | undefined {
  return e && { key: e.key, startByte: e.startByte + startByte, lengthBytes };
}

/** How a kind is named in messages. */
export const KIND_NAMES: Record<EndpointKind, string> = {
  missing: "missing",
  file: "a regular file",
  block: "a block device",
  char: "a character device",
  terminal: "a terminal",
  fifo: "a FIFO (named pipe)",
  socket: "a socket",
  directory: "a directory",
  stdio: "a standard stream",
};

/** A path the job reads by sector (a source, a target, an image to inspect) must be a file or a block device. */
export function requireSeekable(e: Endpoint, role: string, hint = ""): void {
  if (e.kind === "file" || e.kind === "block") return;
  if (e.kind === "missing") throw new UsageError(`${e.arg}: no such file (the ${role})`);
  throw new UsageError(
    `${e.arg} is ${KIND_NAMES[e.kind]}: the ${role} must be a regular file or a block device${hint}`,
  );
}

/** Where a job's input and output are one store of bytes, the one-line refusal. */
export function refuseOverlap(
  input: Endpoint,
  inputExtent: Extent | undefined,
  output: Endpoint,
  outputExtent: Extent | undefined,
  what: string,
): void {
  if (overlaps(inputExtent, outputExtent)) {
    if (input.arg === output.arg)
      throw new UsageError(
        `${what}: ${input.arg} would be written over by its own ${input.kind === "block" ? "job" : "image"}; nothing was written`,
      );
    const same =
      input.resolved === output.resolved && !output.viaLink
        ? ""
        : ` (${output.arg} is ${describeSameness(input, output)})`;
    throw new UsageError(
      `${what}: ${output.arg} is the same ${input.kind === "block" || output.kind === "block" ? "device range" : "file"} as ${input.arg}${same}; nothing was written`,
    );
  }
  if (input.kind === "file" && overlaps(input.container, outputExtent)) {
    throw new UsageError(
      `${what}: ${input.arg} lives on the file system of ${output.arg}, which this job would write; nothing was written (copy the image elsewhere first)`,
    );
  }
}

function describeSameness(a: Endpoint, b: Endpoint): string {
  if (b.viaLink) return `a link to ${b.resolved}`;
  if (a.kind === "file" && b.kind === "file") return "a hard link to it";
  if (b.kind === "block") return `a device over ${a.arg}'s bytes`;
  return `another name for ${a.resolved}`;
}

/** The whole disk behind a block device path (for O_EXCL), or undefined for anything else. */
export function exclusiveDiskKey(filePath: string): string | undefined {
  try {
    const st = fs.statSync(filePath);
    return st.isBlockDevice() ? (blockExtent(st.rdev)?.key ?? `disk:${st.rdev}`) : undefined;
  } catch {
    return undefined;
  }
}
