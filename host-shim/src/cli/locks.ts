// Job locks (issue 12, item 5): every job holds an exclusive lock on each store of bytes it reads
// or writes (a file by device and inode, a disk by its whole-disk device number) for its whole
// run, so that two restores onto one target, or a backup of a source that a restore is writing,
// cannot interleave. Node has no flock(), so a lock is a file created with O_EXCL in one lock
// directory, named after the store's key (two names of one file share it), holding who took it.
// A lock whose process is gone is stale and taken over. Block devices are also opened with
// O_EXCL (devices.ts), which Linux refuses while the device is mounted or held by anyone else.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LockError } from "../../../firmware-module/src/ops/errors";
import { Endpoint } from "./endpoints";

/** The lock directory: $CLUSTERBACK_LOCK_DIR, else /run/lock/clusterback, else the temporary directory's. */
export function lockDir(): string {
  const env = process.env.CLUSTERBACK_LOCK_DIR;
  if (env) return env;
  for (const base of ["/run/lock", os.tmpdir()]) {
    const dir = path.join(base, "clusterback");
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o1777 });
      fs.accessSync(dir, fs.constants.W_OK);
      return dir;
    } catch {
      /* next */
    }
  }
  return os.tmpdir();
}

interface Holder {
  pid: number;
  command: string;
  path: string;
  since: string;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The locks one job holds. */
export class JobLocks {
  private held: string[] = [];
  constructor(
    readonly command: string,
    readonly dir = lockDir(),
  ) {}

  /** Locks the store behind `e` (streams and missing paths need none). Idempotent within the job. */
  take(e: Endpoint): void {
    const key = e.extent?.key;
    if (!key) return;
    const file = path.join(this.dir, `${key.replace(/[^A-Za-z0-9]+/g, "-")}.lock`);
    if (this.held.includes(file)) return;
    const me: Holder = { pid: process.pid, command: this.command, path: e.arg, since: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, JSON.stringify(me), { flag: "wx", mode: 0o644 });
        this.held.push(file);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST")
          throw new LockError(`${e.arg}: cannot take its lock ${file}: ${(err as Error).message}`);
      }
      const other = readHolder(file);
      if (!other && lockAgeMs(file) < 5000)
        throw new LockError(
          `${e.arg} is in use by another job (its lock ${file} is being taken); wait for it to finish`,
        );
      if (other && processAlive(other.pid) && other.pid !== process.pid) {
        throw new LockError(
          `${e.arg} is in use by another job: clusterback ${other.command} (pid ${other.pid}, on ${other.path}, since ${other.since}); wait for it to finish`,
        );
      }
      try {
        fs.unlinkSync(file);
      } catch {
        /* someone else took the stale lock over first */
      }
    }
    throw new LockError(`${e.arg}: its lock ${file} keeps changing hands; try again`);
  }

  release(): void {
    for (const f of this.held.splice(0)) {
      try {
        fs.unlinkSync(f);
      } catch {
        /* already gone */
      }
    }
  }
}

function lockAgeMs(file: string): number {
  try {
    return Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Infinity;
  }
}

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Holder;
  } catch {
    return undefined;
  }
}
