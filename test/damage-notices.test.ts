// The damage notices (issue 12, item 9): a chain that loops, two chains that share clusters, a
// directory that is its own ancestor, and a garbage FSInfo sector, each crafted by FAT and
// directory-entry edits on the committed FAT12, FAT16 and FAT32 fixtures. The real CLI's `info`
// and `backup --json` name each (what and where), exit 0, and the image restores the damage
// byte for byte; fsck.fat -n, when installed, sees the same damage (the oracle). Then the caps
// ("and N more"), the bounds on a hostile volume (it never hangs), and notices never failing a
// backup.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import { fatDamageNotices } from "../firmware-module/src/ops/damage";
import { DeviceCode, DeviceError } from "../firmware-module/src/ops/errors";
import { FatEntry, FatReader } from "../firmware-module/src/ops/fat-reader";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { RamDevice } from "../host-shim/src/native/devices";
import { fixtureDir, mustMatch } from "./helpers/fixtures";

const cli = path.join(__dirname, "..", "dist", "host-shim", "src", "cli", "cli.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-damage-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const haveFsck = spawnSync("sh", ["-c", "command -v fsck.fat"]).status === 0;
const core = new Core();

const BASES = ["fat12-floppy.img.gz", "fat16-2k.img.gz", "fat32-512.img.gz"];
const FONTS = "\\Firmware\\Fonts and Forms",
  FONT = `${FONTS}\\Helvetica Bold Oblique.ttf`,
  CONF = "\\Settings.d\\network.conf";

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A fixture volume in memory with the FAT and directory-entry edits the cases make. */
class Vol {
  readonly dv: DataView;
  readonly reader: FatReader;
  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.reader = new FatReader(new RamDevice(this.sectorSize, bytes), core); // read before any edit: lookups see the clean tree
  }
  static of(base: string): Vol {
    return new Vol(new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(fixtureDir, base)))));
  }
  get sectorSize() {
    return this.bytes[11] | (this.bytes[12] << 8);
  }
  get g() {
    return this.reader.tables.geometry;
  }
  get fat32() {
    return this.g.fsType === 3;
  }
  entry(p: string): FatEntry {
    const e = this.reader.lookup(p);
    if (!e) throw new Error(`${p} not found`);
    return e;
  }
  clusters(p: string): number[] {
    return this.reader
      .chainRuns(this.entry(p).firstCluster)
      .flatMap((r) => Array.from({ length: r.length }, (_, i) => r.start + i));
  }
  /** Sets a FAT entry in every copy. */
  setFat(cluster: number, value: number): void {
    const g = this.g;
    for (let copy = 0; copy < g.fatCount; copy++) {
      const base = (g.reservedSectors + copy * g.fatSectors) * g.bytesPerSector;
      if (g.fsType === 3)
        this.dv.setUint32(base + cluster * 4, (this.dv.getUint32(base + cluster * 4, true) & 0xf0000000) | value, true);
      else if (g.fsType === 2) this.dv.setUint16(base + cluster * 2, value, true);
      else {
        const at = base + cluster + (cluster >> 1),
          w = this.dv.getUint16(at, true);
        this.dv.setUint16(at, cluster & 1 ? (w & 0x000f) | (value << 4) : (w & 0xf000) | value, true);
      }
    }
  }
  /** Byte offset of a file's or directory's short entry: its index in its parent, through the parent's chain. */
  dirEntry(p: string): number {
    const e = this.entry(p),
      g = this.g,
      parent = p.slice(0, p.lastIndexOf("\\")) || "\\";
    const at = e.entryIndex! * 32;
    if (parent === "\\" && !this.fat32) return (g.reservedSectors + g.fatCount * g.fatSectors) * g.bytesPerSector + at;
    const chain =
      parent === "\\"
        ? this.reader
            .chainRuns(this.rootCluster)
            .flatMap((r) => Array.from({ length: r.length }, (_, i) => r.start + i))
        : this.clusters(parent);
    return (
      g.firstDataSector * g.bytesPerSector +
      (chain[Math.floor(at / g.clusterBytes)] - 2) * g.clusterBytes +
      (at % g.clusterBytes)
    );
  }
  get rootCluster(): number {
    return this.fat32 ? this.dv.getUint32(44, true) : 0;
  }
  setFirstCluster(p: string, cluster: number): void {
    const at = this.dirEntry(p);
    this.dv.setUint16(at + 26, cluster & 0xffff, true);
    if (this.fat32) this.dv.setUint16(at + 20, cluster >>> 16, true);
  }
  /** Turns a file's entry into a subdirectory's (size 0) starting at `cluster`. */
  makeDirectory(p: string, cluster: number): void {
    const at = this.dirEntry(p);
    this.bytes[at + 11] = 0x10;
    this.dv.setUint32(at + 28, 0, true);
    this.setFirstCluster(p, cluster);
  }
  get fsInfoAt(): number {
    return this.dv.getUint16(48, true) * this.sectorSize;
  }
  /** Zeros every byte a restore does not write (free clusters, the tail), so that a restore onto zeros must give back the whole volume. */
  zeroUnstored(): void {
    const keep = mustMatch(core, this.bytes, this.sectorSize);
    let from = 0;
    for (const [s, e] of keep) {
      if (s > from) this.bytes.fill(0, from, s);
      from = Math.max(from, e);
    }
    this.bytes.fill(0, from);
  }
}

interface Want {
  /** Every notice info and backup must give, in order. */
  notices: string[];
  /** What fsck.fat -n must say about the same volume. */
  fsck: RegExp[];
}
interface Case {
  name: string;
  /** Only on this FAT type (1, 2, 3: FAT12, FAT16, FAT32). */
  only?: number;
  damage(v: Vol): Want;
}
const hex8 = (n: number) => "0x" + n.toString(16).toUpperCase().padStart(8, "0");
const loopNotice = (p: string, c: number[]) =>
  `chain of ${p} loops back to cluster ${c[0]} after ${c.length} cluster${c.length === 1 ? "" : "s"} (cluster ${c[c.length - 1]} points back to it)`;

const cases: Case[] = [
  {
    name: "a file's chain that loops",
    damage: (v) => {
      const c = v.clusters(FONT),
        last = c[c.length - 1];
      v.setFat(last, c[2]);
      return {
        notices: [
          `chain of ${FONT} loops back to cluster ${c[2]} after ${c.length} clusters (cluster ${last} points back to it)`,
        ],
        fsck: [/\/Firmware\/Fonts and Forms\/Helvetica Bold Oblique\.ttf\n +Circular cluster chain/],
      };
    },
  },
  {
    name: "a directory's chain that loops",
    damage: (v) => {
      const c = v.clusters("\\Jobs");
      v.setFat(c[c.length - 1], c[0]);
      return { notices: [loopNotice("directory \\Jobs", c)], fsck: [/\/Jobs\n +Circular cluster chain/] };
    },
  },
  {
    name: "two files whose chains share clusters",
    damage: (v) => {
      // README.TXT has network.conf's size: both chains are whole; README's own chain is left allocated (lost)
      const conf = v.clusters(CONF),
        n = conf.length;
      v.setFirstCluster("\\README.TXT", conf[0]);
      return {
        notices: [`\\README.TXT and ${CONF} share cluster ${conf[0]}${n > 1 ? ` (${n} clusters in common)` : ""}`],
        fsck: [/\/README\.TXT +and\n\/Settings\.d\/network\.conf\n +share clusters/],
      };
    },
  },
  {
    name: "a chain that runs into another file's",
    damage: (v) => {
      const readme = v.clusters("\\README.TXT"),
        font = v.clusters(FONT);
      v.setFat(readme[readme.length - 1], font[5]);
      // fsck.fat cuts README.TXT to its size first, and then finds the font's chain cut short
      return {
        notices: [`\\README.TXT and ${FONT} share cluster ${font[5]} (${font.length - 5} clusters in common)`],
        fsck: [/\/README\.TXT\n +File size is 700 bytes, cluster chain length is > /],
      };
    },
  },
  {
    name: "a directory that is its own parent",
    damage: (v) => {
      const fw = v.entry("\\Firmware").firstCluster;
      v.setFirstCluster(FONTS, fw);
      return {
        notices: [`directory ${FONTS} is its own ancestor \\Firmware (cluster ${fw})`],
        fsck: [/\/Firmware\/Fonts and Forms\n Start does point to containing directory\./],
      };
    },
  },
  {
    name: "a directory that leads back to the root",
    damage: (v) => {
      v.setFirstCluster(FONTS, v.rootCluster); // FAT12/16: cluster 0, as ".." names the root
      return {
        notices: [`directory ${FONTS} is its own ancestor \\ (cluster ${v.rootCluster})`],
        fsck: [
          v.fat32
            ? /\/ +and\n\/Firmware\/Fonts and Forms\n +share clusters\.\n +Truncating second to 0 bytes because first is FAT32 root dir/
            : /\/Firmware\/Fonts and Forms\n Start does point to root directory/,
        ],
      };
    },
  },
  {
    name: "a file made a directory that leads back to its grandparent",
    damage: (v) => {
      const fw = v.entry("\\Firmware").firstCluster;
      v.makeDirectory(FONT, fw);
      return {
        notices: [`directory ${FONT} is its own ancestor \\Firmware (cluster ${fw})`],
        fsck: [/Helvetica Bold Oblique\.ttf\n Start does point to containing directory's parent/],
      };
    },
  },
  {
    name: "an FSInfo sector with garbage signatures",
    only: 3,
    damage: (v) => {
      v.dv.setUint32(v.fsInfoAt, 0xdeadbeef, true);
      v.dv.setUint32(v.fsInfoAt + 484, 0x00c0ffee, true);
      return {
        notices: [
          `FSInfo sector 1 has no valid signatures (lead 0xDEADBEEF, not 0x41615252; struct 0x00C0FFEE, not 0x61417272): its free count ${hex8(v.dv.getUint32(v.fsInfoAt + 488, true))} is ignored`,
        ],
        fsck: [
          /FSINFO sector has bad magic number\(s\):\n +Offset 0: 0xdeadbeef != expected 0x41615252\n +Offset 484: 0x00c0ffee != expected 0x61417272/,
        ],
      };
    },
  },
  {
    name: "an FSInfo sector with one bad signature",
    only: 3,
    damage: (v) => {
      v.dv.setUint32(v.fsInfoAt + 484, 0x61417273, true);
      return {
        notices: [
          `FSInfo sector 1 has a bad signature (struct 0x61417273, not 0x61417272): its free count ${hex8(v.dv.getUint32(v.fsInfoAt + 488, true))} is ignored`,
        ],
        fsck: [/FSINFO sector has bad magic number\(s\):\n +Offset 484: 0x61417273 != expected 0x61417272/],
      };
    },
  },
  {
    name: "an FSInfo free count larger than the cluster count",
    only: 3,
    damage: (v) => {
      const free = v.dv.getUint32(v.fsInfoAt + 488, true),
        huge = v.g.clusterCount + 1000;
      v.dv.setUint32(v.fsInfoAt + 488, huge, true);
      return {
        notices: [
          `FSInfo sector 1 says ${huge} clusters are free, more than the volume's ${v.g.clusterCount}: its free count is ignored (the FAT has ${free} free)`,
        ],
        fsck: [new RegExp(`Free cluster summary wrong \\(${huge} vs\\. really ${free}\\)`)],
      };
    },
  },
  {
    name: "all at once: a loop, a cross-link, a directory loop (and a bad FSInfo on FAT32)",
    damage: (v) => {
      const conf = v.clusters(CONF),
        fw = v.entry("\\Firmware").firstCluster;
      const job = v.reader.list("\\Jobs").filter((e) => !e.isDirectory)[0],
        jc = v.clusters(job.path);
      v.setFat(jc[jc.length - 1], jc[0]);
      v.setFirstCluster("\\README.TXT", conf[0]);
      v.setFirstCluster(FONTS, fw);
      const notices = [
        loopNotice(job.path, jc),
        `\\README.TXT and ${CONF} share cluster ${conf[0]}${conf.length > 1 ? ` (${conf.length} clusters in common)` : ""}`,
        `directory ${FONTS} is its own ancestor \\Firmware (cluster ${fw})`,
      ];
      const fsck = [/Circular cluster chain/, /share clusters/, /Start does point to containing directory\./];
      if (v.fat32) {
        v.dv.setUint32(v.fsInfoAt, 0, true);
        notices.push(
          `FSInfo sector 1 has a bad signature (lead 0x00000000, not 0x41615252): its free count ${hex8(v.dv.getUint32(v.fsInfoAt + 488, true))} is ignored`,
        );
        fsck.push(/FSINFO sector has bad magic/);
      }
      return { notices, fsck };
    },
  },
  {
    name: "more than three of each kind: three named, the rest counted",
    only: 2,
    damage: (v) => {
      const jobs = v.reader
        .list("\\Jobs")
        .filter((e) => !e.isDirectory)
        .map((e) => e.path);
      const jobsAt = v.entry("\\Jobs").firstCluster,
        conf = v.entry(CONF).firstCluster;
      const chains = jobs.map((p) => v.clusters(p));
      const [loops, links, dirs] = [jobs.slice(0, 5), jobs.slice(5, 10), jobs.slice(10, 15)];
      loops.forEach((p, i) => v.setFat(chains[i][chains[i].length - 1], chains[i][0]));
      for (const p of links) v.setFirstCluster(p, conf); // the first of them claims it; the other four and network.conf meet it
      for (const p of dirs) v.makeDirectory(p, jobsAt);
      return {
        notices: [
          ...loops.slice(0, 3).map((p, i) => loopNotice(p, chains[i])),
          "and 2 more chains loop back",
          `${links[1]}, ${links[0]}, ${links[2]} and 3 other chains share cluster ${conf}`,
          `${links[2]}, ${links[0]}, ${links[1]} and 3 other chains share cluster ${conf}`,
          `${links[3]}, ${links[0]}, ${links[1]} and 3 other chains share cluster ${conf}`,
          "and 2 more chains share clusters",
          ...dirs.slice(0, 3).map((p) => `directory ${p} is its own ancestor \\Jobs (cluster ${jobsAt})`),
          "and 2 more directories are their own ancestors",
        ],
        fsck: [/Circular cluster chain/, /share clusters/, /Start does point to containing directory\./],
      };
    },
  },
];

for (const base of BASES) {
  t.test(base, async (t) => {
    const clean = Vol.of(base);
    t.same(
      fatDamageNotices(core, new RamDevice(clean.sectorSize, clean.bytes)),
      [],
      "the clean fixture: nothing to notice",
    );
    for (const c of cases) {
      if (c.only && c.only !== clean.g.fsType) continue;
      const v = new Vol(clean.bytes.slice());
      const want = c.damage(v);
      v.zeroUnstored();
      await t.test(c.name, async (t) => {
        const notices = damagedRoundTrip(
          t,
          v.bytes,
          `${base.replace(/\.img\.gz$/, "")}-${cases.indexOf(c)}`,
          want.fsck,
        );
        t.same(notices, want.notices, "the notices");
      });
    }
  });
}

/**
 * info and backup --json through the CLI (exit 0, the same notices from both), a restore onto
 * zeros that gives back every byte, and fsck.fat -n's word on the volume; returns the notices.
 */
function damagedRoundTrip(t: Tap.Test, bytes: Uint8Array, name: string, fsck: RegExp[]): string[] {
  const src = path.join(tmp, `${name}.img`),
    img = path.join(tmp, `${name}.cbi`),
    dst = path.join(tmp, `${name}.out`);
  fs.writeFileSync(src, bytes);
  let r = run("info", src);
  t.equal(r.code, 0, `info exits 0 ${r.err}`);
  const notices = r.out
    .split("\n")
    .filter((l) => l.startsWith("notice: "))
    .map((l) => l.slice(8));
  r = run("backup", src, "--image", img, "--json");
  t.equal(r.code, 0, `backup exits 0 ${r.err}`);
  const b = JSON.parse(r.out);
  t.equal(b.ok, true, "backup --json: ok");
  t.same(b.notices, notices, "backup gives the notices info gives");
  fs.writeFileSync(dst, Buffer.alloc(bytes.length));
  api.restore(core, img, dst);
  t.ok(
    fs.readFileSync(dst).equals(Buffer.from(bytes)),
    "restored onto zeros byte for byte: the damage is imaged exactly",
  );
  if (haveFsck && fsck.length > 0) {
    const f = spawnSync("fsck.fat", ["-n", src], { encoding: "utf8" });
    const out = ((f.stdout ?? "") + (f.stderr ?? "")).split(src).join("VOLUME");
    t.not(f.status, 0, "fsck.fat -n finds damage too");
    for (const re of fsck) t.match(out, re, `fsck.fat -n says ${re}`);
  }
  for (const f of [src, img, dst]) fs.rmSync(f, { force: true });
  return notices;
}

// ---- hostile volumes: the walk is bounded, a backup never fails for a notice ----

/**
 * Every FAT entry rewritten: one cycle through all clusters, or a seeded random successor for
 * each (chains that merge and loop everywhere). FSInfo's free count follows (none free), so
 * that the notices are the walk's alone.
 */
function scrambleFat(v: Vol, kind: "cycle" | "random"): void {
  const max = v.g.clusterCount + 1;
  let seed = 0x9e3779b9;
  for (let c = 2; c <= max; c++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    v.setFat(c, kind === "cycle" ? (c === max ? 2 : c + 1) : 2 + (seed % (max - 1)));
  }
  if (v.fat32) v.dv.setUint32(v.fsInfoAt + 488, 0, true);
}

for (const base of BASES) {
  for (const kind of ["cycle", "random"] as const) {
    t.test(
      `${base}: a FAT that is all ${kind === "cycle" ? "one cycle" : "random links"}: bounded, notices capped, imaged exactly`,
      async (t) => {
        const v = Vol.of(base);
        scrambleFat(v, kind);
        v.zeroUnstored();
        const started = Date.now();
        const direct = fatDamageNotices(core, new RamDevice(v.sectorSize, v.bytes));
        const ms = Date.now() - started;
        t.ok(ms < 20_000, `the walk ends (${ms} ms)`);
        t.ok(direct.length > 0 && direct.length <= 3 * 4, `${direct.length} notices: ${direct.join(" | ")}`);
        for (const kind of [/^chain of /, / share cluster /, / is its own ancestor /]) {
          t.ok(direct.filter((n) => kind.test(n)).length <= 3, `at most 3 named of ${kind}`);
        }
        if (base === BASES[0]) {
          // through the CLI once per kind (fsck.fat takes half a minute over a cycle of every cluster: not asked)
          t.same(damagedRoundTrip(t, v.bytes, `${base}-${kind}`, []), direct, "the CLI gives those notices");
          return;
        }
        const src = path.join(tmp, `${base}-${kind}.img`),
          img = path.join(tmp, `${base}-${kind}.cbi`),
          dst = path.join(tmp, `${base}-${kind}.out`);
        fs.writeFileSync(src, v.bytes);
        t.same(api.info(core, src).volume?.notices, direct, "info gives those notices");
        t.same(api.backup(core, src, { image: img }).notices, direct, "backup gives them and succeeds");
        fs.writeFileSync(dst, Buffer.alloc(v.bytes.length));
        api.restore(core, img, dst);
        t.ok(fs.readFileSync(dst).equals(Buffer.from(v.bytes)), "restored byte for byte");
        for (const f of [src, img, dst]) fs.rmSync(f, { force: true });
      },
    );
  }
}

t.test("the bounds: steps, entries, records held; each stop is told, never thrown", async (t) => {
  const clean = Vol.of("fat32-512.img.gz"),
    dev = new RamDevice(clean.sectorSize, clean.bytes);
  t.same(fatDamageNotices(core, dev, { maxSteps: 5000 }), [
    "the check of the directory tree for damage stopped after 5000 steps (FAT and directory entries read): more damage may be left unlisted",
  ]);
  t.same(fatDamageNotices(core, dev, { maxEntries: 5 }), [
    "the check of the directory tree for damage stopped after 5 entries walked, in \\Jobs: more damage may be left unlisted",
  ]);
  t.same(fatDamageNotices(core, dev, { maxHeld: 10 }), [
    "the check of the directory tree for damage stopped after more than 10 directory entries held at once, in \\Jobs: more damage may be left unlisted",
  ]);
  // a loop met again and again: every job points into the font's chain, which loops; the step bound ends it
  const v = new Vol(clean.bytes.slice());
  const font = v.clusters(FONT);
  v.setFat(font[font.length - 1], font[0]);
  for (const job of v.reader.list("\\Jobs").filter((e) => !e.isDirectory)) v.setFirstCluster(job.path, font[1]);
  const d = new RamDevice(v.sectorSize, v.bytes);
  const all = fatDamageNotices(core, d);
  t.match(
    all,
    [
      /^chain of .*Helvetica Bold Oblique\.ttf loops back/,
      /^chain of \\Jobs\\/,
      /^chain of \\Jobs\\/,
      /^and \d+ more chains loop back$/,
    ],
    `the loops, capped: ${all.join(" | ")}`,
  );
  const bounded = fatDamageNotices(core, d, { maxSteps: 2000 });
  t.match(
    bounded[bounded.length - 1],
    /stopped after 2000 steps/,
    "a small bound stops it early, with what it found so far",
  );
});

t.test("a volume whose FAT cannot be read: a notice, not an error", async (t) => {
  const clean = Vol.of("fat16-2k.img.gz"),
    g = clean.g;
  const inner = new RamDevice(clean.sectorSize, clean.bytes);
  const failing = {
    sectorSize: inner.sectorSize,
    sectorCount: inner.sectorCount,
    name: "failing",
    read(lba: number, n: number, dst: Uint8Array, off: number) {
      if (lba < g.reservedSectors + g.fatSectors && lba + n > g.reservedSectors)
        throw new DeviceError(DeviceCode.io, `failing: read error at LBA ${lba}`);
      inner.read(lba, n, dst, off);
    },
    write() {
      throw new Error("not written");
    },
    flush() {},
    close() {},
  };
  const notices = fatDamageNotices(core, failing);
  t.match(notices, [/^the directory tree was not checked for damage: failing: read error at LBA \d+$/]);
});
