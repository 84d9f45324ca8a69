// The two builds of the core (issue 13 item 3): core.wasm (SIMD, shared memory: what Node runs)
// and core-portable.wasm (no SIMD, no threads, an unshared memory: for wasm3, WAMR's classic
// interpreter, wasm2c). They must compute the same checks bit for bit and write the same images.
// With Node only and the committed fixtures; the binary checks and the second host (wabt's
// interpreter, test/hosts/wabt-interp) need Debian's wabt and skip without it.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import t from "tap";
import * as api from "../host-shim/src/cli/api";
import { Core, CoreBuild, coreBuildFromEnv, coreFile } from "../host-shim/src/native/core";
import { FileDevice, PartitionView } from "../host-shim/src/native/devices";
import { extentOf, fixtures, unpack, writeSparse } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-portable-"));
const cores: Record<CoreBuild, Core> = { simd: new Core({ build: "simd" }), portable: new Core({ build: "portable" }) };
const builds: CoreBuild[] = ["simd", "portable"];
t.teardown(() => {
  for (const b of builds) cores[b].dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** xorshift32: reproducible bytes for a seed. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

t.test("the builds: what each is and what loads it", async (t) => {
  t.equal(cores.simd.build, "simd");
  t.equal(cores.portable.build, "portable");
  t.equal(cores.portable.backgroundWrites, false, "the portable core has no writer thread");
  t.equal(new Core({ build: "portable", backgroundWrites: true }).backgroundWrites, false, "not even when asked for");
  t.equal(coreBuildFromEnv({}), "simd", "default: the SIMD build");
  t.equal(coreBuildFromEnv({ CLUSTERBACK_CORE: "portable" }), "portable");
  t.throws(() => coreBuildFromEnv({ CLUSTERBACK_CORE: "wasm3" }), /CLUSTERBACK_CORE=wasm3/);
  t.equal(cores.portable.memoryBytes, 64 * 65536, "64 pages, as the SIMD build");
  // the memory each build imports: shared only in core.wasm
  const importOf = (b: CoreBuild) => WebAssembly.Module.imports(new WebAssembly.Module(fs.readFileSync(coreFile(b))));
  t.same(importOf("portable"), importOf("simd"), "the same imports (env.memory, env.abort, dev.read/write/flush)");
  t.throws(
    () =>
      new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(coreFile("portable"))), {
        env: { memory: new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true }), abort: () => 0 },
        dev: { read: () => 0, write: () => 0, flush: () => 0 },
      }),
    "the portable core refuses a shared memory: it imports an unshared one",
  );
});

t.test("CBH: both builds give the same checks bit for bit", async (t) => {
  const seeds = [0, 1, 2, 0x7fffffff, 0xffffffff, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1];
  for (let i = 0; i < 56; i++) seeds.push(Math.floor(Math.random() * 2 ** 53));
  let compared = 0,
    differing = 0;
  const seen = new Set<string>();
  for (let len = 64; len <= 512; len += 64) {
    for (const seed of seeds) {
      for (const fill of ["random", "zero", "ones"]) {
        const bytes =
          fill === "random"
            ? randomBytes(len, (seed % 1e9) + len)
            : new Uint8Array(len).fill(fill === "zero" ? 0 : 0xff);
        const a = cores.simd.checkOf(bytes, seed),
          b = cores.portable.checkOf(bytes, seed);
        compared++;
        if (a !== b) {
          differing++;
          if (differing < 5) t.fail(`len ${len} seed ${seed} ${fill}: simd ${a}, portable ${b}`);
        }
        seen.add(a);
      }
    }
  }
  t.equal(differing, 0, `${compared} checks compared, none differs`);
  t.ok(seen.size > compared * 0.99, `the checks differ from one input to the next (${seen.size} distinct)`);
  // one flipped bit anywhere changes both builds' check the same way
  const base = randomBytes(512, 7);
  for (let bit = 0; bit < 512 * 8; bit += 37) {
    const m = Uint8Array.from(base);
    m[bit >> 3] ^= 1 << (bit & 7);
    const a = cores.simd.checkOf(m, 5),
      b = cores.portable.checkOf(m, 5);
    if (a !== b || a === cores.simd.checkOf(base, 5)) t.fail(`bit ${bit}: simd ${a}, portable ${b}`);
  }
});

// Every committed fixture: its partitions (volume fixtures), the exFAT and NTFS volumes.
interface Source {
  label: string;
  unpack(): string;
  partition?: number;
  fsType: string;
}
const sources: Source[] = [];
for (const f of fixtures) {
  for (const p of f.partitions)
    sources.push({
      label: `${f.file}${p.number ? ` partition ${p.number}` : ""}`,
      unpack: () => unpack(f, tmp),
      partition: p.number ?? undefined,
      fsType: p.fsType,
    });
}
for (const [dir, fsType] of [
  ["exfat", "exFAT"],
  ["ntfs", "NTFS"],
]) {
  const d = path.join(__dirname, "fixtures", dir);
  for (const file of fs
    .readdirSync(d)
    .filter((x) => x.endsWith(".img.gz"))
    .sort()) {
    sources.push({
      label: `${dir}/${file}`,
      fsType,
      unpack: () => {
        const out = path.join(tmp, file.replace(/\.gz$/, ""));
        writeSparse(out, zlib.gunzipSync(fs.readFileSync(path.join(d, file))));
        return out;
      },
    });
  }
}
const created = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));

/** The partition's extent in its file; an exFAT volume's sector size is its BytesPerSectorShift (byte 108), not a BPB field. */
function extentOfSource(s: Source, bytes: Uint8Array): { sectorSize: number; start: number; sectors: number } {
  if (s.fsType === "exFAT" && !s.partition) {
    const ss = 2 ** bytes[108];
    return { sectorSize: ss, start: 0, sectors: bytes.length / ss };
  }
  return extentOf(cores.simd, bytes, { number: s.partition ?? null, fsType: s.fsType, files: {} });
}

t.test("whole images: each build's backup, verify and restore agree with the other's", async (t) => {
  t.ok(sources.length >= 18, `${sources.length} volumes`);
  for (const s of sources) {
    t.test(s.label, async (t) => {
      const src = s.unpack();
      const opts = s.partition ? { partition: s.partition } : {};
      const images: Record<string, Buffer> = {};
      for (const b of builds) {
        const image = path.join(tmp, `${b}.cbi`);
        const r = api.backup(cores[b], src, { ...opts, image, overwrite: true, created, name: "conformance" });
        t.equal(r.fsType, s.fsType, `${b}: ${r.fsType}, ${r.imageClusters} clusters`);
        images[b] = fs.readFileSync(image);
      }
      t.ok(images.simd.equals(images.portable), `the images are byte-identical (${images.simd.length} bytes)`);
      const original = fs.readFileSync(src);
      const ext = extentOfSource(s, original);
      const restored: Record<string, Buffer> = {};
      const results: Record<string, unknown> = {};
      const verified: Record<string, unknown> = {};
      for (const b of builds) {
        const other = path.join(tmp, `${b === "simd" ? "portable" : "simd"}.cbi`);
        const { seconds: _s, image: _i, ...v } = api.verify(cores[b], other, { ...opts, against: src });
        verified[b] = v;
        // ntfs-pagefile: the page file is left out of the image, so its clusters differ from the volume's
        if (s.label.includes("pagefile"))
          t.ok(
            v.mismatchedClusters > 0,
            `${b}: the other build's image differs from the volume in the left-out page file only (${v.mismatchedClusters} clusters)`,
          );
        else t.ok(v.ok, `${b} verifies the other build's image against the volume`);
        // the target: the same disk with the partition zeroed, or a zero-filled partition file
        const target = path.join(tmp, `${b}-target.img`);
        const blank = Buffer.from(original);
        blank.fill(0, ext.start * ext.sectorSize, (ext.start + ext.sectors) * ext.sectorSize);
        writeSparse(target, blank);
        const { seconds, image: _image, target: _target, ...r } = api.restore(cores[b], other, target, opts); // the paths differ by design
        t.ok(seconds >= 0 && r.verified, `${b} restores the other build's image, read back and verified`);
        results[b] = r;
        restored[b] = fs.readFileSync(target);
        fs.rmSync(target);
      }
      t.same(verified.portable, verified.simd, "the same verify results");
      t.same(results.portable, results.simd, "the same restore results");
      t.ok(restored.simd.equals(restored.portable), "the restored disks are byte-identical");
      fs.rmSync(src);
    });
  }
});

// --- the binary: what a runtime without SIMD or threads sees --------------------------------

const wabt = spawnSync("wasm-validate", ["--version"]).status === 0;
const noWabt = wabt ? false : "Debian's wabt is not installed (apt-get install wabt; .ci/run installs it)";

/** The memory import's limits flags (0x01 has a maximum, 0x02 shared), read from the import section. */
function memoryImportFlags(wasm: Uint8Array): number {
  let p = 8;
  const u = () => {
    let r = 0,
      s = 0,
      b: number;
    do {
      b = wasm[p++];
      r += (b & 0x7f) * 2 ** s;
      s += 7;
    } while (b & 0x80);
    return r;
  };
  const name = () => {
    const n = u();
    p += n;
  };
  while (p < wasm.length) {
    const id = wasm[p++],
      size = u(),
      end = p + size;
    if (id === 2) {
      for (let n = u(); n > 0; n--) {
        name();
        name();
        const kind = wasm[p++];
        if (kind === 0) u();
        else if (kind === 1) {
          p++;
          const f = u();
          u();
          if (f & 1) u();
        } else if (kind === 2) {
          const f = u();
          u();
          if (f & 1) u();
          return f;
        } else if (kind === 3) {
          p += 2;
        }
      }
    }
    p = end;
  }
  throw new Error("no memory import");
}

t.test("core-portable.wasm: no shared memory, no SIMD, no atomics", async (t) => {
  const portable = fs.readFileSync(coreFile("portable")),
    simd = fs.readFileSync(coreFile("simd"));
  t.equal(memoryImportFlags(portable), 0x01, "the portable core imports an unshared memory with a maximum");
  t.equal(memoryImportFlags(simd), 0x03, "core.wasm imports a shared one");
  const wat = fs.readFileSync(coreFile("portable").replace(/\.wasm$/, ".wat"), "utf8");
  t.notMatch(
    wat,
    /\bv128\b|\bi(8x16|16x8|32x4|64x2)\.|\bf(32x4|64x2)\./,
    "the text form has no SIMD type or instruction",
  );
  t.notMatch(wat, /\.atomic\.|memory\.atomic|atomic\.fence|\bshared\b/, "nor any atomic instruction or shared memory");
});

t.test("wabt validates the portable core without SIMD and threads", { skip: noWabt }, async (t) => {
  const validate = (file: string, ...flags: string[]) =>
    spawnSync("wasm-validate", [...flags, file], { encoding: "utf8" });
  const p = validate(coreFile("portable"), "--disable-simd");
  t.equal(p.status, 0, `core-portable.wasm validates with SIMD and threads disabled ${p.stderr}`);
  // the same validator refuses core.wasm without threads (its shared memory) and without SIMD: the flags bite
  const noThreads = validate(coreFile("simd"));
  t.not(noThreads.status, 0, "core.wasm is refused without threads");
  t.match(noThreads.stderr, /shared/, "for its shared memory");
  const noSimd = validate(coreFile("simd"), "--enable-threads", "--disable-simd");
  t.not(noSimd.status, 0, "core.wasm is refused without SIMD");
  t.equal(validate(coreFile("simd"), "--enable-threads").status, 0, "and validates with both");
  const counts = spawnSync("wasm-opcodecnt", [coreFile("portable")], { encoding: "utf8" });
  if (counts.status === 0) {
    t.notMatch(counts.stdout, /v128|i32x4|i8x16|atomic/, "wasm-opcodecnt counts no SIMD or atomic opcode");
    t.match(counts.stdout, /i32\.load/, "(and does count the core's opcodes)");
  }
});

// --- a second host: wabt's interpreter (test/hosts/wabt-interp/host.cc) ----------------------

function buildInterp(): string | undefined {
  const r = spawnSync("bash", [path.join(__dirname, "hosts", "wabt-interp", "build.sh"), path.join(tmp, "cb-interp")], {
    encoding: "utf8",
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
const interp = wabt ? buildInterp() : undefined;
const noInterp = interp ? false : "the wabt interpreter host could not be built (needs Debian's wabt and g++)";

function runInterp(wasm: string, args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(interp!, [wasm, ...args], { encoding: "utf8", maxBuffer: 1 << 24 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function slotsHex(core: Core): string {
  return Buffer.from(core.results().buffer, core.results().byteOffset, 512 * 8).toString("hex");
}

t.test("wabt's interpreter (no SIMD, no threads) runs the portable core", { skip: noInterp }, async (t) => {
  const refused = runInterp(coreFile("simd"), ["verify", "/dev/null"]);
  t.equal(refused.status, 3, "the interpreter refuses core.wasm");
  t.match(refused.err, /shared|simd|SIMD|v128/i, `(${refused.err.trim().split("\n")[0]})`);
  const picks = sources.filter((s) =>
    /fat12-floppy|fat16-32k|fat32-4kn|disk-mbr.* partition 5|exfat-4k|ntfs-4k\.img/.test(s.label),
  );
  t.equal(picks.length, 6);
  for (const s of picks) {
    t.test(s.label, async (t) => {
      const src = s.unpack();
      const opts = s.partition ? { partition: s.partition } : {};
      const image = path.join(tmp, "interp.cbi");
      api.backup(cores.simd, src, { ...opts, image, overwrite: true, created, name: "interp" });
      const original = fs.readFileSync(src);
      const ext = extentOfSource(s, original);
      const offset = String(ext.start * ext.sectorSize),
        ss = String(ext.sectorSize),
        n = String(ext.sectors);
      // the Node host, the same job through the same calls, with each build
      const node = (b: CoreBuild, restoreTo?: string): string => {
        const core = cores[b];
        const img = new FileDevice(image),
          whole = new FileDevice(restoreTo ?? src, { sectorSize: ext.sectorSize, writable: !!restoreTo });
        const part = new PartitionView(whole, ext.start, ext.sectors);
        const hi = core.attach(img),
          ht = core.attach(part);
        try {
          core.check(
            restoreTo
              ? core.exports.restoreBegin(hi, img.sectorCount, ht, ext.sectorSize, ext.sectors, 0)
              : core.exports.verifyBegin(hi, img.sectorCount, ht, ext.sectorSize, ext.sectors),
          );
          core.run({ budget: 8 << 20 });
          return slotsHex(core);
        } finally {
          core.detach(hi);
          core.detach(ht);
          img.close();
          whole.close();
        }
      };
      const v = runInterp(coreFile("portable"), ["verify", image, src, offset, ss, n]);
      t.equal(v.status, 0, `verify --against in the interpreter: ${v.out.split("\n")[0]} ${v.err}`);
      const slots = v.out.split("\n")[1] ?? "";
      t.equal(slots, node("portable"), "its 512 result slots equal the Node host's (portable core)");
      t.equal(slots, node("simd"), "and the SIMD core's");
      const plain = runInterp(coreFile("portable"), ["verify", image]);
      t.equal(plain.status, 0, "verify of the image alone");
      // a flipped byte in the stored clusters: the interpreter's verify fails as Node's does
      const bad = Buffer.from(fs.readFileSync(image));
      bad[bad.length - 4096 - 100] ^= 0x40;
      fs.writeFileSync(path.join(tmp, "bad.cbi"), bad);
      const badRun = runInterp(coreFile("portable"), ["verify", path.join(tmp, "bad.cbi")]);
      t.equal(badRun.status, 2, `a damaged image fails: ${badRun.out.trim()}`);
      t.throws(() => api.verify(cores.portable, path.join(tmp, "bad.cbi")), "as it does in Node");
      // restore into a zeroed partition: the same bytes and results as the Node host's restore
      const targets: Record<string, string> = {};
      for (const who of ["interp", "node"]) {
        targets[who] = path.join(tmp, `${who}-target.img`);
        const blank = Buffer.from(original);
        blank.fill(0, ext.start * ext.sectorSize, (ext.start + ext.sectors) * ext.sectorSize);
        writeSparse(targets[who], blank);
      }
      const r = runInterp(coreFile("portable"), ["restore", image, targets.interp, offset, ss, n]);
      t.equal(r.status, 0, `restore in the interpreter: ${r.out.split("\n")[0]} ${r.err}`);
      t.equal(r.out.split("\n")[1], node("portable", targets.node), "the restore's result slots equal the Node host's");
      t.ok(
        fs.readFileSync(targets.interp).equals(fs.readFileSync(targets.node)),
        "the restored disks are byte-identical",
      );
      t.ok(
        api.verify(cores.simd, image, { ...opts, against: targets.interp }).ok,
        "and the SIMD core verifies the interpreter's restore",
      );
      for (const f of [src, image, targets.interp, targets.node]) fs.rmSync(f);
    });
  }
});

t.test("the interpreter host takes every number of the contract from the generated header", async (t) => {
  const cc = fs.readFileSync(path.join(__dirname, "hosts", "wabt-interp", "host.cc"), "utf8");
  t.match(cc, /#include "clusterback_core\.h"/, "it includes as-core/include/clusterback_core.h");
  t.notMatch(
    cc,
    /return -\d|0xFFFFFFFF|\b512 \* 8\b|Limits\(\d/i,
    "no device code, handle, memory size or slot count written out",
  );
});
