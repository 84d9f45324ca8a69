#!/usr/bin/env node
// cold-start.js - one cold start of the printer's firmware, in a process of its own (spawned 5
// times by firmware-bench.js; it builds nothing). Usage: node cold-start.js <disk image> <profile id>
//
// It opens a disk the parent prepared (simulator's buildPrinter + provisionFactory), then does
// what startFirmware does, in the simulator's order: load the modules, instantiate the wasm core,
// open the printer host (which reads the partition table: the host's own start, before any
// runtime exists), load the QuickJS engine, create the runtime (Firmware's constructor: runtime,
// context, host API, firmware.js evaluated), then firmware.boot(). Every read of the disk device
// is seen (the core's dev.read import and the host's own reads both end in the disk's read); the
// first one after the runtime's creation is the first sector read made for the firmware, and
// the stack of that read says whether the core's dev.read import made it.
// Prints one line of JSON: marks in ms from the process's start (performance.now(), whose origin
// is the start of the Node process).
// Optional arguments: the engine's compile mode (eager, the default of loadQuickJS, or lazy: see
// EngineLoadOptions in host-shim/src/native/quickjs-engine.ts) and a bundle to run instead of firmware.js.
// The runtime's creation is split into its phases: runtime (newRuntime and its limits), context,
// host (the host API installed, the bundle read from disk), firmware.js evaluated, then boot()
// up to the first read.
"use strict";
const t = { scriptStart: performance.now() };
const path = require("node:path");
const dist = path.join(__dirname, "..", "..", "dist");
const { loadProfile } = require(path.join(dist, "host-shim", "src", "native", "load-profile"));
const { layoutOf } = require(path.join(dist, "simulator", "src", "printer"));
const { Core } = require(path.join(dist, "host-shim", "src", "native", "core"));
const { DiskFile } = require(path.join(dist, "host-shim", "src", "native", "devices"));
const { PrinterHost } = require(path.join(dist, "firmware-module", "src", "ops", "printer-host"));
const { Firmware } = require(path.join(dist, "host-shim", "src", "native", "quickjs-host"));
const { loadQuickJS } = require(path.join(dist, "host-shim", "src", "native", "quickjs-engine"));
const { bundlePath } = require(path.join(dist, "host-shim", "src", "native", "core-files"));

async function main() {
  const [file, id, compile = "eager", bundleArg] = process.argv.slice(2);
  const bundle = bundleArg ?? bundlePath();
  t.modulesLoaded = performance.now();
  const profile = loadProfile(id);
  const disk = new DiskFile(file, { sectorSize: profile.disk.sectorBytes, writable: true });
  let reads = 0,
    firstRead;
  const read = disk.read.bind(disk);
  disk.read = (lba, count, dst, off) => {
    reads++;
    if (t.runtimeCreated !== undefined && firstRead === undefined) {
      t.firstSectorRead = performance.now();
      const frames = (new Error().stack ?? "").split("\n").slice(2);
      firstRead = {
        lba,
        sectors: count,
        byCoreImport: frames.some((f) => /wasm-function|wasm:\/\//.test(f)),
        stack: frames
          .map((f) => f.trim().replace(/^at /, ""))
          .filter((f) => !/node:internal/.test(f))
          .slice(0, 12),
      };
    }
    return read(lba, count, dst, off);
  };
  const core = new Core({ backgroundWrites: false });
  t.coreInstantiated = performance.now();
  const host = new PrinterHost(core, disk, layoutOf(profile), () => Date.now());
  t.hostOpened = performance.now();
  const readsBeforeRuntime = reads;
  const engine = await loadQuickJS({ compile });
  t.engineLoaded = performance.now();
  const newRuntime = engine.newRuntime.bind(engine);
  // phase marks of the cold runtime (the warm one below takes the total only)
  const phases = (rt) => {
    const newContext = rt.newContext.bind(rt);
    rt.newContext = (...b) => {
      t.contextStart = performance.now();
      const ctx = newContext(...b);
      t.contextCreated = performance.now();
      const evalCode = ctx.evalCode.bind(ctx);
      ctx.evalCode = (...c) => {
        ctx.evalCode = evalCode; // the bundle's evaluation only
        t.evalStart = performance.now();
        const r = evalCode(...c);
        t.evalDone = performance.now();
        return r;
      };
      return ctx;
    };
    return rt;
  };
  engine.newRuntime = (...a) => {
    t.runtimeCreated = performance.now();
    return phases(newRuntime(...a));
  };
  const fw = new Firmware(engine, host, {
    profile,
    heapBytes: profile.budgets.quickjsHeapBytes,
    stackBytes: profile.budgets.quickjsStackBytes,
    bundle,
  });
  t.firmwareLoaded = performance.now();
  const r = fw.call("boot");
  const first = { runtimeCreated: t.runtimeCreated, firstSectorRead: t.firstSectorRead };
  const firstReadCold = firstRead;
  t.bootDone = performance.now();
  fw.dispose();
  // the same again in this process (engine warm: V8 has compiled QuickJS's wasm by now), to tell
  // the engine's first-use cost in Node from the firmware's own
  const warm = {};
  const readAt = () => t.firstSectorRead;
  t.runtimeCreated = undefined;
  firstRead = undefined;
  t.firstSectorRead = undefined;
  engine.newRuntime = (...a) => {
    warm.runtimeCreated = performance.now();
    t.runtimeCreated = warm.runtimeCreated;
    return newRuntime(...a);
  };
  const fw2 = new Firmware(engine, host, {
    profile,
    heapBytes: profile.budgets.quickjsHeapBytes,
    stackBytes: profile.budgets.quickjsStackBytes,
    bundle,
  });
  warm.firmwareLoaded = performance.now();
  fw2.call("boot");
  warm.firstSectorRead = readAt();
  fw2.dispose();
  Object.assign(t, first);
  disk.close();
  process.stdout.write(
    `${JSON.stringify({ marks: t, warm, compile, bundle, action: r.action, readsBeforeRuntime, firstRead: firstReadCold, pid: process.pid })}\n`,
  );
}

main().catch((e) => {
  console.error(`cold-start: ${e?.stack ? e.stack : e}`);
  process.exit(1);
});
