#!/usr/bin/env node
// firmware-bench.js - a restore driven from QuickJS (the firmware module calling host.step once
// per 64 MiB step) against the same restore driven directly from Node (PrinterHost.step in a
// loop), on the same simulated printer, interleaved, in one run. Part of `npm run bench`.
//
// environment: ROUNDS=7 (timed rounds, order alternating), FW_PROFILE=office-laser-emmc8g,
//   FW_FILL_MIB=256 (the system partition's files, so that a restore takes long enough to time),
//   FW_DOC=docs/bench-firmware.md (FW_DOC= skips it), FW_DIR=<temp dir> (where the disk goes).
// Both sides restore slot 0 (the factory image) into the system partition with the read-back
// (the firmware's default), with the same wasm core instance, writes made at once (a printer
// has no writer thread). MB/s = image clusters' bytes / wall time of the restore call.
// Then issue 14's targets (FW_TARGETS=0 skips them), on a printer of every profile with its own
// fill: the QuickJS heap during jobs (healthy boot, a boot that finds and restores each damage
// kind, health check, verify, a service-menu backup; sampled at every host call and at QuickJS's
// interrupts), and the cold start from QuickJS runtime creation to the first
// sector read in 5 fresh processes (test/bench/cold-start.js), with QuickJS's wasm compiled
// eagerly at engine load (loadQuickJS's default) on every profile, and on FW_PROFILE also lazily
// (V8's default) and with a firmware bundle 4 times the size, for comparison. See issue14Targets.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.join(__dirname, "..", "..");
const dist = path.join(root, "dist");
const { loadProfile } = require(path.join(dist, "host-shim", "src", "native", "load-profile"));
const sim = require(path.join(dist, "simulator", "src", "printer"));
const { Core, Slot } = require(path.join(dist, "host-shim", "src", "native", "core"));
const cliApi = require(path.join(dist, "host-shim", "src", "cli", "api"));

const ROUNDS = Number(process.env.ROUNDS || 7);
const PROFILE = process.env.FW_PROFILE || "office-laser-emmc8g";
const FILL = Number(process.env.FW_FILL_MIB || 256);
const DOC = process.env.FW_DOC === undefined ? path.join(root, "docs", "bench-firmware.md") : process.env.FW_DOC;
const BUDGET = 64 * 1024 * 1024; // the firmware's step (firmware-module/src/api.ts BUDGET)
// issue 14's targets (measured after the restore benchmark; FW_TARGETS=0 skips them)
const TARGETS = process.env.FW_TARGETS !== "0";
const HEAP_TARGET = 1024 * 1024; // QuickJS heap at most 1 MiB during any job
const COLD_TARGET_MS = 100; // runtime creation to the first sector read, median of COLD_RUNS processes
const COLD_RUNS = 5;
// The last commit before issue 14's work: its health check is "today" for the issue's target (the
// firmware in QuickJS asked the host, which ran PrinterHost.health in Node: API version 1). The
// bench builds it from git in a temporary directory (FW_PRE_ISSUE=0: not measured).
const PRE_ISSUE = "4ee0c31";

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main() {
  const profile = loadProfile(PROFILE);
  profile.firmware.fillMiB = FILL;
  const dir = fs.mkdtempSync(path.join(process.env.FW_DIR || os.tmpdir(), "cb-fwbench-"));
  try {
    const p = sim.buildPrinter(profile, path.join(dir, "disk.img"));
    const fac = sim.provisionFactory(p);
    const fw = await sim.startFirmware(p);
    const times = { node: [], quickjs: [], cli: [] };
    // the CLI's restore of the same image onto the same partition: the image copied out of slot 0
    // into a file, restored by the command line's operation (host-shim/src/cli/api.ts restore, in
    // this process: a CLI process adds its start-up, about 0.3 s, on top)
    const imageFile = path.join(dir, "factory.cbi");
    {
      const slot = p.host.store().slotDevice(0);
      const buf = new Uint8Array(1024 * 1024);
      const fd = fs.openSync(imageFile, "w");
      for (let at = 0; at < fac.imageBytes; at += buf.length) {
        const n = Math.min(buf.length, fac.imageBytes - at);
        slot.read(at / slot.sectorSize, Math.ceil(n / slot.sectorSize), buf, 0);
        fs.writeSync(fd, buf, 0, n, at);
      }
      fs.closeSync(fd);
    }
    const cliCore = new Core();
    const viaCli = () => {
      const r = cliApi.restore(cliCore, imageFile, p.file, { partition: p.layout.system });
      if (!r.verified) throw new Error("the CLI's restore did not verify");
    };
    let calls = 0,
      bytes = 0;
    const viaNode = () => {
      p.host.beginRestore({ slot: 0, partition: p.layout.system });
      while (!p.host.step(BUDGET).done) {
        /* one step per call, as the firmware does */
      }
      p.host.finish();
    };
    const viaQuickJS = () => {
      const before = fw.calls;
      fw.call("restore", { image: 0 });
      calls = fw.calls - before;
    };
    const timed = (name, fn) => {
      const t0 = performance.now();
      fn();
      times[name].push((performance.now() - t0) / 1000);
    };
    viaNode();
    viaCli();
    viaQuickJS(); // warm-up: page cache, JIT, QuickJS
    bytes = p.core.results()[Slot.clustersDone] * p.core.results()[Slot.imgClusterBytes];
    for (let r = 0; r < ROUNDS; r++) {
      const order = [
        ["quickjs", viaQuickJS],
        ["node", viaNode],
        ["cli", viaCli],
      ];
      for (let k = 0; k < 3; k++) timed(...order[(r + k) % 3]);
    }
    const heap = fw.heapUsed();
    // the Node-only code behind the host API (host-shim/tools/native-lines.js states the rule)
    const nativeLines = require(path.join(root, "host-shim", "tools", "native-lines.js")).count();
    // differential restore: 1% of the used clusters damaged, then restored (default) and --full
    const diff = differential(p, 7);
    fw.dispose();
    p.close();
    cliCore.dispose();
    const node = median(times.node),
      qjs = median(times.quickjs),
      cli = median(times.cli);
    const ratio = node / qjs;
    const kv = {
      date: new Date().toISOString().slice(0, 19) + "Z",
      profile: PROFILE,
      fill_mib: FILL,
      image_bytes: fac.imageBytes,
      restored_bytes: bytes,
      rounds: ROUNDS,
      node_restore_s: node.toFixed(4),
      quickjs_restore_s: qjs.toFixed(4),
      node_MBps: (bytes / node / 1e6).toFixed(1),
      quickjs_MBps: (bytes / qjs / 1e6).toFixed(1),
      ratio_quickjs_over_node: ratio.toFixed(3),
      cli_restore_s: cli.toFixed(4),
      cli_MBps: (bytes / cli / 1e6).toFixed(1),
      ratio_quickjs_over_cli: (cli / qjs).toFixed(3),
      target_ge_0_95: cli / qjs >= 0.95 ? "PASS" : "FAIL",
      host_calls_per_restore: calls,
      quickjs_heap_bytes: heap,
      node_min_max_s: `${Math.min(...times.node).toFixed(4)}-${Math.max(...times.node).toFixed(4)}`,
      quickjs_min_max_s: `${Math.min(...times.quickjs).toFixed(4)}-${Math.max(...times.quickjs).toFixed(4)}`,
      diff_used_bytes: diff.used,
      diff_damaged_clusters: diff.damaged,
      diff_written_bytes: diff.written,
      diff_read_bytes: diff.read,
      diff_written_pct_of_used: ((100 * diff.written) / diff.used).toFixed(2),
      diff_target_le_2pct: diff.written <= 0.02 * diff.used ? "PASS" : "FAIL",
      diff_s: diff.seconds.toFixed(4),
      full_written_bytes: diff.fullWritten,
      full_s: diff.fullSeconds.toFixed(4),
      native_lines: nativeLines.total,
      native_files: nativeLines.files.length,
    };
    for (const [k, v] of Object.entries(kv)) console.log(`${k}=${v}`);
    const targets = TARGETS ? await issue14Targets(dir) : undefined;
    if (DOC) writeDoc(kv, targets);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Issue 14's targets: the QuickJS heap during jobs (every profile, every scenario) and the cold
 * start (fresh processes). Printers are built with each profile's own fill.
 */
async function issue14Targets(dir) {
  const { listProfiles } = require(path.join(dist, "host-shim", "src", "native", "load-profile"));
  const ids = listProfiles();
  const t0 = performance.now();
  const heap = [];
  const sizes = [];
  const health = [];
  const pre = preIssueBuild();
  for (const id of ids) {
    const p = sim.buildPrinter(loadProfile(id), path.join(dir, `${id}.img`));
    try {
      sim.provisionFactory(p);
      sizes.push({ id, diskBytes: p.profile.disk.sizeBytes, files: p.files.length });
      heap.push(...(await heapScenarios(p)));
      health.push(await healthTiming(p, pre, dir));
    } finally {
      p.close();
      fs.rmSync(path.join(dir, `${id}.img`), { force: true });
    }
  }
  // the largest profile: by disk size, then by the number of files on its system partition
  sizes.sort((a, b) => b.diskBytes - a.diskBytes || b.files - a.files);
  const heapSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  // the bundle as it will be once the host's logic has moved into it (about 3-4 times the size):
  // firmware.js, then three more copies of it inside a function that is never called. QuickJS
  // compiles a function's body to bytecode when it parses it, so the copies cost their full parse
  // and compile, and nothing else (boot() runs the same code).
  const fwCode = fs.readFileSync(path.join(dist, "firmware", "firmware.js"), "utf8");
  const x4 = path.join(dir, "firmware-x4.js");
  fs.writeFileSync(
    x4,
    `${fwCode}\n// three more copies of the bundle, never called: the eval cost of a bundle 4 times the size\nfunction bundleGrowthNeverCalled() {\n${fwCode}\n${fwCode}\n${fwCode}\n}\n`,
  );
  const bundles = { "firmware.js": fwCode.length, "firmware.js x4": fs.statSync(x4).size };
  const cold = [];
  for (const id of ids) {
    const variants = [{ compile: "eager", bundle: "firmware.js" }];
    if (id === PROFILE)
      variants.push(
        { compile: "lazy", bundle: "firmware.js" },
        { compile: "eager", bundle: "firmware.js x4", file: x4 },
        { compile: "lazy", bundle: "firmware.js x4", file: x4 },
      );
    cold.push(...coldStart(dir, id, variants));
  }
  return {
    heap,
    health,
    largest: sizes[0],
    sizes,
    cold,
    bundles,
    heapSeconds,
    coldSeconds: (performance.now() - t1) / 1000,
  };
}

/**
 * The health check as the firmware runs it now (firmware.health in QuickJS: the ops over the
 * native host API) against the same check as API version 1 ran it (PrinterHost.health in Node,
 * behind one host call): 7 interleaved rounds after one warm-up each, medians.
 */
async function healthTiming(p, pre, dir) {
  const fw = await sim.startFirmware(p, {});
  // the same printer (profile, fill, factory image) built and checked by the pre-issue code
  let old;
  // (a profile the pre-issue code does not have, such as an exFAT one, is timed now only)
  if (pre && fs.existsSync(path.join(pre.root, "device-profiles", `${p.profile.id}.json`))) {
    const op = pre.sim.buildPrinter(pre.loadProfile(p.profile.id), path.join(dir, `${p.profile.id}-pre.img`));
    pre.sim.provisionFactory(op);
    old = { p: op, fw: await pre.sim.startFirmware(op) };
  }
  try {
    const node = [],
      qjs = [],
      before = [];
    const runs = {
      node: () => p.host.health(p.layout.system),
      qjs: () => fw.call("health"),
      before: () => old?.fw.call("health"),
    };
    for (const f of Object.values(runs)) f();
    for (let i = 0; i < 9; i++) {
      // interleaved, in an order that turns each round
      for (const k of ["node", "qjs", "before"].slice(i % 3).concat(["node", "qjs", "before"].slice(0, i % 3))) {
        const t = performance.now();
        runs[k]();
        ({ node, qjs, before })[k].push(performance.now() - t);
      }
    }
    const med = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    return { profile: p.profile.id, nodeMs: med(node), quickjsMs: med(qjs), beforeMs: old ? med(before) : undefined };
  } finally {
    fw.dispose();
    if (old) {
      old.fw.dispose();
      old.p.close();
      fs.rmSync(path.join(dir, `${p.profile.id}-pre.img`), { force: true });
    }
  }
}

/** The pre-issue build (PRE_ISSUE), made once in the temporary directory from git; undefined when it cannot be. */
function preIssueBuild() {
  if (process.env.FW_PRE_ISSUE === "0") return undefined;
  const { execFileSync, execSync } = require("node:child_process");
  const dir = path.join(os.tmpdir(), `cb-pre-issue-14-${PRE_ISSUE}`);
  try {
    if (!fs.existsSync(path.join(dir, "dist", "simulator", "src", "printer.js"))) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      execSync(`git -C "${root}" archive ${PRE_ISSUE} | tar -x -C "${dir}"`, { stdio: "ignore" });
      fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
      execFileSync("npm", ["run", "build"], { cwd: dir, stdio: "ignore" });
    }
    return {
      commit: PRE_ISSUE,
      root: dir,
      sim: require(path.join(dir, "dist", "simulator", "src", "printer")),
      loadProfile: require(path.join(dir, "dist", "device-profiles", "src", "load")).loadProfile,
    };
  } catch (e) {
    console.error(`pre-issue build ${PRE_ISSUE} not made (${e.message}): the health check is compared with Node only`);
    return undefined;
  }
}

/**
 * The QuickJS runtime's heap now: JS_ComputeMemoryUsage's memory_used_size (all that the runtime
 * has allocated, its contexts, bytecode, objects, strings and not yet collected garbage), read
 * from dumpMemoryUsage's "memory used" line. Not fw.heapUsed(): its computeMemoryUsage creates a
 * second ("system") context in the runtime on first use, about 33 KB that the firmware never needs,
 * and a JS object per sample; dumpMemoryUsage writes C text and allocates nothing in the runtime.
 */
function heapNow(fw) {
  const m = /^memory used\s+\d+\s+(\d+)/m.exec(fw.runtime.dumpMemoryUsage());
  if (!m) throw new Error('dumpMemoryUsage has no "memory used" line');
  return Number(m[1]);
}

// the native host API's functions (NativeHost, host-shim/src/native/native-host.ts), as declared
const { HOST_FUNCTIONS: HOST_METHODS } = require(path.join(root, "dist", "firmware-module", "src", "host-api.js"));

/**
 * Samples the heap on entry to and return from every host call (every function of the native
 * host API), and from QuickJS's interrupt handler, which QuickJS calls
 * every 10,000 or so function calls and backward jumps while the firmware's own code runs.
 */
function heapProbe(fw, host) {
  const st = { peak: 0, at: "", samples: 0, hostCalls: 0, interrupts: 0, base: heapNow(fw) };
  const sample = (at) => {
    const h = heapNow(fw);
    st.samples++;
    if (h > st.peak) {
      st.peak = h;
      st.at = at;
    }
  };
  const saved = HOST_METHODS.map((name) => [name, Object.hasOwn(host, name), host[name]]);
  for (const [name, , f] of saved) {
    host[name] = (...a) => {
      st.hostCalls++;
      sample(`entering ${name}`);
      try {
        return f.apply(host, a);
      } finally {
        sample(`returning from ${name}`);
      }
    };
  }
  fw.runtime.setInterruptHandler(() => {
    st.interrupts++;
    sample("interrupt (firmware code running)");
    return false;
  });
  return {
    st,
    sample,
    stop() {
      fw.runtime.removeInterruptHandler();
      for (const [name, own, f] of saved) {
        if (own) host[name] = f;
        else delete host[name];
      }
    },
  };
}

/**
 * Runs each job scenario on printer `p` in a fresh firmware (as after a reset) with the profile's
 * heap limit, the heap sampled (the peak seen). Not again under a 1 MiB limit: this QuickJS build
 * counts 8 bytes per allocation (malloc_usable_size is unavailable in emscripten), so its limit
 * does not bound bytes (see the doc this writes).
 */
async function heapScenarios(p) {
  const { DAMAGE_KINDS, injectDamage } = require(path.join(dist, "simulator", "src", "damage"));
  const critical = ["\\FIRMWARE\\MAIN.BIN", "\\FIRMWARE\\ENGINE.BIN"];
  let probe;
  const hooks = {
    onProgress: () => probe?.sample("progress"),
    shouldCancel: () => {
      probe?.sample("shouldCancel");
      return false;
    },
    log: () => probe?.sample("log"),
  };
  const boot = (want) => (fw) => {
    const r = fw.call("boot");
    return r.action === want ? undefined : `boot: ${r.action}, not ${want}`;
  };
  const scenarios = [
    { name: "boot, healthy", run: boot("none") },
    ...DAMAGE_KINDS.map((kind, i) => ({
      name: `boot, ${kind}: detected, restored`,
      prepare: () => injectDamage(p.core, sim.systemPartition(p), kind, critical, 21 + i),
      run: boot("restored"),
    })),
    {
      name: "health check",
      run: (fw) => (fw.call("health").ok ? undefined : "health: not ok"),
    },
    {
      name: "verify (factory image)",
      run: (fw) => {
        const r = fw.call("verify", { image: 0 });
        return r.mismatches || r.ok === false ? `verify: ${JSON.stringify(r).slice(0, 200)}` : undefined;
      },
    },
    {
      name: "service menu: back up now",
      run: (fw) => {
        // "ok" until the backup runs (a ghost printer warns on a second screen first), then to its end
        let f = fw.call("menuOpen");
        for (let i = 0; i < 4 && f.state !== "running"; i++) f = fw.call("menuKey", "ok");
        for (let i = 0; i < 10000 && f.state === "running"; i++) f = fw.call("menuTick");
        const text = f.lines.join(" ");
        return /Backup complete/.test(text) ? undefined : `menu: ${text.replace(/\s+/g, " ")}`;
      },
    },
  ];
  const out = [];
  for (const sc of scenarios) {
    sc.prepare?.();
    const fw = await sim.startFirmware(p, hooks);
    probe = heapProbe(fw, fw.native);
    const t0 = performance.now();
    let problem;
    try {
      problem = sc.run(fw);
      probe.sample("job's end");
    } catch (e) {
      problem = e.message;
    } finally {
      probe.stop();
      fw.dispose();
    }
    const { st } = probe;
    probe = undefined;
    const seconds = (performance.now() - t0) / 1000;
    const pass = st.peak <= HEAP_TARGET && !problem;
    out.push({
      profile: p.profile.id,
      scenario: sc.name,
      loaded: st.base,
      peak: st.peak,
      at: st.at,
      samples: st.samples,
      hostCalls: st.hostCalls,
      interrupts: st.interrupts,
      seconds,
      problem,
      pass,
    });
    console.log(
      `heap ${p.profile.id} | ${sc.name} | peak ${st.peak} B (${st.at}; loaded ${st.base}) | ${st.samples} samples, ${st.hostCalls} host calls, ${st.interrupts} interrupts | ${pass ? "PASS" : "FAIL"}${problem ? ` (${problem})` : ""}`,
    );
  }
  return out;
}

/**
 * Cold start on profile `id`'s disk: built and provisioned once here, then COLD_RUNS fresh Node
 * processes (test/bench/cold-start.js) per variant (the engine's compile mode and the bundle)
 * that only open it, start the firmware and boot. Variants run interleaved, one process each in
 * turn, so that a change in the machine's load falls on all of them.
 */
function coldStart(dir, id, variants) {
  const { spawnSync } = require("node:child_process");
  const file = path.join(dir, `cold-${id}.img`);
  const p = sim.buildPrinter(loadProfile(id), file);
  sim.provisionFactory(p);
  p.close();
  const runs = variants.map(() => []);
  try {
    for (let i = 0; i < COLD_RUNS; i++) {
      variants.forEach((v, k) => {
        const args = [path.join(__dirname, "cold-start.js"), file, id, v.compile, ...(v.file ? [v.file] : [])];
        const t0 = performance.now();
        const r = spawnSync(process.execPath, args, { encoding: "utf8" });
        const wall = performance.now() - t0;
        if (r.status !== 0) throw new Error(`cold-start.js ${id} ${v.compile} failed (${r.status}): ${r.stderr}`);
        const j = JSON.parse(r.stdout.trim().split("\n").pop());
        if (j.action !== "none") throw new Error(`cold-start.js ${id}: boot did ${j.action}`);
        runs[k].push({ ...j, wall });
      });
    }
  } finally {
    fs.rmSync(file, { force: true });
  }
  return variants.map((v, k) => coldResult(id, v, runs[k]));
}

function coldResult(id, v, runs) {
  const m = (f) => median(runs.map((r) => f(r.marks, r)));
  const res = {
    profile: id,
    compile: v.compile,
    bundle: v.bundle,
    target: v.compile === "eager" && !v.file, // the configuration the simulator (a printer) runs
    runs: runs.length,
    coldMs: m((k) => k.firstSectorRead - k.runtimeCreated),
    coldAll: runs.map((r) => r.marks.firstSectorRead - r.marks.runtimeCreated),
    processStartMs: m((k) => k.runtimeCreated),
    nodeBootstrapMs: m((k) => k.scriptStart),
    modulesMs: m((k) => k.modulesLoaded - k.scriptStart),
    coreMs: m((k) => k.coreInstantiated - k.modulesLoaded),
    hostMs: m((k) => k.hostOpened - k.coreInstantiated),
    engineMs: m((k) => k.engineLoaded - k.hostOpened),
    runtimeMs: m((k) => k.contextStart - k.runtimeCreated),
    contextMs: m((k) => k.contextCreated - k.contextStart),
    hostApiMs: m((k) => k.evalStart - k.contextCreated),
    evalMs: m((k) => k.evalDone - k.evalStart),
    firmwareEvalMs: m((k) => k.firmwareLoaded - k.runtimeCreated),
    toFirstReadMs: m((k) => k.firstSectorRead - k.firmwareLoaded),
    bootMs: m((k) => k.bootDone - k.firmwareLoaded),
    engineToFirstReadMs: m((k) => k.firstSectorRead - k.hostOpened),
    warmMs: m((_, r) => r.warm.firstSectorRead - r.warm.runtimeCreated),
    warmEvalMs: m((_, r) => r.warm.firmwareLoaded - r.warm.runtimeCreated),
    wallMs: m((_, r) => r.wall),
    readsBeforeRuntime: runs[0].readsBeforeRuntime,
    firstRead: runs[0].firstRead,
  };
  res.pass = res.coldMs <= COLD_TARGET_MS;
  console.log(
    `cold ${id} ${v.compile} ${v.bundle} | runtime creation -> first sector read: median ${res.coldMs.toFixed(1)} ms (${res.coldAll.map((x) => x.toFixed(1)).join(", ")}; runtime ${res.runtimeMs.toFixed(1)}, context ${res.contextMs.toFixed(1)}, host API ${res.hostApiMs.toFixed(1)}, eval ${res.evalMs.toFixed(1)}, boot to read ${res.toFirstReadMs.toFixed(1)}) | engine load ${res.engineMs.toFixed(1)} ms | node start -> runtime creation ${res.processStartMs.toFixed(1)} ms | warm ${res.warmMs.toFixed(1)} ms | first read by ${res.firstRead.byCoreImport ? "the core (dev.read)" : "the host"}: ${res.firstRead.stack.slice(0, 6).join(" < ")} | ${res.target ? (res.pass ? "PASS" : "FAIL") : "comparison"}`,
  );
  return res;
}

/** Damages 1% of the system partition's used clusters (random bytes), restores differentially, then again with full. */
function differential(p, seed) {
  const { FatTables } = require(path.join(dist, "firmware-module", "src", "ops", "fat-tables"));
  const { splitmix32 } = require(path.join(dist, "simulator", "src", "content"));
  const part = sim.systemPartition(p);
  const tables = new FatTables(part, p.core);
  const g = tables.geometry;
  const allocated = [];
  for (let c = 2; c < tables.entryCount; c += 65536) {
    tables.entries(0, c, Math.min(65536, tables.entryCount - c)).forEach((v, i) => {
      if (v !== 0 && v < 0x0ffffff7) allocated.push(c + i);
    });
  }
  const used = g.firstDataSector * g.bytesPerSector + allocated.length * g.clusterBytes;
  const damage = () => {
    const rnd = splitmix32(seed++);
    const hit = new Set();
    while (hit.size < Math.ceil(allocated.length / 100)) hit.add(allocated[rnd() % allocated.length]);
    const buf = new Uint8Array(g.clusterBytes);
    for (const c of hit) {
      for (let k = 0; k < buf.length; k++) buf[k] = rnd() & 0xff;
      part.write(
        g.firstDataSector + (c - 2) * (g.clusterBytes / g.bytesPerSector),
        g.clusterBytes / g.bytesPerSector,
        buf,
        0,
      );
    }
    return hit.size;
  };
  const restore = (full) => {
    const t0 = performance.now();
    p.host.beginRestore({ slot: 0, partition: p.layout.system, full });
    while (!p.host.step(BUDGET).done) {
      /* steps */
    }
    const r = p.host.finish();
    return { r, seconds: (performance.now() - t0) / 1000 };
  };
  void splitmix32;
  const damaged = damage();
  const d = restore(false);
  damage();
  const f = restore(true);
  return {
    used,
    damaged,
    written: d.r.bytesWritten,
    read: d.r.bytesRead,
    seconds: d.seconds,
    fullWritten: f.r.bytesWritten,
    fullSeconds: f.seconds,
  };
}

function gitCommit() {
  const { execFileSync } = require("node:child_process");
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: root,
      encoding: "utf8",
    });
    return dirty.trim() ? `${head} (with uncommitted changes)` : head;
  } catch {
    return "unknown (not a git checkout)";
  }
}

function machine() {
  const c = os.cpus();
  return `${c[0]?.model?.trim() ?? "unknown CPU"}, ${c.length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")} at the end of the run`;
}

/** The doc's section on issue 14's targets. */
function targetLines(tg) {
  const kib = (b) => (b / 1024).toFixed(1);
  const ms = (x) => x.toFixed(1);
  const heapPass = tg.heap.every((h) => h.pass);
  const worst = tg.heap.reduce((a, b) => (b.peak > a.peak ? b : a));
  const coldTarget = tg.cold.filter((c) => c.target);
  const coldPass = coldTarget.every((c) => c.pass);
  const cmp = (compile, bundle) =>
    tg.cold.find((c) => c.profile === PROFILE && c.compile === compile && c.bundle === bundle);
  const L = [
    "## Issue 14 targets",
    "",
    `Machine: ${machine()}. Commit: ${gitCommit()}. Measured in ${tg.heapSeconds.toFixed(1)} s (heap) and ${tg.coldSeconds.toFixed(1)} s (cold start).`,
    "",
    "| target | measured | result |",
    "|---|---|---|",
    `| QuickJS heap at most 1 MiB (1024.0 KiB) during any job | peak ${kib(worst.peak)} KiB (${worst.profile}, ${worst.scenario}) | ${heapPass ? "PASS" : "FAIL"} |`,
    `| cold start, QuickJS runtime creation to the first sector read, at most ${COLD_TARGET_MS} ms (median of ${COLD_RUNS} fresh processes), QuickJS's wasm compiled when the engine loads | ${coldTarget.map((c) => `${ms(c.coldMs)} ms (${c.profile}; engine load ${ms(c.engineMs)} ms)`).join(", ")} | ${coldPass ? "PASS" : "FAIL"} |`,
    ...tg.health
      .filter((h) => h.profile === tg.largest.id)
      .map(
        (h) =>
          `| health check of the largest profile no slower than before issue 14 (commit ${PRE_ISSUE}, built from git in the same run: the firmware asked the host, which ran PrinterHost.health in Node, API version 1) | ${ms(h.quickjsMs)} ms now (firmware.health in QuickJS over the native API) against ${h.beforeMs === undefined ? "(not measured)" : `${ms(h.beforeMs)} ms before`} (${h.profile}; medians of 9 interleaved rounds); the same portable check run in Node now: ${ms(h.nodeMs)} ms. Every profile, now / before / Node now: ${tg.health.map((x) => `${x.profile} ${ms(x.quickjsMs)} / ${x.beforeMs === undefined ? "-" : ms(x.beforeMs)} / ${ms(x.nodeMs)} ms`).join(", ")} | ${h.beforeMs === undefined ? "not measured" : h.quickjsMs <= h.beforeMs ? "PASS" : "FAIL"} |`,
      ),
    "",
    "### QuickJS heap during jobs",
    "",
    "Each job runs in a fresh firmware (a new QuickJS runtime with firmware.js loaded, as after a reset) on a printer",
    "built from the profile with its own fill and the factory image provisioned. The heap is the runtime's",
    '"memory used" (JS_ComputeMemoryUsage\'s memory_used_size: everything the runtime has allocated, garbage not yet',
    "collected included), read with dumpMemoryUsage (which allocates nothing in the runtime; fw.heapUsed()'s",
    "computeMemoryUsage adds a second context of about 33 KB on first use). It is sampled on entry to and return",
    "from every host call (every function of the native host API: devices, core, SHA-256, log, progress, shouldCancel",
    "hooks), from QuickJS's interrupt handler while firmware code runs, and at the job's end. Loaded: the heap with",
    "firmware.js evaluated, before the job. QuickJS's own memory limit cannot stand in for the samples here: in the",
    "emscripten builds (quickjs-emscripten, QuickJS-ng's too) malloc_usable_size is unavailable, so the runtime counts",
    "8 bytes per allocation whatever its size (a runtime limited to 1 MiB holds 100 ArrayBuffers of 64 KiB); a printer's",
    "native QuickJS, built with malloc_usable_size, enforces its limit in bytes.",
    "Interrupts: how often QuickJS's interrupt handler sampled (it fires about every 5,000 loop iterations; 0 means",
    "the firmware's own code between two host calls is shorter than that).",
    `Largest profile: ${tg.largest.id} (${(tg.largest.diskBytes / 1e9).toFixed(1)} GB disk, ${tg.largest.files} files on the system partition; ${tg.sizes
      .slice(1)
      .map((s) => `${s.id}: ${(s.diskBytes / 1e9).toFixed(1)} GB, ${s.files} files`)
      .join("; ")}).`,
    "",
    "| profile | job | loaded KiB | peak KiB | peak seen at | samples | host calls | interrupts | result |",
    "|---|---|---:|---:|---|---:|---:|---:|---|",
    ...tg.heap.map(
      (h) =>
        `| ${h.profile}${h.profile === tg.largest.id ? " (largest)" : ""} | ${h.scenario} | ${kib(h.loaded)} | ${kib(h.peak)} | ${h.at} | ${h.samples} | ${h.hostCalls} | ${h.interrupts} | ${h.pass ? "PASS" : `FAIL${h.problem ? `: ${h.problem}` : ""}`} |`,
    ),
    "",
    "### Cold start",
    "",
    `Each profile's disk is built and provisioned once; then ${COLD_RUNS} fresh Node processes (test/bench/cold-start.js) each`,
    "load the modules, instantiate the wasm core, open the printer host, load the QuickJS engine, create the runtime",
    "(the Firmware constructor: runtime, context, host API, firmware.js evaluated) and call firmware.boot(). Times in",
    "ms, medians, from the Node process's start (performance.now()). The first sector read counted is the first read",
    "of the disk after the runtime's creation, made by the core through its dev.read import or by the host itself",
    "(column first read; the stack of each is printed by the bench). Reads before: the host's own reads of the disk",
    "before any runtime exists (PrinterHost's constructor reads the partition table).",
    "",
    "The QuickJS engine (loadQuickJS, once per process) compiles QuickJS's own wasm with V8's optimizing compiler",
    "when it loads (compile eager, the default, what the simulator and so every printer here runs): a printer's",
    "QuickJS is native code compiled before the printer ships, so that compilation is no part of a printer's cold",
    "start, and is counted in the engine load column instead, outside the target's span. With V8's default (compile",
    "lazy: each function compiled by the baseline compiler on its first call, recompiled in the background when",
    "hot), the engine loads quickly but the first runtime waits for V8's compilers and runs baseline code while",
    "QuickJS parses firmware.js: that row, for comparison on one profile, is how the engine loaded before (the",
    "target was measured that way until then: 212-224 ms at a load average of 5.8, about 60 ms on an idle machine).",
    "Engine load to first read adds the engine's load and the runtime's span.",
    "Phases of the runtime's creation: runtime (newRuntime and its heap and stack limits), context, host API (the",
    "host object installed and the bundle read from disk), firmware.js evaluated, then boot() up to its first read",
    "(host.profile(), the layout, host.health() opening the image store). Warm: the same again in the same process",
    "right after (image store cached by the host), runtime to first read (of which the runtime's creation).",
    `Bundle x4: firmware.js (${tg.bundles["firmware.js"]} bytes) followed by three copies of itself inside a function that is never called`,
    `(${tg.bundles["firmware.js x4"]} bytes): QuickJS compiles every function body to bytecode as it parses, so this is what evaluating`,
    "a bundle 4 times the size costs (the firmware will grow about 3-4 times when the host's logic moves into it).",
    "On a loaded machine (see the load average) single runs spread widely; the variants run interleaved.",
    "",
    "| profile | compile | bundle | QuickJS engine load | runtime creation to first read | runtime | context | host API | firmware.js evaluated | boot() to first read | all runs | engine load to first read | warm: runtime to first read (creation) | result |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ...tg.cold.map(
      (c) =>
        `| ${c.profile} | ${c.compile} | ${c.bundle} | ${ms(c.engineMs)} | **${ms(c.coldMs)}** | ${ms(c.runtimeMs)} | ${ms(c.contextMs)} | ${ms(c.hostApiMs)} | ${ms(c.evalMs)} | ${ms(c.toFirstReadMs)} | ${c.coldAll.map(ms).join(", ")} | ${ms(c.engineToFirstReadMs)} | ${ms(c.warmMs)} (${ms(c.warmEvalMs)}) | ${c.target ? (c.pass ? "PASS" : "FAIL") : "comparison"} |`,
    ),
    "",
    ...(cmp("eager", "firmware.js x4") && cmp("lazy", "firmware.js x4")
      ? [
          `A bundle 4 times the size (${PROFILE}): firmware.js evaluated in ${ms(cmp("eager", "firmware.js x4").evalMs)} ms instead of ${ms(cmp("eager", "firmware.js").evalMs)} (eager), ${ms(cmp("lazy", "firmware.js x4").evalMs)} ms instead of ${ms(cmp("lazy", "firmware.js").evalMs)} (lazy); runtime creation to first read ${ms(cmp("eager", "firmware.js x4").coldMs)} ms (eager), ${ms(cmp("lazy", "firmware.js x4").coldMs)} ms (lazy).`,
          "",
        ]
      : []),
    "The process around it (target rows only):",
    "",
    "| profile | node start to runtime creation | of which: Node's own start | modules | core | host | QuickJS engine | first read | reads before | boot total | process wall |",
    "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ...coldTarget.map(
      (c) =>
        `| ${c.profile} | ${ms(c.processStartMs)} | ${ms(c.nodeBootstrapMs)} | ${ms(c.modulesMs)} | ${ms(c.coreMs)} | ${ms(c.hostMs)} | ${ms(c.engineMs)} | ${
          c.firstRead.byCoreImport
            ? "core (dev.read)"
            : `host (${c.firstRead.stack
                .map((f) => f.replace(/ \(.*/, ""))
                .filter((f) => /^[A-Z]\w*\.\w+$/.test(f) && !/^(PartitionView|Array|Object)\./.test(f))
                .slice(0, 3)
                .join(" < ")})`
        } | ${c.readsBeforeRuntime} | ${ms(c.bootMs)} | ${ms(c.wallMs)} |`,
    ),
    "",
  ];
  return L;
}

function writeDoc(kv, targets) {
  const old = fs.existsSync(DOC) ? fs.readFileSync(DOC, "utf8") : "";
  const m = old.match(/<!-- history -->\n([\s\S]*?)<!-- \/history -->/);
  const rows = m ? m[1].split("\n").filter((l) => l.startsWith("| 20")) : [];
  rows.push(
    `| ${kv.date.slice(0, 16).replace("T", " ")} | ${kv.profile} | ${kv.restored_bytes} | ${kv.node_MBps} | ${kv.quickjs_MBps} | ${kv.ratio_quickjs_over_node} | ${kv.host_calls_per_restore} |`,
  );
  const L = [
    "# Benchmark: a restore driven from QuickJS against the same restore driven by the CLI and from Node",
    "",
    "Written by `npm run bench` (`test/bench/firmware-bench.js`, which says what is timed). The firmware module,",
    "running in QuickJS, calls the host once per 64 MiB step; the Node side calls the same `PrinterHost.step` in a",
    "loop; the CLI's restore (`host-shim/src/cli/api.ts` restore, what `clusterback restore IMAGE DISK --partition N`",
    "runs, in the bench's process: a CLI process adds its start-up) restores the same image, copied out of slot 0",
    "into a file, onto the same partition, with its background writer. Same simulated printer, same image (the",
    "factory image), read-back on, the target intact (only what differs is written); interleaved rounds, order",
    "turning, medians.",
    "",
    `## Latest run: ${kv.date}`,
    "",
    `- profile ${kv.profile}, system partition filled with ${kv.fill_mib} MiB, ${kv.restored_bytes} bytes of clusters restored per run, ${kv.rounds} rounds`,
    `- host calls from QuickJS per restore: ${kv.host_calls_per_restore}; QuickJS heap after the runs: ${kv.quickjs_heap_bytes} bytes`,
    `- Node-only code behind the host API: ${kv.native_lines} lines in ${kv.native_files} files (\`npm run count:native\`; issue 14's target: at most 600)`,
    "",
    "| driver | median s (min-max) | MB/s |",
    "|---|---:|---:|",
    `| Node (PrinterHost.step loop) | ${kv.node_restore_s} (${kv.node_min_max_s}) | ${kv.node_MBps} |`,
    `| CLI (api.ts restore) | ${kv.cli_restore_s} | ${kv.cli_MBps} |`,
    `| QuickJS (firmware.restore) | ${kv.quickjs_restore_s} (${kv.quickjs_min_max_s}) | ${kv.quickjs_MBps} |`,
    "",
    `Firmware (QuickJS) / CLI throughput: **${kv.ratio_quickjs_over_cli}** (issue 14's target: at least 0.95: ${kv.target_ge_0_95}). QuickJS / Node loop: ${kv.ratio_quickjs_over_node}.`,
    "",
    "## Differential restore",
    "",
    `The same printer, ${kv.diff_damaged_clusters} used clusters (1%) overwritten with random bytes, then restored from the factory image:`,
    "",
    "| restore | bytes read to compare | bytes written | % of the used bytes written | s |",
    "|---|---:|---:|---:|---:|",
    `| default (differential) | ${kv.diff_read_bytes} | ${kv.diff_written_bytes} | ${kv.diff_written_pct_of_used} | ${kv.diff_s} |`,
    `| --full | 0 | ${kv.full_written_bytes} | ${((100 * kv.full_written_bytes) / kv.diff_used_bytes).toFixed(2)} | ${kv.full_s} |`,
    "",
    `Used bytes: ${kv.diff_used_bytes}. Target: at most 2% of them written: ${kv.diff_target_le_2pct}.`,
    "",
    ...(targets ? targetLines(targets) : []),
    "## History",
    "",
    "<!-- history -->",
    "| date (UTC) | profile | bytes restored | Node MB/s | QuickJS MB/s | ratio | host calls |",
    "|---|---|---:|---:|---:|---:|---:|",
    ...rows.slice(-30),
    "<!-- /history -->",
    "",
  ];
  fs.writeFileSync(DOC, L.join("\n"));
  console.log(`doc=${DOC}`);
}

main().catch((e) => {
  console.error(`firmware-bench: ${e?.stack ? e.stack : e}`);
  process.exit(1);
});
