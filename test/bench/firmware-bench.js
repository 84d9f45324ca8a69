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
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.join(__dirname, "..", "..");
const dist = path.join(root, "dist");
const { loadProfile } = require(path.join(dist, "device-profiles", "src", "load"));
const sim = require(path.join(dist, "simulator", "src", "printer"));
const { Slot } = require(path.join(dist, "host-shim", "src", "core"));

const ROUNDS = Number(process.env.ROUNDS || 7);
const PROFILE = process.env.FW_PROFILE || "office-laser-emmc8g";
const FILL = Number(process.env.FW_FILL_MIB || 256);
const DOC = process.env.FW_DOC === undefined ? path.join(root, "docs", "bench-firmware.md") : process.env.FW_DOC;
const BUDGET = 64 * 1024 * 1024; // the firmware's step (firmware-module/src/api.ts BUDGET)

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
    const times = { node: [], quickjs: [] };
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
    viaQuickJS(); // warm-up: page cache, JIT, QuickJS
    bytes = p.core.results()[Slot.clustersDone] * p.core.results()[Slot.imgClusterBytes];
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2) {
        timed("quickjs", viaQuickJS);
        timed("node", viaNode);
      } else {
        timed("node", viaNode);
        timed("quickjs", viaQuickJS);
      }
    }
    const heap = fw.heapUsed();
    // the Node-only code behind the host API (host-shim/tools/native-lines.js states the rule)
    const nativeLines = require(path.join(root, "host-shim", "tools", "native-lines.js")).count();
    // differential restore: 1% of the used clusters damaged, then restored (default) and --full
    const diff = differential(p, 7);
    fw.dispose();
    p.close();
    const node = median(times.node),
      qjs = median(times.quickjs);
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
      target_ge_0_95: ratio >= 0.95 ? "PASS" : "FAIL",
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
    if (DOC) writeDoc(kv);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Damages 1% of the system partition's used clusters (random bytes), restores differentially, then again with full. */
function differential(p, seed) {
  const { FatTables } = require(path.join(dist, "host-shim", "src", "fat-tables"));
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

function writeDoc(kv) {
  const old = fs.existsSync(DOC) ? fs.readFileSync(DOC, "utf8") : "";
  const m = old.match(/<!-- history -->\n([\s\S]*?)<!-- \/history -->/);
  const rows = m ? m[1].split("\n").filter((l) => l.startsWith("| 20")) : [];
  rows.push(
    `| ${kv.date.slice(0, 16).replace("T", " ")} | ${kv.profile} | ${kv.restored_bytes} | ${kv.node_MBps} | ${kv.quickjs_MBps} | ${kv.ratio_quickjs_over_node} | ${kv.host_calls_per_restore} |`,
  );
  const L = [
    "# Benchmark: a restore driven from QuickJS against the same restore driven from Node",
    "",
    "Written by `npm run bench` (`test/bench/firmware-bench.js`, which says what is timed). The firmware module,",
    "running in QuickJS, calls the host once per 64 MiB step; the Node side calls the same `PrinterHost.step` in a",
    "loop. Same simulated printer, same wasm core, same image (the factory image, slot 0), read-back on, writes made",
    "at once (no writer thread, as on a printer); interleaved rounds, order alternating, medians.",
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
    `| QuickJS (firmware.restore) | ${kv.quickjs_restore_s} (${kv.quickjs_min_max_s}) | ${kv.quickjs_MBps} |`,
    "",
    `QuickJS / Node throughput: **${kv.ratio_quickjs_over_node}** (target at least 0.95: ${kv.target_ge_0_95}).`,
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
