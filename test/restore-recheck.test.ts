// Issue 12, item 6: every byte a restore writes is checked in the pass that writes it. An image
// changed between the check pass and the write pass (its metadata, with MetaCheck and the
// header resealed as an attacker would; or a whole block, table and all) is caught before any
// of the changed chunk is written, and before the boot sector: the target keeps its restore
// mark, with or without the read-back. And the one-pass restore (RestoreFlag.onePass, for an
// image read from a stream): the image read strictly front to back (only the header and bitmap,
// [0, MetaOffset), read again), the result byte-identical to a two-pass restore on FAT12/16/32,
// exFAT and NTFS, onto blank and garbage targets; a cut-off stream, a damaged late block, a bad
// commit record, each fail by name with the mark left in place, and a normal restore from the
// good image finishes the target.

import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { DeviceCode, DeviceError } from "../firmware-module/src/ops/errors";
import { readRestoreMark } from "../firmware-module/src/ops/restore-mark";
import * as api from "../host-shim/src/cli/api";
import { Core, Progress, RestoreFlag, Slot } from "../host-shim/src/native/core";
import { BlockDevice, RamDevice } from "../host-shim/src/native/devices";
import { FaultDevice, PowerCutError } from "../host-shim/src/native/fault-device";
import {
  blockAt,
  C,
  cbh32,
  cbh64,
  H,
  Layout,
  layout,
  recordCheck,
  reseal,
  SEED,
  T,
  tableBytes,
  view,
} from "./helpers/image-forge";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-recheck-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const fixtureRoot = path.join(__dirname, "fixtures");
const sha = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");
const MiB = 1 << 20;
/** Bytes of each metadata chunk a restore checks and writes at a time (as-core/assembly/mem.ts META_CHUNK_BYTES). */
const META_CHUNK_BYTES = MiB;
const IMG_SECTOR = 512;

// ---- fixtures, images, targets ---------------------------------------------------------------

interface Source {
  label: string;
  bytes: Buffer;
  imageFile: string;
  image: Buffer;
  g: Layout;
}
const sources = new Map<string, Source>();
let serial = 0;
/** A committed fixture (test/fixtures/<dir>/<file>) and its image, made once. */
function source(dir: string, file: string): Source {
  const key = `${dir}/${file}`;
  const known = sources.get(key);
  if (known) return known;
  const src = path.join(tmp, file.replace(/\.gz$/, ""));
  const bytes = zlib.gunzipSync(fs.readFileSync(path.join(fixtureRoot, dir, file)));
  fs.writeFileSync(src, bytes);
  const imageFile = path.join(tmp, `${file.replace(/\.img\.gz$/, "")}-${serial++}.cbi`);
  api.backup(core, src, { overwrite: true, image: imageFile, name: file });
  fs.rmSync(src);
  const image = fs.readFileSync(imageFile);
  const s = { label: file, bytes, imageFile, image, g: layout(image) };
  sources.set(key, s);
  return s;
}

/** A target of the source's size: zeros, or pseudo-random garbage. */
function startBytes(s: Source, kind: "blank" | "garbage"): Uint8Array {
  const b = new Uint8Array(s.bytes.length);
  if (kind === "garbage") {
    let x = 0x2545f491;
    const w = new Uint32Array(b.buffer);
    for (let i = 0; i < w.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      w[i] = x >>> 0;
    }
  }
  return b;
}

/** An image in memory that serves `before` until a region has been read once, then (from its second read on) `after`. */
class SwappingImage implements BlockDevice {
  readonly sectorSize = IMG_SECTOR;
  readonly name = "swapping image";
  readsOfRegion = 0;
  constructor(
    private readonly before: Uint8Array,
    private readonly after: Uint8Array,
    private readonly region: [number, number],
  ) {}
  get sectorCount(): number {
    return this.before.length / IMG_SECTOR;
  }
  read(lba: number, n: number, dst: Uint8Array, off: number): void {
    const at = lba * IMG_SECTOR,
      end = at + n * IMG_SECTOR;
    if (at < this.region[1] && end > this.region[0]) this.readsOfRegion++;
    const from = this.readsOfRegion >= 2 ? this.after : this.before;
    dst.set(from.subarray(at, end), off);
  }
  write(): void {
    throw new DeviceError(DeviceCode.readonly, "image is read-only");
  }
  flush(): void {}
  close(): void {}
}

/**
 * An image read as a stream would be: any read behind the furthest byte read, outside the head
 * [0, MetaOffset) that a stream keeps, throws; and with `cutAt`, the stream ends there.
 */
class StreamImage implements BlockDevice {
  readonly sectorSize = IMG_SECTOR;
  readonly name = "stream";
  /** Bytes read past the head, and the furthest byte read. */
  bytesPastHead = 0;
  private position = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly metaOffset: number,
    private readonly cutAt = Infinity,
  ) {}
  get sectorCount(): number {
    return this.bytes.length / IMG_SECTOR;
  }
  read(lba: number, n: number, dst: Uint8Array, off: number): void {
    const at = lba * IMG_SECTOR,
      end = at + n * IMG_SECTOR;
    if (end > this.metaOffset) {
      const from = Math.max(at, this.metaOffset);
      if (from < this.position)
        throw new Error(`read back at byte ${from}, behind the stream's position ${this.position}`);
      if (end > this.cutAt) throw new DeviceError(DeviceCode.short, `stream: the stream ended at byte ${this.cutAt}`);
      this.bytesPastHead += end - from;
      this.position = end;
    }
    dst.set(this.bytes.subarray(at, end), off);
  }
  write(): void {
    throw new DeviceError(DeviceCode.readonly, "image is read-only");
  }
  flush(): void {}
  close(): void {}
}

interface Outcome {
  error?: Error & { codeName?: string };
  written: number;
  read: number;
  mismatches: number;
  metaMismatch: boolean;
  progress?: Progress;
}

/** A restore driven on the core directly, from any image device. */
function coreRestore(img: BlockDevice, target: BlockDevice, flags: number): Outcome {
  const hi = core.attach(img),
    ht = core.attach(target);
  let error: Outcome["error"], progress: Progress | undefined;
  try {
    core.check(core.exports.restoreBegin(hi, img.sectorCount, ht, target.sectorSize, target.sectorCount, flags));
    core.run({
      onProgress: (p) => {
        progress = p;
      },
    });
  } catch (e) {
    error = e as Outcome["error"];
  } finally {
    core.detach(hi);
    core.detach(ht);
  }
  const res = core.results();
  return {
    error,
    written: res[Slot.targetBytesWritten],
    read: res[Slot.targetBytesRead],
    mismatches: res[Slot.mismatches],
    metaMismatch: res[Slot.metaMismatch] === 1,
    progress,
  };
}

/** Verify --against on the core: every stored cluster and the metadata area compared with the image. */
function comparesClean(s: Source, target: Uint8Array): boolean {
  const img = new RamDevice(IMG_SECTOR, s.image),
    dev = new RamDevice(s.g.sectorBytes, target);
  const hi = core.attach(img),
    ht = core.attach(dev);
  try {
    core.check(core.exports.verifyBegin(hi, img.sectorCount, ht, dev.sectorSize, dev.sectorCount));
    core.run();
    return api.comparison(core).ok;
  } finally {
    core.detach(hi);
    core.detach(ht);
  }
}

/** The result of a plain two-pass restore of `s` onto `start` (the reference). */
function twoPass(
  s: Source,
  start: Uint8Array,
  flags: number = RestoreFlag.readBack,
): { bytes: Uint8Array; out: Outcome } {
  const target = new RamDevice(s.g.sectorBytes, Uint8Array.from(start));
  const out = coreRestore(new RamDevice(IMG_SECTOR, Uint8Array.from(s.image)), target, flags);
  if (out.error) throw out.error;
  return { bytes: target.bytes, out };
}

function markedBy(s: Source, target: Uint8Array): boolean {
  const mark = readRestoreMark(core, new RamDevice(s.g.sectorBytes, target));
  return (
    mark !== undefined &&
    mark.headerCheck === view(s.image).getBigUint64(H.headerCheck, true).toString(16).padStart(16, "0")
  );
}

/** The partition file a target's bytes make, for api.info and api.restore. */
function targetFile(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, `${name}-${serial++}.img`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Runs the normal (two-pass) restore from the good image over a marked target file; it must finish it exactly as `reference`. */
function finishes(t: Tap.Test, s: Source, marked: Uint8Array, reference: Uint8Array, what: string): void {
  const file = targetFile("marked", marked);
  const info = api.info(core, file);
  t.equal(
    info.restoreInProgress?.name,
    s.label,
    `${what}: api.info reports the restore in progress, from image "${s.label}"`,
  );
  const r = api.restore(core, s.imageFile, file);
  t.equal(r.resumed, true, `${what}: the normal restore finds the mark`);
  t.ok(
    Buffer.from(reference).equals(fs.readFileSync(file)),
    `${what}: a normal restore from the good image finishes it byte-identical`,
  );
  t.equal(api.info(core, file).restoreInProgress, undefined, `${what}: the mark is gone`);
  fs.rmSync(file);
}

t.test("the CBH oracle here agrees with the core (64 and 32 bits, high seeds)", async (t) => {
  for (const seed of [0, 2, 4, 2 ** 32 + 3]) {
    const bytes = new Uint8Array(512).map((_, i) => (i * 131 + seed) & 0xff);
    t.equal(cbh64(bytes, seed).toString(16).padStart(16, "0"), core.checkOf(bytes, seed), `seed ${seed}`);
  }
});

// ---- item 6: the write pass checks what it writes --------------------------------------------

interface MetaCase {
  dir: string;
  file: string;
  what: string;
  at: (s: Source) => number;
}
const metaCases: MetaCase[] = [
  { dir: "volumes", file: "fat16-2k.img.gz", what: "a byte of the boot sector (its OEM name), chunk 0", at: () => 3 },
  {
    dir: "volumes",
    file: "fat32-512.img.gz",
    what: "a byte of the first FAT, chunk 0",
    at: (s) => 32 * s.g.sectorBytes + 9,
  },
  {
    dir: "exfat",
    file: "exfat-4k.img.gz",
    what: "a byte of the FAT in chunk 1 (2 MiB of metadata)",
    at: () => MiB + 9,
  },
];
const restoreModes: [string, number][] = [
  ["with read-back", RestoreFlag.readBack],
  ["--no-verify", 0],
  ["--full --no-verify", RestoreFlag.full],
];

for (const c of metaCases) {
  t.test(
    `metadata changed between the check pass and the write pass (${c.file}: ${c.what}) is refused by name, nothing of its chunk written`,
    async (t) => {
      const s = source(c.dir, c.file),
        g = s.g;
      const at = c.at(s),
        chunk = Math.floor(at / META_CHUNK_BYTES);
      const chunkStart = chunk * META_CHUNK_BYTES,
        chunkEnd = Math.min(g.metaBytes, chunkStart + META_CHUNK_BYTES);
      const attacked = Uint8Array.from(s.image);
      attacked[g.metaOffset + at] ^= 0xff;
      reseal(attacked);
      const attackedFile = path.join(tmp, `attacked-${serial++}.cbi`);
      fs.writeFileSync(attackedFile, attacked);
      t.equal(
        api.verify(core, attackedFile).ok,
        true,
        "the attacker's image (MetaCheck and header resealed) checks out on its own",
      );
      const reference = twoPass(s, startBytes(s, "blank")).bytes;
      for (const [mode, flags] of restoreModes) {
        const before = startBytes(s, "blank");
        const target = new RamDevice(g.sectorBytes, Uint8Array.from(before));
        const img = new SwappingImage(s.image, attacked, [g.metaOffset + chunkStart, g.metaOffset + chunkEnd]);
        const out = coreRestore(img, target, flags);
        t.equal(out.error?.codeName, "E_IMG_META_CHANGED", `${mode}: ${out.error?.message}`);
        t.equal(out.error?.name, "ImageError", `${mode}: an image error`);
        t.equal(img.readsOfRegion, 2, `${mode}: the chunk was read by the check pass, then once more to be written`);
        t.ok(
          markedBy(s, target.bytes),
          `${mode}: sector 0 of the target still holds the restore mark (it does not mount)`,
        );
        // (metadata sector i is partition sector i: these fixtures have no tail)
        const from = Math.max(chunkStart, g.sectorBytes);
        t.equal(
          sha(target.bytes.subarray(from, chunkEnd)),
          sha(before.subarray(from, chunkEnd)),
          `${mode}: the target's bytes ${from}..${chunkEnd - 1} (the changed chunk) hash as before: nothing of it was written`,
        );
        t.not(sha(target.bytes), sha(before), `${mode}: (the mark and the clusters were written)`);
        finishes(t, s, target.bytes, reference, mode);
      }
      fs.rmSync(attackedFile);
    },
  );
}

t.test(
  "a block swapped between the passes, table and table check recomputed, is caught by the chain before the boot sector",
  async (t) => {
    const s = source("volumes", "fat16-full.img.gz"),
      g = s.g;
    t.ok(g.blockCount >= 4, `${g.blockCount} blocks`);
    const k = 2,
      b = blockAt(g, k);
    const swapped = Uint8Array.from(s.image),
      v = view(swapped);
    // the block's first cluster changed, its check and the table's check recomputed: the block is whole on its own
    swapped.fill(0x5a, b.start, b.start + g.clusterBytes);
    const firstBit = Number(v.getBigUint64(b.table + T.firstBit, true));
    v.setUint32(b.table + T.checks, cbh32(swapped.subarray(b.start, b.start + g.clusterBytes), firstBit), true);
    const tb = tableBytes(b.clusters);
    v.setBigUint64(
      b.table + tb - 8,
      recordCheck(swapped.subarray(b.table, b.table + tb), tb - 8, SEED.table + k),
      true,
    );
    const swappedFile = path.join(tmp, `swapped-${serial++}.cbi`);
    fs.writeFileSync(swappedFile, swapped);
    t.throws(
      () => api.verify(core, swappedFile),
      { codeName: "E_IMG_CHAIN" },
      "on its own, the changed image fails only at the chain",
    );
    fs.rmSync(swappedFile);
    const reference = twoPass(s, startBytes(s, "blank")).bytes;
    for (const [mode, flags] of restoreModes) {
      const before = startBytes(s, "blank");
      const target = new RamDevice(g.sectorBytes, Uint8Array.from(before));
      const img = new SwappingImage(s.image, swapped, [b.start, b.table + tb]);
      const out = coreRestore(img, target, flags);
      t.equal(out.error?.codeName, "E_IMG_CHAIN", `${mode}: ${out.error?.message}`);
      // (compare-first, 10.2: the write pass reads the block's table, then its clusters that differ)
      const reads = flags & RestoreFlag.full ? 2 : 3;
      t.equal(img.readsOfRegion, reads, `${mode}: the block was checked, then read again and written`);
      t.ok(markedBy(s, target.bytes), `${mode}: sector 0 still holds the restore mark`);
      t.equal(
        sha(target.bytes.subarray(g.sectorBytes, g.metaBytes)),
        sha(before.subarray(g.sectorBytes, g.metaBytes)),
        `${mode}: no metadata was written (it comes after the chain)`,
      );
      finishes(t, s, target.bytes, reference, mode);
    }
  },
);

t.test(
  "a metadata section beyond the chunk checks (4 GiB) is refused by a two-pass restore before anything is read or written; one pass takes it",
  async (t) => {
    // a crafted FAT32 header: 9,000,000 sectors of metadata (4.6 GB), 1000 clusters, no blocks
    const metaSectors = 9_000_000,
      clusters = 1000,
      spc = 8;
    const h = new Uint8Array(IMG_SECTOR),
      v = view(h);
    h.set(Buffer.from("CBIMAGE1", "latin1"), 0);
    v.setUint32(8, IMG_SECTOR, true);
    v.setUint16(12, 1, true);
    v.setUint16(14, 2, true);
    h.set(Buffer.from("huge"), 16);
    v.setBigUint64(80, BigInt(clusters), true);
    v.setBigUint64(96, BigInt(clusters + 2), true);
    v.setUint32(104, spc * 512, true);
    v.setUint32(108, 512, true);
    v.setUint32(116, 3, true);
    v.setBigUint64(144, BigInt(metaSectors + clusters * spc), true);
    v.setBigUint64(160, BigInt(metaSectors), true);
    v.setUint32(168, 2, true);
    v.setUint32(172, MiB / (spc * 512), true);
    v.setUint32(180, metaSectors, true);
    const metaOffset = 1024,
      dataOffset = metaOffset + metaSectors * 512;
    v.setBigUint64(184, 512n, true);
    v.setBigUint64(192, 512n, true);
    v.setBigUint64(200, BigInt(metaOffset), true);
    v.setBigUint64(208, BigInt(metaSectors * 512), true);
    v.setBigUint64(216, BigInt(dataOffset), true);
    v.setBigUint64(224, 0n, true);
    v.setBigUint64(232, BigInt(dataOffset), true);
    v.setBigUint64(504, recordCheck(h, 504, SEED.header), true);
    const untouchable = (name: string, sectorCount: number): BlockDevice => ({
      sectorSize: 512,
      sectorCount,
      name,
      read(lba, n, dst, off) {
        if (lba !== 0 || n !== 1) throw new Error(`${name} read at LBA ${lba}`);
        dst.set(h, off);
      },
      write(lba) {
        throw new Error(`${name} written at LBA ${lba}`);
      },
      flush() {},
      close() {},
    });
    const img = untouchable("image", (dataOffset + IMG_SECTOR) / 512),
      target = untouchable("target", metaSectors + clusters * spc);
    const hi = core.attach(img),
      ht = core.attach(target);
    try {
      t.throws(
        () =>
          core.check(core.exports.restoreBegin(hi, img.sectorCount, ht, 512, target.sectorCount, RestoreFlag.readBack)),
        { codeName: "E_IMG_META_SIZE", message: /4608000000 bytes: a two-pass restore checks at most 4294967296/ },
      );
      t.equal(
        core.exports.restoreBegin(hi, img.sectorCount, ht, 512, target.sectorCount, RestoreFlag.onePass),
        0,
        "a one-pass restore keeps no chunk checks: it begins",
      );
    } finally {
      core.detach(hi);
      core.detach(ht);
    }
  },
);

// ---- the one-pass restore ----------------------------------------------------------------------

const onePassFixtures: [string, string][] = [
  ["volumes", "fat12-floppy.img.gz"],
  ["volumes", "fat16-full.img.gz"],
  ["volumes", "fat16-4kn.img.gz"],
  ["volumes", "fat32-512.img.gz"],
  ["exfat", "exfat-4k.img.gz"],
  ["ntfs", "ntfs-4k.img.gz"],
  ["ntfs", "ntfs-4kn.img.gz"],
];

for (const [dir, file] of onePassFixtures) {
  t.test(
    `one pass, front to back (${file}): the same bytes as a two-pass restore, onto a blank and a garbage target`,
    async (t) => {
      const s = source(dir, file),
        g = s.g;
      for (const kind of ["blank", "garbage"] as const) {
        const start = startBytes(s, kind);
        const ref = twoPass(s, start);
        const stream = new StreamImage(s.image, g.metaOffset);
        const target = new RamDevice(g.sectorBytes, Uint8Array.from(start));
        const out = coreRestore(stream, target, RestoreFlag.onePass | RestoreFlag.readBack);
        t.equal(out.error, undefined, `${kind}: no backward read, no failure`);
        t.equal(
          stream.bytesPastHead,
          g.length - g.metaOffset,
          `${kind}: every image byte after the head read exactly once`,
        );
        t.ok(Buffer.from(target.bytes).equals(ref.bytes), `${kind}: byte-identical to the two-pass restore`);
        t.equal(out.mismatches + (out.metaMismatch ? 1 : 0), 0, `${kind}: the read-back found nothing different`);
        t.equal(out.written, ref.out.written, `${kind}: ${out.written} bytes written, as by the two-pass restore`);
        // the two-pass restore compares the whole target while it checks the image (10.2), and
        // reads the metadata chunks that differ again to write only their sectors that differ
        t.ok(
          out.read <= ref.out.read,
          `${kind}: ${out.read} bytes read to compare, the two-pass restore ${ref.out.read}`,
        );
        t.ok(comparesClean(s, target.bytes), `${kind}: verify --against agrees`);
        t.equal(
          out.progress?.bytesDone,
          out.progress?.bytesTotal,
          `${kind}: progress ends at ${out.progress?.bytesTotal} of ${out.progress?.bytesTotal} bytes`,
        );
        if (kind === "blank" && dir === "volumes")
          t.ok(
            Buffer.from(target.bytes.subarray(0, g.metaBytes)).equals(s.bytes.subarray(0, g.metaBytes)),
            "the system area is the source's",
          );
      }
    },
  );
}

t.test("one pass without the read-back, and full: the same bytes", async (t) => {
  const s = source("ntfs", "ntfs-4k.img.gz");
  for (const [mode, flags] of [
    ["--no-verify", 0],
    ["--full", RestoreFlag.full | RestoreFlag.readBack],
    ["--full --no-verify", RestoreFlag.full],
  ] as const) {
    const start = startBytes(s, "garbage");
    const ref = twoPass(s, start, flags);
    const target = new RamDevice(s.g.sectorBytes, Uint8Array.from(start));
    const stream = new StreamImage(s.image, s.g.metaOffset);
    const out = coreRestore(stream, target, RestoreFlag.onePass | flags);
    t.equal(out.error, undefined, mode);
    t.ok(Buffer.from(target.bytes).equals(ref.bytes), `${mode}: byte-identical`);
    t.equal(out.written, ref.out.written, `${mode}: the same bytes written`);
    // (--full: nothing is read to compare; otherwise the two-pass restore compares the whole target, 10.2)
    if (flags & RestoreFlag.full) t.equal(out.read, ref.out.read, `${mode}: the same bytes read`);
    else t.ok(out.read <= ref.out.read, `${mode}: ${out.read} bytes read, the two-pass restore ${ref.out.read}`);
  }
});

interface Damage {
  what: string;
  code: string;
  damage: (img: Uint8Array, g: Layout) => { bytes: Uint8Array; cutAt?: number };
}
const damages: Damage[] = [
  {
    what: "an image cut off in the middle of the blocks",
    code: "SHORT",
    damage: (img, g) => ({
      bytes: img,
      cutAt: g.dataOffset + Math.floor((g.commitOffset - g.dataOffset) / 2 / IMG_SECTOR) * IMG_SECTOR,
    }),
  },
  {
    what: "a flipped bit in the last block",
    code: "E_IMG_CLUSTER_CHECK",
    damage: (img, g) => {
      const b = Uint8Array.from(img);
      b[blockAt(g, g.blockCount - 1).table - 7] ^= 0x10;
      return { bytes: b };
    },
  },
  {
    what: "a bad commit record",
    code: "E_IMG_COMMIT",
    damage: (img, g) => {
      const b = Uint8Array.from(img);
      b[g.commitOffset + C.chainCheck + 1] ^= 0x01;
      return { bytes: b };
    },
  },
  {
    what: "a commit record naming another chain (resealed)",
    code: "E_IMG_CHAIN",
    damage: (img, g) => {
      const b = Uint8Array.from(img),
        v = view(b);
      v.setBigUint64(g.commitOffset + C.chainCheck, v.getBigUint64(g.commitOffset + C.chainCheck, true) ^ 1n, true);
      v.setBigUint64(
        g.commitOffset + C.commitCheck,
        recordCheck(b.subarray(g.commitOffset, g.length), C.commitCheck, SEED.commit),
        true,
      );
      return { bytes: b };
    },
  },
  {
    what: "damaged metadata (in its last sector)",
    code: "E_IMG_META_CHECK",
    damage: (img, g) => {
      const b = Uint8Array.from(img);
      b[g.metaOffset + g.metaBytes - 3] ^= 0x04;
      return { bytes: b };
    },
  },
];

for (const [dir, file] of [
  ["volumes", "fat16-full.img.gz"],
  ["ntfs", "ntfs-4k.img.gz"],
]) {
  t.test(
    `one pass from a damaged stream (${file}): each fails by name, the target keeps the mark, a normal restore finishes it`,
    async (t) => {
      const s = source(dir, file),
        g = s.g;
      t.ok(g.blockCount >= 4, `${g.blockCount} blocks`);
      const reference = twoPass(s, startBytes(s, "blank")).bytes;
      for (const d of damages) {
        const bad = d.damage(s.image, g);
        const target = new RamDevice(g.sectorBytes, startBytes(s, "blank"));
        const stream = new StreamImage(bad.bytes, g.metaOffset, bad.cutAt);
        const out = coreRestore(stream, target, RestoreFlag.onePass | RestoreFlag.readBack);
        t.equal(out.error?.codeName, d.code, `${d.what}: ${out.error?.name}: ${out.error?.message}`);
        t.ok(markedBy(s, target.bytes), `${d.what}: sector 0 is the restore mark`);
        t.ok(out.written > g.sectorBytes, `${d.what}: (${out.written} bytes had been written behind the mark)`);
        finishes(t, s, target.bytes, reference, d.what);
      }
    },
  );
}

t.test("one pass refuses an image file shorter than its header says before writing anything", async (t) => {
  const s = source("volumes", "fat16-full.img.gz"),
    g = s.g;
  const cut = s.image.subarray(0, g.dataOffset + 4 * IMG_SECTOR);
  const start = startBytes(s, "garbage");
  const target = new RamDevice(g.sectorBytes, Uint8Array.from(start));
  const out = coreRestore(new StreamImage(cut, g.metaOffset), target, RestoreFlag.onePass | RestoreFlag.readBack);
  t.equal(out.error?.codeName, "E_IMG_TRUNCATED", out.error?.message ?? "");
  t.ok(Buffer.from(target.bytes).equals(start), "the target is untouched (not even marked)");
});

t.test(
  "api.restore with onePass and full (writes in the background, too): the same result and counts as the default restore onto a blank target",
  async (t) => {
    const s = source("exfat", "exfat-4k.img.gz");
    const garbage = targetFile("api-garbage", startBytes(s, "garbage"));
    t.equal(api.restore(core, s.imageFile, garbage).mode, "compare", "garbage may be something: compared first (10.2)");
    fs.rmSync(garbage);
    const start = startBytes(s, "blank");
    const b = targetFile("api-two", start);
    const two = api.restore(core, s.imageFile, b);
    t.equal(two.mode, "one-pass", "a blank target holds nothing to protect: restored in one pass (10.1)");
    t.equal(two.bytesRead, two.bytesWritten, "read back: exactly what was written, the mark included");
    for (const backgroundWrites of [false, true]) {
      const c = new Core({ backgroundWrites });
      const a = targetFile("api-one", start);
      const one = api.restore(c, s.imageFile, a, { onePass: true, full: true });
      c.dispose();
      t.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), `background writes ${backgroundWrites}: byte-identical`);
      t.same(
        [one.bytesWritten, one.bytesRead, one.clustersWritten, one.verified],
        [two.bytesWritten, two.bytesRead, two.clustersWritten, two.verified],
        `${one.bytesWritten} bytes written, ${one.bytesRead} read, verified`,
      );
      t.equal(api.verify(core, s.imageFile, { against: a }).ok, true);
      fs.rmSync(a);
    }
    fs.rmSync(b);
  },
);

// ---- power cuts on the paths of issue 16 ------------------------------------------------------

/** A target of the source with every `every`th 4 KiB after the metadata overwritten. */
function damagedBytes(s: Source, every: number): Uint8Array {
  const b = Uint8Array.from(s.bytes);
  const g = s.g;
  for (let at = g.metaBytes; at + 4096 <= b.length; at += every * 4096) b.fill(0xa5, at, at + 4096);
  return b;
}

for (const [what, kind, flags] of [
  ["compare-first onto a damaged target", "damaged", RestoreFlag.readBack],
  ["compare-first onto a blank target (every stretch listed)", "blank", RestoreFlag.readBack],
  [
    "one pass, every cluster, onto a blank target",
    "blank",
    RestoreFlag.onePass | RestoreFlag.full | RestoreFlag.readBack,
  ],
] as const) {
  t.test(`power cut after every write (${what}): the normal restore run again finishes it exactly`, async (t) => {
    const s = source("volumes", "fat16-full.img.gz"),
      g = s.g;
    const start = kind === "damaged" ? damagedBytes(s, 7) : startBytes(s, "blank");
    const reference = twoPass(s, start).bytes;
    const base = new RamDevice(g.sectorBytes, Uint8Array.from(start));
    const counting = new FaultDevice(base);
    const whole = coreRestore(new RamDevice(IMG_SECTOR, Uint8Array.from(s.image)), counting, flags);
    t.equal(whole.error, undefined, `${what}: uninterrupted`);
    t.ok(Buffer.from(base.bytes).equals(reference), `${what}: uninterrupted, the reference bytes`);
    const writes = counting.counters.writes;
    t.ok(writes >= 3, `${what}: ${writes} writes`);
    let failures = 0;
    for (let n = 0; n < writes; n++) {
      const ram = new RamDevice(g.sectorBytes, Uint8Array.from(start));
      const fault = new FaultDevice(ram, { powerCutAfterWrites: n, tearSectors: n % 2 });
      const out = coreRestore(new RamDevice(IMG_SECTOR, Uint8Array.from(s.image)), fault, flags);
      if (!(out.error instanceof PowerCutError || (out.error as Error | undefined)?.name === "PowerCutError")) {
        failures++;
        t.fail(`${what}: cut after write ${n}: ${out.error?.message ?? "not cut"}`);
        continue;
      }
      // reboot: the normal restore, from what reached the target
      const again = coreRestore(new RamDevice(IMG_SECTOR, Uint8Array.from(s.image)), ram, RestoreFlag.readBack);
      if (again.error || !Buffer.from(ram.bytes).equals(reference) || again.mismatches) {
        failures++;
        t.fail(
          `${what}: cut after write ${n}: the restore run again did not finish it (${again.error?.message ?? "differs"})`,
        );
      }
    }
    t.equal(failures, 0, `${what}: ${writes} cut points, each finished byte-identical by the restore run again`);
  });
}
