// Issue 14's proof that docs/host-api.md and docs/core-abi.md suffice: a second native host,
// written from those documents alone (test/hosts/qjs-ng/host.js: plain JavaScript, QuickJS-ng,
// the portable core build), runs the same scripts as the Node host (host-shim's Firmware over
// NativeHost, QuickJS, the SIMD core) on two copies of the same starting disk. Both must leave
// byte-identical disks and give equal firmware results. The simulator and the profile loader
// only build the starting disks.
//
// Disks are compared without reading their holes (a wideformat-hdd4kn disk is a 500 GB sparse
// file): both copies are made from one file, and every positioned fs.writeSync either host
// makes is recorded while the scripts run, so the files are identical where neither wrote; the
// SHA-256 over every range either of them wrote (in both files) and the sizes must then match.

import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { JsonSchema, Profile, validateAgainstSchema } from "../device-profiles/src/profile";
import { readPrivateKey } from "../host-shim/src/cli/signing";
import { Core } from "../host-shim/src/native/core";
import { bundlePath } from "../host-shim/src/native/core-files";
import { FileDevice, PartitionView } from "../host-shim/src/native/devices";
import { FaultDevice } from "../host-shim/src/native/fault-device";
import { listProfiles, loadProfile } from "../host-shim/src/native/load-profile";
import { loadQuickJS } from "../host-shim/src/native/quickjs-engine";
import { Firmware } from "../host-shim/src/native/quickjs-host";
import { DAMAGE_KINDS, DamageKind, injectDamage } from "../simulator/src/damage";
import { buildPrinter, DEVICE_KEY, provisionFactory } from "../simulator/src/printer";
import { menuSession } from "../simulator/src/session";

const { createHost } = require("./hosts/qjs-ng/host.js") as {
  createHost(o: Record<string, unknown>): Promise<Host & { metrics: Metrics }>;
};

// docs/host-api.md section 8: each firmware function's argument and result, as declared
interface FirmwareFn {
  name: string;
  arg: JsonSchema | null;
  result: JsonSchema;
}
const gen = require("../firmware-module/contract/generate.js") as {
  load(): { firmware: { functions: FirmwareFn[] } };
  schemaOf(api: unknown, s: JsonSchema): JsonSchema;
};
const api = gen.load();
const declared = new Map(api.firmware.functions.map((f) => [f.name, f]));
/** The problems of one firmware call's argument and result against section 8 ([] when they conform). */
function conformance(name: string, args: unknown[], result: unknown): string[] {
  const f = declared.get(name);
  if (!f) return [`firmware.${name} is not declared`];
  if (args.length > (f.arg ? 1 : 0)) return [`firmware.${name}: ${args.length} arguments`];
  return [
    ...(f.arg && args.length
      ? validateAgainstSchema(gen.schemaOf(api, f.arg), args[0], `firmware.${name} argument`)
      : []),
    ...validateAgainstSchema(gen.schemaOf(api, f.result), result, `firmware.${name}`),
  ];
}

interface Host {
  call(name: string, ...args: unknown[]): unknown;
  dispose(): void;
}
interface Metrics {
  coldStartMs?: number;
  heapPeak: number;
  hostCalls: number;
  diskWrites: number;
}
/** Starts a printer's firmware on the script's disk (a power cut after n disk writes, if given). */
type Start = (o?: { powerCutAfterWrites?: number }) => Promise<Host>;
/** A script: what it did, in results (each firmware call's result, or the error it threw). */
type Script = (start: Start) => Promise<unknown[]>;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-second-host-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const MiB = 1 << 20;
const critical = ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"];

/** The same clock for both hosts: a fixed date, 10 ms more at every reading. */
function fakeClock(): () => number {
  let now = Date.UTC(2026, 5, 1, 9, 0, 0);
  return () => (now += 10);
}

// every positioned write to a file while a script runs: [byte offset, bytes]
const written: Array<[number, number]> = [];
const fsw = require("node:fs") as { writeSync: (...a: unknown[]) => number }; // the module, not the import's view
const writeSync = fsw.writeSync;
fsw.writeSync = (...a: unknown[]) => {
  if (typeof a[4] === "number" && typeof a[3] === "number") written.push([a[4], a[3]]);
  return writeSync.apply(fsw, a);
};

/** SHA-256 of a file's bytes in the given sorted, merged ranges, and of its size. */
function rangesHash(file: string, ranges: Array<[number, number]>): string {
  const h = crypto.createHash("sha256").update(String(fs.statSync(file).size));
  const fd = fs.openSync(file, "r");
  const buf = Buffer.alloc(4 * MiB);
  try {
    for (const [a, b] of ranges)
      for (let at = a; at < b; ) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, b - at), at);
        h.update(`${at}:`).update(buf.subarray(0, n));
        at += n;
      }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}
function merged(list: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [at, n] of [...list].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && at <= last[1]) last[1] = Math.max(last[1], at + n);
    else out.push([at, at + n]);
  }
  return out;
}

/** The printer's starting disk for a profile: built, the factory image provisioned. */
function baseDisk(profile: Profile): {
  file: string;
  system: { number: number; startLba: number; sectorCount: number };
} {
  const file = path.join(tmp, `${profile.id}.base.img`);
  const p = buildPrinter(profile, file, { start: Date.UTC(2026, 0, 15, 8, 0, 0) });
  provisionFactory(p);
  const system = { ...p.placed[p.layout.system - 1], number: p.layout.system };
  p.close();
  return { file, system };
}
const copy = (from: string, to: string) => execFileSync("cp", ["--sparse=always", from, to]);

let engine: Awaited<ReturnType<typeof loadQuickJS>>;
const metricsSeen: Array<{ script: string; metrics: Metrics }> = [];

/** Runs `script` through the Node host on one copy of `start` and through the second host on another. */
async function both(
  t: Tap.Test,
  profile: Profile,
  start: string,
  name: string,
  script: Script,
  checks?: (t: Tap.Test, results: unknown[]) => void,
): Promise<void> {
  const t0 = performance.now();
  engine ??= await loadQuickJS();
  const a = path.join(tmp, `${profile.id}.node.img`);
  const b = path.join(tmp, `${profile.id}.qjs-ng.img`);
  copy(start, a);
  copy(start, b);
  const budgets = { heapBytes: profile.budgets.quickjsHeapBytes, stackBytes: profile.budgets.quickjsStackBytes };
  const nodeStart: Start = async (o = {}) => {
    const file = new FileDevice(a, { sectorSize: profile.disk.sectorBytes, writable: true });
    const disk =
      o.powerCutAfterWrites === undefined
        ? file
        : new FaultDevice(file, { powerCutAfterWrites: o.powerCutAfterWrites });
    const fw = new Firmware(
      engine,
      { core, disk, now: nodeClock },
      { profile, ...budgets, bundle: bundlePath(), deviceKey: readPrivateKey(DEVICE_KEY) },
    );
    return {
      call: (n, ...args) => fw.call(n, ...args),
      dispose: () => {
        fw.dispose();
        file.close();
      },
    };
  };
  const problems: string[] = [];
  // the second host gets the profile as a printer's build would embed it: the file's JSON
  const raw = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "device-profiles", `${profile.id}.json`), "utf8"));
  const secondStart: Start = async (o = {}) => {
    const h = await createHost({
      disk: b,
      profile: raw,
      now: secondClock,
      ...budgets,
      sampleHeap: true,
      deviceKey: fs.readFileSync(DEVICE_KEY, "utf8"),
      ...o,
    });
    metricsSeen.push({ script: `${profile.id}: ${name}`, metrics: h.metrics });
    return {
      call(n: string, ...args: unknown[]) {
        const r = h.call(n, ...args);
        problems.push(...conformance(n, args, r));
        return r;
      },
      dispose: () => h.dispose(),
    };
  };
  const nodeClock = fakeClock();
  const secondClock = fakeClock();
  written.length = 0;
  const nodeResults = await script(nodeStart);
  const nodeWrites = written.length;
  const secondResults = await script(secondStart);
  const secondWrites = written.length - nodeWrites;
  checks?.(t, secondResults);
  t.same(secondResults, nodeResults, `${name}: the same firmware results`);
  t.same(problems.slice(0, 5), [], `${name}: every result has the shape docs/host-api.md section 8 declares`);
  const ranges = merged(written);
  const bytes = ranges.reduce((s, [x, y]) => s + y - x, 0);
  t.equal(
    rangesHash(b, ranges),
    rangesHash(a, ranges),
    `${name}: byte-identical disks (${nodeWrites} and ${secondWrites} writes, ${(bytes / MiB).toFixed(1)} MiB written in all; ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
}

/**
 * A firmware call's result, or the firmware's error message. Each host wraps that message in its
 * own error (FirmwareError, Error), and descriptors are each host's own numbers (core-abi.md:
 * "Device handles are the host's own numbers"), which the core's E_DEVICE message names.
 */
function attempt(h: Host, name: string, ...args: unknown[]): unknown {
  try {
    return h.call(name, ...args);
  } catch (e) {
    return {
      threw: String(e)
        .replace(/^.*? failed: /, "")
        .replace(/device \d+/g, "device #"),
    };
  }
}
const once =
  (f: (h: Host) => unknown[]): Script =>
  async (start) => {
    const h = await start();
    try {
      return f(h);
    } finally {
      h.dispose();
    }
  };

const healthyBoot: Script = once((h) => [h.call("boot"), h.call("listImages")]);
const restoredAndVerified = (system: number): Script =>
  once((h) => [h.call("boot"), h.call("health", {}), h.call("verify", { image: 0, against: system })]);
const menuBackup = (ghost: boolean): Script =>
  once((h) => [
    menuSession(h as unknown as Firmware, ghost ? ["ok", "ok", "ok", "wait"] : ["ok", "ok", "wait"]),
    h.call("listImages"),
  ]);
/** A full restore cut off by a power cut after `writes` disk writes; the next boot finishes it. */
const interruptedRestore =
  (writes: number): Script =>
  async (start) => {
    const h1 = await start({ powerCutAfterWrites: writes });
    const cut = attempt(h1, "restore", { image: 0, full: true });
    h1.dispose();
    const h2 = await start();
    try {
      return [cut, h2.call("health", {}), h2.call("boot"), h2.call("health", {})];
    } finally {
      h2.dispose();
    }
  };

/** The start disk with damage of `kind` injected into the system partition. */
function damaged(base: ReturnType<typeof baseDisk>, profile: Profile, kind: DamageKind, seed: number): string {
  const file = path.join(tmp, `${profile.id}.damaged.img`);
  copy(base.file, file);
  const disk = new FileDevice(file, { sectorSize: profile.disk.sectorBytes, writable: true });
  try {
    injectDamage(core, new PartitionView(disk, base.system.startLba, base.system.sectorCount), kind, critical, seed);
    disk.flush();
  } finally {
    disk.close();
  }
  return file;
}

interface Report {
  action: string;
  before: { restoreNeeded: boolean; restoreInProgress?: unknown };
}
const action = (r: unknown) => (r as Report).action;
const restored = (t: Tap.Test, r: unknown[]) => {
  t.equal(action(r[0]), "restored", "the boot found the damage and restored");
  t.equal((r[1] as { ok: boolean }).ok, true, "healthy after it");
  t.equal((r[2] as { bytesWritten: number; kind: string }).kind, "verify", "and the partition verifies");
};

const profiles = listProfiles();
for (const [i, id] of profiles.entries()) {
  t.test(id, async (t) => {
    const profile = loadProfile(id);
    const base = baseDisk(profile);
    const ghost = profile.imageLocation.kind === "ghost";
    const system = base.system.number;
    await both(t, profile, base.file, "a healthy boot", healthyBoot, (t, r) =>
      t.equal(action(r[0]), "none", "nothing restored"),
    );
    // the damage kinds, spread over the profiles (each on one; SECOND_HOST_ALL_DAMAGE=1: every kind on every profile)
    for (const [k, kind] of DAMAGE_KINDS.entries()) {
      if (!process.env.SECOND_HOST_ALL_DAMAGE && k % profiles.length !== i) continue;
      const start = damaged(base, profile, kind, 11 + k);
      await both(t, profile, start, `${kind}: restored, verified`, restoredAndVerified(system), restored);
    }
    if (ghost) {
      const start = damaged(base, profile, "zero-first-mib", 5);
      await both(t, profile, start, "ghost, first MiB zeroed: restored", restoredAndVerified(system), restored);
    }
    await both(t, profile, base.file, "a service-menu backup", menuBackup(ghost), (t, r) => {
      const frames = r[0] as Array<{ lines: string[] }>;
      t.match(frames[frames.length - 1].lines.join(" "), /Backup complete/, "the panel says the backup is done");
    });
    const start = damaged(base, profile, "corrupt-file", 7);
    await both(t, profile, start, "a restore cut off, finished at the next boot", interruptedRestore(12), (t, r) => {
      t.match(r[0], { threw: /failed \(IO\)/ }, "the power went during the restore");
      t.ok((r[1] as Report["before"]).restoreInProgress, "the next health check finds the restore mark");
      t.equal(action(r[2]), "restored", "the boot finishes the restore");
      t.equal((r[3] as { ok: boolean }).ok, true, "healthy after it");
    });
  });
}

t.test("the second host's numbers", async (t) => {
  const peak = metricsSeen.reduce((m, s) => (s.metrics.heapPeak > m.metrics.heapPeak ? s : m));
  const cold = metricsSeen.map((s) => s.metrics.coldStartMs).filter((x): x is number => x !== undefined);
  t.comment(`QuickJS-ng heap peak: ${peak.metrics.heapPeak} bytes (${peak.script})`);
  t.comment(
    `cold start (runtime creation to the first sector read): first ${cold[0]?.toFixed(1)} ms, median ${cold.sort((x, y) => x - y)[cold.length >> 1]?.toFixed(1)} ms`,
  );
  t.ok(peak.metrics.heapPeak > 0, "the heap was sampled");
});
