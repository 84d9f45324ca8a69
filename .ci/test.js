#!/usr/bin/env node
// npm test: runs tap (its reporter and coverage settings are in .taprc), keeps the raw TAP in
// .tap/raw.tap, and ends with one line of counts and the slowest test files:
//   tests: 3871 passed, 0 failed; 24 files in 9 min 12 s (slowest: ...)
// Arguments go to tap (`npm test -- test/menu.test.ts`, `npm test -- -Rbase`). The exit status
// is tap's. .ci/run reads the same counts from .tap/raw.tap.
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const raw = path.join(root, ".tap", "raw.tap");
fs.mkdirSync(path.dirname(raw), { recursive: true });
fs.rmSync(raw, { force: true });

const tap = path.join(root, "node_modules", "tap", "dist", "esm", "run.mjs");
const r = spawnSync(process.execPath, [tap, `--output-file=${raw}`, ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
const status = r.status ?? 1;
console.log(summary(fs.existsSync(raw) ? fs.readFileSync(raw, "utf8") : ""));
process.exit(status);

/** The closing line from the raw TAP: tap's "# { total: N, pass: P, ... }" and the files' times. */
function summary(text) {
  const counts = [...text.matchAll(/^# \{ total: (\d+)(.*) \}$/gm)].pop();
  if (!counts)
    return `tests: no summary in ${path.relative(root, raw)} (the run did not finish${r.signal ? `: ${r.signal}` : ""})`;
  const n = (k) => Number((counts[2].match(new RegExp(`\\b${k}: (\\d+)`)) || [])[1] || 0);
  const files = [...text.matchAll(/^(not ok|ok) \d+ - (\S+)(?: # (?:time=([\d.]+)ms|SKIP|TODO).*)?$/gm)];
  const slow = files
    .filter((f) => f[3])
    .sort((a, b) => b[3] - a[3])
    .slice(0, 3)
    .map((f) => `${f[2]} ${Math.round(f[3] / 1000)} s`);
  const wall = Number((text.match(/^# time=([\d.]+)ms\s*$/m) || [])[1] || 0) / 1000;
  const extra = [n("skip") && `${n("skip")} skipped`, n("todo") && `${n("todo")} todo`].filter(Boolean);
  const failedFiles = files.filter((f) => f[1] === "not ok").map((f) => f[2]);
  return (
    `tests: ${n("pass")} passed, ${n("fail")} failed${extra.length ? `, ${extra.join(", ")}` : ""}; ` +
    `${files.length} file${files.length === 1 ? "" : "s"} in ${wall >= 60 ? `${Math.floor(wall / 60)} min ` : ""}${Math.round(wall % 60)} s` +
    (slow.length ? ` (slowest: ${slow.join(", ")})` : "") +
    (failedFiles.length ? `\nfailed: ${failedFiles.join(", ")}` : "")
  );
}
