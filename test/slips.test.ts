// Issue 12, "nothing destroyed by mistake": the slips a tired user makes and the tricks an
// attacker would try, each run through the real CLI (dist/host-shim/src/cli/cli.js). Every case hashes
// every file it involves (and the device ranges it names) before and after: what the command should
// not write does not change. A refusal is one line on stderr, naming the file and the values
// involved, with exit 2 when the command cannot run as typed and 1 for a failure.
// Loop devices and tmpfs mounts need root; where losetup or mount fails, those cases are skipped.

import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t, { Test } from "tap";

const root = path.join(__dirname, "..");
const cli = path.join(root, "dist", "host-shim", "src", "cli", "cli.js");
const fixtureDir = path.join(root, "test", "fixtures");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-slips-"));
const lockDir = path.join(tmp, "locks");
fs.mkdirSync(lockDir);
const baseEnv: NodeJS.ProcessEnv = { ...process.env, CLUSTERBACK_LOCK_DIR: lockDir };
delete baseEnv.CLUSTERBACK_FIFO_WAIT_MS;

// ---- clean-up: loop devices and mounts first, then the files ---------------------------------

const loops: string[] = [];
const mounts: string[] = [];
t.teardown(() => {
  for (const dev of loops.splice(0)) spawnSync("losetup", ["-d", dev]);
  for (const dir of mounts.splice(0)) spawnSync("umount", [dir]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function losetup(file: string): string | undefined {
  const r = spawnSync("losetup", ["-f", "--show", file], { encoding: "utf8" });
  if (r.status !== 0) return undefined;
  const dev = r.stdout.trim();
  loops.push(dev);
  return dev;
}

function detach(dev: string): void {
  if (!loops.includes(dev)) return;
  spawnSync("losetup", ["-d", dev]);
  loops.splice(loops.indexOf(dev), 1);
}

function mountTmpfs(dir: string, size: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  if (r.status === 0) mounts.push(dir);
  return r.status === 0;
}

function unmount(dir: string): void {
  if (!mounts.includes(dir)) return;
  spawnSync("umount", [dir]);
  mounts.splice(mounts.indexOf(dir), 1);
}

const have = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const loopOK = (() => {
  const probe = path.join(tmp, "loop-probe.bin");
  fs.writeFileSync(probe, Buffer.alloc(65536));
  const dev = losetup(probe);
  if (dev) detach(dev);
  fs.rmSync(probe);
  return dev !== undefined;
})();
const tmpfsOK = (() => {
  const dir = path.join(tmp, "tmpfs-probe");
  const ok = mountTmpfs(dir, "64k");
  if (ok) unmount(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  return ok;
})();
const NO_LOOP = loopOK ? false : "losetup is not allowed here";
const NO_TMPFS = tmpfsOK ? false : "mount -t tmpfs is not allowed here";
/** The source where the file system does not matter: a 1.44 MB FAT12 floppy (an image of 88 kB). */
const SMALL = "volumes/fat12-floppy.img.gz";
const NO_MKFS = have("mkfs.fat") && have("mcopy") ? false : "needs mkfs.fat and mcopy";

// ---- running the CLI ----------------------------------------------------------------------

interface Run {
  code: number | null;
  out: string;
  err: string;
  stdout: Buffer;
  ms: number;
}

function run(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer } = {}): Run {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [cli, ...args], {
    env: { ...baseEnv, ...opts.env },
    input: opts.input,
    maxBuffer: 1 << 30,
  });
  return {
    code: r.status,
    out: r.stdout.toString("utf8"),
    err: r.stderr.toString("utf8"),
    stdout: r.stdout,
    ms: Date.now() - t0,
  };
}

/** The CLI (or, with `shell`, a bash pipeline in which `cb` runs the CLI), not waited for. */
function runAsync(args: string[], shell = false): Promise<Run> {
  const t0 = Date.now();
  const cb = `cb() { '${process.execPath}' '${cli}' "$@"; }\n`;
  const child = shell
    ? spawn("bash", ["-o", "pipefail", "-c", cb + args[0]], { env: baseEnv })
    : spawn(process.execPath, [cli, ...args], { env: baseEnv });
  const out: Buffer[] = [],
    err: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => err.push(b));
  return new Promise((res) =>
    child.on("close", (code) => {
      const stdout = Buffer.concat(out);
      res({
        code,
        out: stdout.toString("utf8"),
        err: Buffer.concat(err).toString("utf8"),
        stdout,
        ms: Date.now() - t0,
      });
    }),
  );
}

/** `job` for each item, two at a time (jobs that share no file: two CPUs make the file's run time). */
async function inPairs<T, R>(items: T[], job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await job(items[i]);
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

function ok(t: Test, r: Run, what: string): void {
  t.equal(r.code, 0, `${what}: exit 0${r.code ? ` (${r.err.trim()})` : ""}`);
}

/** A refusal or failure: exit `code`, one line on stderr from clusterback, no internal error, naming each of `names`. */
function refused(t: Test, r: Run, code: number, names: (string | RegExp)[], what: string): void {
  t.equal(r.code, code, `${what}: exit ${code} (${r.err.trim()})`);
  const lines = r.err.split("\n").filter((l) => l !== "");
  t.equal(lines.length, 1, `${what}: one line on stderr`);
  t.match(r.err, /^clusterback: /, `${what}: said by clusterback`);
  t.notMatch(r.err, /internal error|\n\s+at |ERR_[A-Z_]+|Error: /, `${what}: no internal error, no Node text`);
  for (const n of names) {
    if (typeof n === "string") t.ok(r.err.includes(n), `${what}: names "${n}"`);
    else t.match(r.err, n, `${what}: says ${n}`);
  }
}

// ---- files, hashes ------------------------------------------------------------------------

let dirs = 0;
function caseDir(name: string): string {
  const d = path.join(tmp, `${++dirs}-${name}`);
  fs.mkdirSync(d);
  return d;
}

function unpack(fixture: string, to: string): string {
  fs.writeFileSync(to, zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, fixture))));
  return to;
}

const hashBuf = Buffer.allocUnsafe(8 << 20);

/** sha256 of a file or device, or of bytes [start, end) of it. */
function sha(file: string, start = 0, end?: number): string {
  const h = crypto.createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = hashBuf;
    let at = start;
    for (;;) {
      const want = end === undefined ? buf.length : Math.min(buf.length, end - at);
      if (want <= 0) break;
      const n = fs.readSync(fd, buf, 0, want, at);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      at += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/**
 * Every entry below `dir`: symlinks by their text, files by size and hash, FIFOs, directories
 * (recursively); but `skip`, a file the job is meant to write, checked on its own.
 */
function state(
  dir: string,
  skip: string[] = [],
  into: Record<string, string> = {},
  prefix = "",
): Record<string, string> {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name),
      key = prefix + name;
    if (skip.includes(key)) continue;
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) into[key] = `link -> ${fs.readlinkSync(p)}`;
    else if (st.isFile()) into[key] = `file ${st.size} ${sha(p)}`;
    else if (st.isFIFO()) into[key] = "fifo";
    else if (st.isDirectory()) {
      into[key] = "dir";
      state(p, skip, into, key + "/");
    } else into[key] = "other";
  }
  return into;
}

/** `after` is `before` except for `changed` (which must differ, or be new, or be gone). */
function sameExcept(
  t: Test,
  before: Record<string, string>,
  after: Record<string, string>,
  changed: string[],
  what: string,
): void {
  const drop = (s: Record<string, string>) =>
    Object.fromEntries(Object.entries(s).filter(([k]) => !changed.includes(k)));
  t.same(drop(after), drop(before), `${what}: every other file unchanged`);
  for (const c of changed) t.not(after[c], before[c], `${what}: ${c} changed`);
}

function unchanged(t: Test, dir: string, before: Record<string, string>, what: string, skip: string[] = []): void {
  t.same(state(dir, skip), before, `${what}: every file${skip.length ? ` but ${skip.join(", ")}` : ""} unchanged`);
}

const sameBytes = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

const deadPid = () => spawnSync("true").pid;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 20000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(1);
  }
  return cond();
}

/** The lock file a job takes on a file (locks.ts: by device and inode). */
function lockFileOf(file: string): string {
  const st = fs.statSync(file);
  return path.join(lockDir, `file-${st.dev}-${st.ino}.lock`);
}

/** Bytes [start, end) of partition 1 of a disk fixture (512-byte sectors), read from its MBR or GPT. */
function firstPartition(disk: string): { start: number; end: number } {
  const head = Buffer.alloc(2048);
  const fd = fs.openSync(disk, "r");
  fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  if (head.toString("latin1", 512, 520) === "EFI PART") {
    const first = Number(head.readBigUInt64LE(1024 + 32)),
      last = Number(head.readBigUInt64LE(1024 + 40));
    return { start: first * 512, end: (last + 1) * 512 };
  }
  const start = head.readUInt32LE(446 + 8),
    count = head.readUInt32LE(446 + 12);
  return { start: start * 512, end: (start + count) * 512 };
}

function backup(t: Test, source: string, image: string, ...more: string[]): void {
  ok(
    t,
    run(["backup", source, "--image", image, ...more]),
    `backup ${path.basename(source)} --image ${path.basename(image)}`,
  );
}

/** The size text of the CLI's summaries (cli.ts size()). */
function sizeText(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = bytes / 1000,
    u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

// ---- a FAT32 volume large enough to catch a job in the middle (64 MiB, 48 MB of data) -------

let bigMade: { img: string; cbi: string } | undefined;
function bigVolume(t: Test): { img: string; cbi: string } {
  if (bigMade) return bigMade;
  const d = path.join(tmp, "big");
  fs.mkdirSync(d);
  const img = path.join(d, "big.img"),
    data = path.join(d, "data.bin"),
    cbi = path.join(d, "big.cbi");
  t.equal(spawnSync("mkfs.fat", ["-F", "32", "-C", img, String(64 * 1024)]).status, 0, "mkfs.fat");
  fs.writeFileSync(data, crypto.randomBytes(48 << 20));
  t.equal(spawnSync("mcopy", ["-i", img, data, "::/data.bin"]).status, 0, "mcopy");
  fs.rmSync(data);
  backup(t, img, cbi);
  bigMade = { img, cbi };
  return bigMade;
}

// ============================================================================================
// 1. A job never writes its own input, under any name.
// ============================================================================================

t.test("1. a job never writes its own input, by any name", async (t) => {
  const d = caseDir("own-input");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  const dd = caseDir("own-input-disk");
  const disk = unpack("volumes/disk-gpt.img.gz", path.join(dd, "disk.img"));
  const x = path.join(d, "x.cbi");
  backup(t, vol, x);
  const p = (n: string) => path.join(d, n);
  fs.symlinkSync("vol.img", p("src.lnk"));
  fs.linkSync(vol, p("hard.img"));
  fs.symlinkSync("x.cbi", p("x.lnk"));
  fs.linkSync(x, p("x.hard"));
  const before = state(d),
    beforeDisk = state(dd);
  for (const more of [[], ["--overwrite"]]) {
    const what = `backup disk.img --partition 1 --image disk.img ${more.join(" ")}`;
    refused(
      t,
      run(["backup", disk, "--partition", "1", "--image", disk, ...more]),
      2,
      ["disk.img", "nothing was written"],
      what,
    );
    unchanged(t, dd, beforeDisk, what);
  }
  const cases: [string[], string[]][] = [
    [
      ["backup", vol, "--image", vol],
      ["vol.img", "its own"],
    ],
    [
      ["backup", vol, "--image", vol, "--overwrite"],
      ["vol.img", "its own"],
    ],
    [
      ["backup", vol, "--image", p("src.lnk"), "--overwrite"],
      ["src.lnk", "vol.img", "link"],
    ],
    [
      ["backup", p("src.lnk"), "--image", vol, "--overwrite"],
      ["src.lnk", "vol.img"],
    ],
    [
      ["backup", vol, "--image", p("hard.img"), "--overwrite"],
      ["hard.img", "vol.img", "hard link"],
    ],
    [["restore", x, x], ["x.cbi"]],
    [
      ["restore", p("x.lnk"), x],
      ["x.lnk", "x.cbi"],
    ],
    [
      ["restore", p("x.hard"), x],
      ["x.hard", "x.cbi", "hard link"],
    ],
    [
      ["restore", x, p("x.lnk")],
      ["x.lnk", "x.cbi", "link"],
    ],
    [
      ["restore", x, p("x.hard")],
      ["x.hard", "x.cbi"],
    ],
  ];
  const runs = await inPairs(cases, ([args]) => runAsync(args));
  cases.forEach(([args, names], i) =>
    refused(t, runs[i], 2, [...names, "nothing was written"], args.map((a) => path.basename(a)).join(" ")),
  );
  unchanged(t, d, before, "after every refusal");
  const j = run(["restore", x, p("x.lnk"), "--json"]);
  t.equal(j.code, 2);
  t.match(JSON.parse(j.out), { ok: false, error: "UsageError" }, "--json: the refusal as a JSON object");
  unchanged(t, d, before, "--json");
});

// ============================================================================================
// 2. --image per kind of path.
// ============================================================================================

t.test("2a. --image an existing regular file: refused without --overwrite, replaced with it", async (t) => {
  const d = caseDir("image-file");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  const y = path.join(d, "y.cbi");
  fs.writeFileSync(y, "previous contents\n");
  let before = state(d);
  refused(
    t,
    run(["backup", vol, "--image", y]),
    2,
    ["y.cbi", "already exists", "18 bytes", "--overwrite"],
    "existing file",
  );
  unchanged(t, d, before, "refused");
  ok(t, run(["backup", vol, "--image", y, "--overwrite"]), "--overwrite");
  sameExcept(t, before, state(d), ["y.cbi"], "--overwrite");
  t.equal(fs.readFileSync(y).toString("latin1", 0, 8), "CBIMAGE1", "y.cbi holds the image");
  ok(t, run(["verify", y]), "verify y.cbi");
  before = state(d);
  refused(
    t,
    run(["backup", vol, "--image", y]),
    2,
    ["y.cbi", "a clusterback image", "--overwrite"],
    "an existing image",
  );
  unchanged(t, d, before, "an existing image");
});

t.test("2b. --image a symlink: followed (the link stays a link); a dangling one refused", async (t) => {
  const d = caseDir("image-symlink");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  fs.writeFileSync(path.join(d, "real.cbi"), "old");
  fs.symlinkSync("real.cbi", path.join(d, "ylink.cbi"));
  fs.symlinkSync("nowhere.cbi", path.join(d, "dang.cbi"));
  const link = path.join(d, "ylink.cbi"),
    dang = path.join(d, "dang.cbi");
  const before = state(d);
  refused(t, run(["backup", vol, "--image", link]), 2, ["ylink.cbi", "--overwrite"], "link to an existing file");
  unchanged(t, d, before, "link, no --overwrite");
  for (const more of [[], ["--overwrite"]]) {
    refused(
      t,
      run(["backup", vol, "--image", dang, ...more]),
      2,
      ["dang.cbi", "nowhere.cbi"],
      `dangling link ${more.join(" ")}`,
    );
    unchanged(t, d, before, `dangling link ${more.join(" ")}`);
  }
  ok(t, run(["backup", vol, "--image", link, "--overwrite"]), "link --overwrite");
  sameExcept(t, before, state(d), ["real.cbi"], "link --overwrite");
  t.ok(fs.lstatSync(link).isSymbolicLink(), "ylink.cbi is still a link");
  t.equal(fs.readlinkSync(link), "real.cbi", "to real.cbi");
  ok(t, run(["verify", path.join(d, "real.cbi")]), "real.cbi holds the image");
});

t.test("2c. --image a FIFO: the image as a stream, to a concurrent reader", async (t) => {
  const d = caseDir("image-fifo");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  const tgt = path.join(d, "t.img");
  fs.writeFileSync(tgt, Buffer.alloc(fs.statSync(vol).size));
  const fifo = path.join(d, "ff"),
    out = path.join(d, "out.cbi");
  t.equal(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
  const reader = spawn("sh", ["-c", `cat '${fifo}' > '${out}'`]);
  const readerDone = new Promise<number | null>((res) => reader.on("exit", (c) => res(c)));
  const r = run(["backup", vol, "--image", fifo, "--json"]);
  if (r.code !== 0) reader.kill();
  ok(t, r, "backup --image FIFO");
  t.equal(await readerDone, 0, "the reader got it all");
  t.equal(fs.statSync(out).size, JSON.parse(r.out).imageBytes, "the reader got imageBytes bytes");
  t.ok(fs.lstatSync(fifo).isFIFO(), "the FIFO is still a FIFO");
  t.same(
    fs.readdirSync(d).filter((n) => n.includes("partial")),
    [],
    "no partial file",
  );
  ok(t, run(["restore", out, tgt]), "restore what the reader got");
  ok(t, run(["verify", out, "--against", tgt]), "the target matches it");
});

t.test("2d. --image - and /dev/stdout: the image on stdout, the summary and --json on stderr", async (t) => {
  const d = caseDir("image-stdout");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  const before = state(d);
  for (const image of ["-", "/dev/stdout"]) {
    let r = run(["backup", vol, "--image", image]);
    ok(t, r, `--image ${image}`);
    t.equal(r.stdout.toString("latin1", 0, 8), "CBIMAGE1", `${image}: stdout is the image`);
    t.match(
      r.err,
      /^backed up FAT12 .* into (standard output|\/dev\/stdout) \(\d+\.?\d* kB\)/,
      `${image}: the summary on stderr`,
    );
    r = run(["backup", vol, "--image", image, "--json"]);
    ok(t, r, `--image ${image} --json`);
    const j = JSON.parse(r.err);
    t.equal(j.ok, true, `${image}: the JSON on stderr`);
    t.equal(r.stdout.length, j.imageBytes, `${image}: stdout is exactly the image (${j.imageBytes} bytes)`);
    if (image !== "-") continue;
    const copy = path.join(d, "copy.cbi");
    fs.writeFileSync(copy, r.stdout);
    ok(t, run(["verify", copy]), `${image}: the image verifies`);
    fs.rmSync(copy);
  }
  unchanged(t, d, before, "stdout");
});

t.test("2e. --image /dev/null is accepted; 2f. --image a directory is refused before any work", async (t) => {
  const d = caseDir("image-null-dir");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  fs.mkdirSync(path.join(d, "imgs"));
  const before = state(d);
  const r = run(["backup", vol, "--image", "/dev/null"]);
  ok(t, r, "--image /dev/null");
  t.match(r.out, /into \/dev\/null/);
  unchanged(t, d, before, "/dev/null");
  for (const [image, more] of [
    [path.join(d, "imgs"), []],
    [path.join(d, "imgs") + "/", ["--overwrite"]],
  ] as [string, string[]][]) {
    const r = run(["backup", vol, "--image", image, ...more]);
    refused(t, r, 2, ["imgs", "is a directory"], `--image ${image.slice(d.length + 1)} ${more.join(" ")}`);
    t.ok(r.ms < 5000, `refused before any work (${r.ms} ms)`);
    unchanged(t, d, before, "directory");
  }
});

t.test(
  "2g. --image a loop device: written in place, refused when it holds something, never the source's bytes",
  { skip: NO_LOOP },
  async (t) => {
    const d = caseDir("image-loop");
    const vol = unpack(SMALL, path.join(d, "vol.img"));
    const x = path.join(d, "x.cbi");
    backup(t, vol, x);
    const tgt = path.join(d, "t.img");
    fs.copyFileSync(vol, tgt);
    const pat = path.join(d, "pat.bin");
    fs.writeFileSync(pat, Buffer.alloc(1 << 20, 0xa5));
    const L = losetup(pat)!;
    t.teardown(() => detach(L));

    // written in place: the backing file holds the image at offset 0, the rest as it was
    let before = state(d);
    const r = run(["backup", vol, "--image", L, "--json"]);
    ok(t, r, "--image loop device");
    const imageBytes = JSON.parse(r.out).imageBytes;
    t.equal(imageBytes, fs.statSync(x).size, "imageBytes is the image's length, not the device's");
    sameExcept(t, before, state(d), ["pat.bin"], "in place");
    const back = fs.readFileSync(pat);
    t.equal(back.toString("latin1", 0, 8), "CBIMAGE1", "the backing file holds the image at offset 0");
    t.ok(
      back.subarray(imageBytes).every((b) => b === 0xa5),
      "and nothing after it was written",
    );
    ok(t, run(["verify", L]), "verify the loop device");

    // a device that holds an image, or a file system, needs --overwrite
    before = state(d);
    refused(
      t,
      run(["backup", vol, "--image", L]),
      2,
      [L, "holds a clusterback image", "--overwrite"],
      "device holding an image",
    );
    unchanged(t, d, before, "device holding an image");
    const fsb = path.join(d, "fsb.img");
    fs.copyFileSync(vol, fsb);
    const LF = losetup(fsb)!;
    t.teardown(() => detach(LF));
    before = state(d);
    refused(
      t,
      run(["backup", vol, "--image", LF]),
      2,
      [LF, "holds a FAT file system", "--overwrite"],
      "device holding a file system",
    );
    unchanged(t, d, before, "device holding a file system");

    // a loop device over the source is the source
    const LS = losetup(vol)!;
    t.teardown(() => detach(LS));
    refused(
      t,
      run(["backup", vol, "--image", LS, "--overwrite"]),
      2,
      [LS, "vol.img", "same device range"],
      "loop over the source as --image",
    );
    refused(t, run(["backup", LS, "--image", vol, "--overwrite"]), 2, [LS, "vol.img"], "source a loop over --image");
    unchanged(t, d, before, "loop over the source");

    // a loop device over the image file, restored onto that file (or the other way round)
    const LI = losetup(x)!;
    t.teardown(() => detach(LI));
    refused(t, run(["restore", LI, x]), 2, [LI, "x.cbi"], "restore loop-over-image to the image");
    refused(t, run(["restore", x, LI]), 2, [LI, "x.cbi"], "restore the image to a loop over it");
    unchanged(t, d, before, "loop over the image");

    // another program holds the device open with O_EXCL
    const fd = fs.openSync(L, fs.constants.O_RDONLY | fs.constants.O_EXCL);
    try {
      refused(
        t,
        run(["backup", vol, "--image", L, "--overwrite"]),
        1,
        [L, "in use"],
        "backup onto a device held O_EXCL",
      );
      refused(t, run(["restore", L, tgt]), 1, [L, "in use"], "restore from a device held O_EXCL");
    } finally {
      fs.closeSync(fd);
    }
    unchanged(t, d, before, "O_EXCL");
  },
);

// ============================================================================================
// 3. A partitioned disk as a restore target.
// ============================================================================================

for (const scheme of ["mbr", "gpt"]) {
  t.test(
    `3. restore onto a disk with a${scheme === "mbr" ? "n" : ""} ${scheme.toUpperCase()} table: --partition N or --whole-disk`,
    async (t) => {
      const d = caseDir(`partitioned-${scheme}`);
      // the target: the disk the image came from, with partition 1 wiped
      const tgt = unpack(`volumes/disk-${scheme}.img.gz`, path.join(d, "target.img"));
      const p1 = path.join(d, "p1.cbi");
      backup(t, tgt, p1, "--partition", "1");
      const one = firstPartition(tgt);
      const size = fs.statSync(tgt).size;
      const fd = fs.openSync(tgt, "r+");
      fs.writeSync(fd, Buffer.alloc(one.end - one.start), 0, one.end - one.start, one.start);
      fs.closeSync(fd);
      const wiped = fs.readFileSync(tgt);

      let before = state(d);
      const list =
        scheme === "mbr"
          ? ["1: LBA 2048", "2: LBA 18432", "5: LBA 28672", "6: LBA 47104"]
          : ["1: LBA 2048", "2: LBA 18432"];
      refused(
        t,
        run(["restore", p1, tgt]),
        2,
        [
          "target.img",
          `${scheme.toUpperCase()} partition table`,
          ...list,
          "--partition 1",
          "--whole-disk",
          "nothing was written",
        ],
        "no --partition",
      );
      unchanged(t, d, before, "no --partition");

      // the target by ranges: before partition 1 (the table), partition 1, after it (the other partitions, GPT's backup table)
      const outside = () => [sha(tgt, 0, one.start), sha(tgt, one.end, size)];
      const outsideBefore = outside(),
        insideBefore = sha(tgt, one.start, one.end);
      before = state(d, ["target.img"]);
      ok(t, run(["restore", p1, tgt, "--partition", "1"]), "--partition 1");
      unchanged(t, d, before, "--partition 1", ["target.img"]);
      t.same(outside(), outsideBefore, "the table and every other partition unchanged");
      t.not(sha(tgt, one.start, one.end), insideBefore, "partition 1 written");
      ok(t, run(["verify", p1, "--against", tgt, "--partition", "1"]), "partition 1 matches the image");

      const whole = path.join(d, "whole.img");
      fs.writeFileSync(whole, wiped);
      before = state(d, ["whole.img"]);
      const volBytes = one.end - one.start;
      const tailBefore = sha(whole, volBytes, size);
      ok(t, run(["restore", p1, whole, "--whole-disk"]), "--whole-disk");
      unchanged(t, d, before, "--whole-disk", ["whole.img"]);
      const s0 = Buffer.alloc(512);
      const wfd = fs.openSync(whole, "r");
      fs.readSync(wfd, s0, 0, 512, 0);
      fs.closeSync(wfd);
      t.ok(s0[0] === 0xeb && s0[510] === 0x55 && s0[511] === 0xaa, "sector 0 is the volume's boot sector now");
      t.equal(sha(whole, volBytes, size), tailBefore, "nothing past the volume's size written");
      ok(t, run(["verify", p1, "--against", whole]), "the disk's start matches the image");
    },
  );
}

// ============================================================================================
// 4. Partial files.
// ============================================================================================

t.test(
  "4a. a backup onto a full tmpfs fails naming the file, leaves no partial, the previous image intact",
  { skip: NO_TMPFS },
  async (t) => {
    const d = caseDir("full-tmpfs");
    const small = unpack("volumes/fat12-floppy.img.gz", path.join(d, "floppy.img"));
    const f32 = unpack("volumes/fat32-512.img.gz", path.join(d, "f32.img"));
    const mnt = path.join(d, "mnt");
    t.ok(mountTmpfs(mnt, "256k"), "mount a 256 KiB tmpfs");
    t.teardown(() => unmount(mnt));
    const x = path.join(mnt, "x.cbi");
    backup(t, small, x); // about 88 kB: fits
    const before = state(d);
    const r = run(["backup", f32, "--image", x, "--overwrite"]); // about 754 kB: does not
    refused(t, r, 1, ["x.cbi", /ENOSPC|no space/i, "is as it was"], "full file system");
    unchanged(t, d, before, "full file system");
    ok(t, run(["verify", x]), "the previous image verifies");
  },
);

t.test("4b. stale partials of dead backups are removed (with a notice), a live one's left alone", async (t) => {
  const d = caseDir("stale-partial");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  const dead = deadPid();
  const stale = `.x.cbi.partial-${dead}`,
    live = `.x.cbi.partial-${process.pid}`,
    other = `.y.cbi.partial-${dead}`;
  for (const n of [stale, live, other]) fs.writeFileSync(path.join(d, n), crypto.randomBytes(4096));
  const before = state(d);
  const r = run(["backup", vol, "--image", path.join(d, "x.cbi")]);
  ok(t, r, "backup");
  t.ok(r.err.includes(`notice: removed ${path.join(d, stale)}`), "a notice names the stale partial");
  t.notOk(r.err.includes(live), "the live one is not mentioned");
  sameExcept(t, before, state(d), [stale, "x.cbi"], "stale partial");
  t.notOk(fs.existsSync(path.join(d, stale)), "the dead backup's partial is gone");
  t.ok(fs.existsSync(path.join(d, live)), "the live process's partial is still there");
});

t.test("4c. a backup SIGKILLed mid-run: the next backup removes its partial", { skip: NO_MKFS }, async (t) => {
  const big = bigVolume(t);
  const d = caseDir("killed-backup");
  const k = path.join(d, "k.cbi");
  const child = spawn(process.execPath, [cli, "backup", big.img, "--image", k], { env: baseEnv, stdio: "ignore" });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on("exit", (_c, sig) => res(sig)));
  const partial = path.join(d, `.k.cbi.partial-${child.pid}`);
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  t.ok(await until(() => gone || (fs.existsSync(partial) && fs.statSync(partial).size > 0)), "the partial appears");
  t.notOk(gone, "caught before it finished");
  child.kill("SIGSTOP");
  child.kill("SIGKILL");
  t.equal(await exited, "SIGKILL", "killed");
  t.ok(fs.existsSync(partial), "the killed backup left its partial");
  t.notOk(fs.existsSync(k), "and no k.cbi");
  t.ok(fs.readdirSync(lockDir).length > 0, "and its locks");
  const r = run(["backup", big.img, "--image", k]);
  ok(t, r, "the next backup");
  t.ok(
    r.err.includes(`notice: removed ${partial}, left by a backup that did not finish`),
    "says it removed the partial",
  );
  t.same(fs.readdirSync(d), ["k.cbi"], "only k.cbi is left");
  t.same(fs.readdirSync(lockDir), [], "no locks left");
});

// ============================================================================================
// 5. Locks.
// ============================================================================================

t.test(
  "5. locks: a running restore's target is refused to a second restore and to a backup",
  { skip: NO_MKFS },
  async (t) => {
    const big = bigVolume(t);
    const d = caseDir("locks");
    const cbi2 = path.join(d, "big2.cbi");
    fs.copyFileSync(big.cbi, cbi2);
    const tgt = path.join(d, "t.img");
    fs.writeFileSync(tgt, "");
    fs.truncateSync(tgt, fs.statSync(big.img).size);
    const lock = lockFileOf(tgt);
    const child = spawn(process.execPath, [cli, "restore", big.cbi, tgt], { env: baseEnv, stdio: "ignore" });
    const exited = new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    t.ok(await until(() => gone || fs.existsSync(lock)), "the first restore takes the target's lock");
    t.notOk(gone, "caught while it runs");
    child.kill("SIGSTOP");
    try {
      const before = state(d),
        bigBefore = sha(big.cbi);
      const pid = `pid ${child.pid}`;
      refused(
        t,
        run(["restore", cbi2, tgt]),
        1,
        ["t.img", "in use", "clusterback restore", pid],
        "a second restore onto the target",
      );
      refused(
        t,
        run(["restore", big.cbi, tgt]),
        1,
        ["in use", "clusterback restore", pid],
        "a second restore from the same image",
      );
      refused(
        t,
        run(["backup", tgt, "--image", path.join(d, "bb.cbi")]),
        1,
        ["t.img", "in use", "clusterback restore", pid],
        "a backup of the target",
      );
      unchanged(t, d, before, "while the first restore runs");
      t.equal(sha(big.cbi), bigBefore, "the image unchanged");
    } finally {
      child.kill("SIGCONT");
    }
    t.equal(await exited, 0, "the first restore finishes");
    t.ok(sameBytes(tgt, big.img), "the target is byte-identical to the source");
    t.same(fs.readdirSync(lockDir), [], "no locks left");
  },
);

t.test("5b. a lock left by a dead process is taken over; a live one's is respected", async (t) => {
  const d = caseDir("stale-lock");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  const x = path.join(d, "x.cbi");
  backup(t, vol, x);
  const tgt = path.join(d, "t.img");
  fs.writeFileSync(tgt, Buffer.alloc(fs.statSync(vol).size));
  const lock = lockFileOf(tgt);
  const holder = (pid: number) =>
    JSON.stringify({ pid, command: "restore", path: tgt, since: new Date().toISOString() });
  fs.writeFileSync(lock, holder(process.pid));
  const before = state(d);
  refused(t, run(["restore", x, tgt]), 1, ["t.img", `pid ${process.pid}`], "a live lock");
  unchanged(t, d, before, "a live lock");
  t.ok(fs.existsSync(lock), "the live lock stays");
  fs.writeFileSync(lock, holder(deadPid()));
  ok(t, run(["restore", x, tgt]), "a dead process's lock is taken over");
  ok(t, run(["verify", x, "--against", tgt]), "and the restore done");
  t.same(fs.readdirSync(lockDir), [], "no locks left");
});

// ============================================================================================
// 6. FIFOs with nobody at the other end.
// ============================================================================================

t.test("6. FIFOs with no writer or no reader fail by name; a FIFO is never a source", async (t) => {
  const d = caseDir("fifo-alone");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  const x = path.join(d, "x.cbi");
  backup(t, vol, x);
  const tgt = path.join(d, "t.img");
  fs.copyFileSync(vol, tgt);
  const ff = path.join(d, "ff");
  t.equal(spawnSync("mkfifo", [ff]).status, 0, "mkfifo");
  const env = { CLUSTERBACK_FIFO_WAIT_MS: "500" };
  const before = state(d);
  let r = run(["restore", ff, tgt], { env });
  refused(t, r, 2, ["ff", "no writer", "500 ms"], "restore from a FIFO with no writer");
  t.ok(r.ms < 5000, `fails within a few seconds (${r.ms} ms)`);
  unchanged(t, d, before, "restore from a FIFO with no writer");
  r = run(["verify", ff], { env });
  refused(t, r, 2, ["ff", "no writer"], "verify a FIFO with no writer");
  for (const args of [
    ["backup", ff, "--image", path.join(d, "q.cbi")],
    ["info", ff],
    ["restore", x, ff],
  ]) {
    r = run(args, { env });
    refused(t, r, 2, ["ff", "FIFO"], args.slice(0, 2).join(" "));
    t.ok(r.ms < 3000, `refused at once (${r.ms} ms)`);
    unchanged(t, d, before, args.slice(0, 2).join(" "));
  }
  r = run(["backup", vol, "--image", ff], { env });
  refused(t, r, 2, ["ff", "no reader", "500 ms"], "--image a FIFO with no reader");
  unchanged(t, d, before, "--image a FIFO with no reader");
});

// ============================================================================================
// 7. Words.
// ============================================================================================

t.test("7. words: what a tired user reads", async (t) => {
  const d = caseDir("words");
  const vol = unpack(SMALL, path.join(d, "vol.img"));
  // the larger files in a directory of their own, hashed around the commands that name them
  const dd = caseDir("words-disks");
  const gpt = unpack("volumes/disk-gpt.img.gz", path.join(dd, "gpt.img"));
  const nt = unpack("ntfs/ntfs-512.img.gz", path.join(dd, "ntfs.img"));
  const ntfd = fs.openSync(nt, "r+");
  fs.writeSync(ntfd, Buffer.alloc(512), 0, 512, 0);
  fs.closeSync(ntfd);
  const x = path.join(d, "x.cbi");
  const b = run(["backup", vol, "--image", x, "--json"]);
  ok(t, b, "backup");
  const imageClusters = JSON.parse(b.out).imageClusters;
  const tgt = path.join(d, "t.img");
  fs.copyFileSync(vol, tgt);
  fs.mkdirSync(path.join(d, "dir"));
  fs.writeFileSync(path.join(d, "blank.img"), Buffer.alloc(1 << 20));
  fs.writeFileSync(path.join(d, "s511.cbi"), fs.readFileSync(x).subarray(0, 511));
  // the refusals run two at a time: those that would lock a file get files of their own
  fs.copyFileSync(path.join(d, "s511.cbi"), path.join(d, "s511-r.cbi"));
  fs.copyFileSync(vol, path.join(d, "t2.img"));
  const p = (n: string) => path.join(d, n);
  const before = state(d),
    beforeDisks = state(dd);
  const cases: [string[], number, (string | RegExp)[]][] = [
    [["info", p("dir")], 2, ["dir", "is a directory"]],
    [["backup", vol, "--image", p("dir")], 2, ["dir", "is a directory"]],
    [["info", p("blank.img")], 1, ["blank.img", "all zeros"]],
    [["backup", p("blank.img"), "--image", p("z.cbi")], 1, ["blank.img", "all zeros"]],
    [["backup", gpt, "--image", p("z.cbi")], 2, ["gpt.img", "GPT partition table", "partitions 1, 2", "--partition N"]],
    [["info", nt], 1, ["ntfs.img", "backup boot sector"]],
    [["backup", nt, "--image", p("z.cbi")], 1, ["ntfs.img", "backup boot sector"]],
    [["restore", tgt, x], 2, ["t.img", "x.cbi", "look swapped"]],
    [["info", p("nope.img")], 2, ["nope.img", "no such"]],
    [["backup", p("nope.img"), "--image", p("z.cbi")], 2, ["nope.img", "no such"]],
    [["backup", vol, "--image", p("nodir/z.cbi")], 2, ["nodir", "not there"]],
    [["restore", p("nope.cbi"), tgt], 2, ["nope.cbi", "no such"]],
    [["restore", x, p("nope.img")], 2, ["nope.img", "no such"]],
    [["verify", p("nope.cbi")], 2, ["nope.cbi", "no such"]],
    [["verify", x, "--against", p("nope.img")], 2, ["nope.img", "no such"]],
    [["backup", vol, "--imgae", p("z.cbi")], 2, ["unknown option --imgae"]],
    [["restore", x, tgt, "--fulll"], 2, ["unknown option --fulll"]],
    [["backup", vol, "--image"], 2, ["--image", "needs a value"]],
    [["info", vol, "--sector-size", "3"], 2, ["--sector-size", "not 3"]],
    [["info", p("s511.cbi")], 1, ["s511.cbi", "511 bytes"]],
    [["verify", p("s511.cbi")], 1, ["s511.cbi", "511 bytes"]],
    [["restore", p("s511-r.cbi"), p("t2.img")], 1, ["s511-r.cbi", "511 bytes"]],
  ];
  const runs = await inPairs(cases, ([args]) => runAsync(args));
  cases.forEach(([args, code, names], i) => {
    const what = args.map((a) => path.basename(a)).join(" ");
    refused(t, runs[i], code, names, what);
    t.notMatch(runs[i].err, /To specify a positional|Unknown option '/, `${what}: not Node's parser text`);
  });
  unchanged(t, d, before, "after every refusal");
  unchanged(t, dd, beforeDisks, "after every refusal");

  let r = run(["info", gpt]);
  ok(t, r, "info on a whole disk");
  t.match(r.out, /choose a partition with --partition N/, "says choose --partition N");

  r = run(["--version"]);
  ok(t, r, "--version");
  const version = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version;
  t.equal(r.out.trim(), `clusterback ${version}`);
  const help = run(["help", "restore"]),
    own = run(["restore", "--help"]);
  ok(t, help, "help restore");
  ok(t, own, "restore --help");
  t.match(help.out, /clusterback restore <image\|-> <target>/, "help restore shows restore's usage");
  t.notMatch(help.out, /clusterback backup <source>/, "and not every command's");
  t.equal(own.out, help.out, "restore --help says the same");
  unchanged(t, d, before, "help");

  // restore's JSON; sizes under a megabyte in kB
  const jr = run(["restore", x, tgt, "--full", "--json"]);
  ok(t, jr, "restore --full --json");
  const full = JSON.parse(jr.out);
  t.match(
    full,
    { ok: true, imageClusters, bytesWritten: Number, bytesRead: Number, bytesCompared: 0 },
    "restore's JSON fields",
  );
  t.ok(
    full.bytesWritten > 0 && full.bytesRead > 0,
    `--full writes and reads back (${full.bytesWritten} written, ${full.bytesRead} read)`,
  );
  // a target that differs from the image in 28 kB of clusters
  const hdr = fs.readFileSync(vol).subarray(0, 512);
  const bps = hdr.readUInt16LE(11),
    dataStart =
      (hdr.readUInt16LE(14) + hdr[16] * hdr.readUInt16LE(22) + Math.ceil((hdr.readUInt16LE(17) * 32) / bps)) * bps;
  const damaged = Buffer.from(fs.readFileSync(vol));
  damaged.fill(0, dataStart, dataStart + 28 * 1024);
  fs.writeFileSync(tgt, damaged);
  const dj = run(["restore", x, tgt, "--json"]);
  ok(t, dj, "differential restore --json");
  const diff = JSON.parse(dj.out);
  t.ok(diff.bytesCompared > 0, `a differential restore compares (${diff.bytesCompared} bytes)`);
  t.ok(diff.bytesWritten >= 28000 && diff.bytesWritten < 1e6, `about 28 kB written (${diff.bytesWritten})`);
  fs.writeFileSync(tgt, damaged);
  r = run(["restore", x, tgt]);
  ok(t, r, "differential restore");
  t.ok(
    r.out.includes(`${sizeText(diff.bytesWritten)} written`),
    `the summary says ${sizeText(diff.bytesWritten)} written: ${r.out.trim()}`,
  );
  t.match(sizeText(diff.bytesWritten), / kB$/);
  t.notMatch(r.out, /\b0\.0+ MB/, "no 0.0 MB");
});

// ============================================================================================
// 8. Streams.
// ============================================================================================

const STREAM_FIXTURES = [
  "volumes/fat16-2k.img.gz",
  "volumes/fat32-512.img.gz",
  "exfat/exfat-4k.img.gz",
  "ntfs/ntfs-4k.img.gz",
];

t.test("8a. backup --image - | gzip | gunzip | restore - TARGET", async (t) => {
  await inPairs(STREAM_FIXTURES, async (fixture) => {
    const d = caseDir(`stream-${path.basename(fixture, ".img.gz")}`);
    const src = unpack(fixture, path.join(d, "src.img"));
    const size = fs.statSync(src).size;
    // what a restore from an image file gives on a blank target (free clusters stay blank)
    const ref = path.join(d, "ref.img"),
      tgt = path.join(d, "t.img"),
      cbi = path.join(d, "ref.cbi");
    ok(t, await runAsync(["backup", src, "--image", cbi]), `${fixture}: backup`);
    for (const f of [ref, tgt]) {
      fs.writeFileSync(f, "");
      fs.truncateSync(f, size);
    }
    ok(t, await runAsync(["restore", cbi, ref]), `${fixture}: restore from the file`);
    const before = state(d, ["t.img"]);
    const r = await runAsync([`cb backup '${src}' --image - | gzip | gunzip | cb restore - '${tgt}'`], true);
    ok(t, r, `${fixture}: the pipeline`);
    t.match(r.out, /restored .* from standard input/);
    unchanged(t, d, before, fixture, ["t.img"]);
    t.ok(sameBytes(tgt, ref), `${fixture}: byte-identical to a restore from the file`);
  });
});

t.test(
  "8b. a stream cut off, or with one flipped bit in a late block: the target stays marked; a good image finishes it",
  async (t) => {
    const d = caseDir("stream-damaged");
    const src = unpack("volumes/fat16-full.img.gz", path.join(d, "src.img"));
    const good = path.join(d, "good.cbi");
    backup(t, src, good);
    const img = fs.readFileSync(good);
    // the start of the last block's table: the last "CBBT" before the commit record
    const blocks = Number(img.readBigUInt64LE(224));
    t.ok(blocks >= 4, `the image has several blocks (${blocks})`);
    const lastTable = img.lastIndexOf(Buffer.from("CBBT"));
    t.equal(Number(img.readBigUInt64LE(lastTable + 8)), blocks - 1, "found the last block's table");
    const flipped = Buffer.from(img);
    flipped[lastTable - 3000] ^= 0x10; // inside the last block's clusters
    // the target: the source with its data area wiped, and what an uninterrupted restore makes of it
    const init = Buffer.from(fs.readFileSync(src));
    init.fill(0, 64 * 1024);
    const ref = path.join(d, "ref.img");
    fs.writeFileSync(ref, init);
    ok(t, run(["restore", good, ref]), "the uninterrupted restore");
    const tgt = path.join(d, "t.img");
    const cases: [string, Buffer, (string | RegExp)[]][] = [
      [
        "cut in the middle",
        img.subarray(0, Math.floor(img.length / 2)),
        ["standard input", "ended at byte", `${img.length} bytes`],
      ],
      ["one flipped bit in a late block", flipped, ["standard input", `image block ${blocks - 1}`, "damaged"]],
    ];
    for (const [what, stream, names] of cases) {
      fs.writeFileSync(tgt, init);
      const before = state(d, ["t.img"]);
      const r = run(["restore", "-", tgt], { input: stream });
      refused(t, r, 1, names, what);
      unchanged(t, d, before, what, ["t.img"]);
      const info = run(["info", tgt, "--json"]);
      ok(t, info, `${what}: info`);
      t.ok(JSON.parse(info.out).restoreInProgress, `${what}: info shows restoreInProgress`);
      const s0 = fs.readFileSync(tgt).subarray(0, 512);
      t.notOk(s0[0] === 0xeb && s0[510] === 0x55 && s0[511] === 0xaa, `${what}: sector 0 is not a boot sector`);
      const fin = run(["restore", good, tgt]);
      ok(t, fin, `${what}: restore GOODIMAGE`);
      t.match(fin.out, /finishing an interrupted restore/);
      t.ok(sameBytes(tgt, ref), `${what}: byte-identical to the uninterrupted restore`);
    }
  },
);

t.test("8c. verify - reads an image stream (copied front to back into a temporary file, then checked)", async (t) => {
  const d = caseDir("stream-verify");
  const src = unpack("volumes/fat16-2k.img.gz", path.join(d, "src.img"));
  const cbi = path.join(d, "x.cbi");
  backup(t, src, cbi);
  ok(t, run(["verify", "-"], { input: fs.readFileSync(cbi) }), "verify -");
  const bad = Buffer.from(fs.readFileSync(cbi));
  bad[bad.length - 700] ^= 1;
  const r = run(["verify", "-"], { input: bad });
  t.equal(r.code, 1, "a damaged stream fails verify");
  t.match(r.err, /^clusterback: standard input: /, "naming standard input");
  const cut = run(["verify", "-"], { input: fs.readFileSync(cbi).subarray(0, 4096) });
  t.equal(cut.code, 1, "a cut stream fails verify");
});
