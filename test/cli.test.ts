// The CLI contract: exit 0 on success; on failure a non-zero exit and one clear line on
// stderr; --json prints one JSON object. Runs the built CLI (npm test builds it first).

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { buildMiniFat } from "./helpers/mini-fat";

const cli = path.join(__dirname, "..", "dist", "host-shim", "src", "cli", "cli.js");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-cli-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const vol = buildMiniFat({ fsType: 32 });
const src = path.join(tmp, "sys.img");
fs.writeFileSync(src, vol.bytes);
const img = path.join(tmp, "sys.cbi");

t.test("info, backup, verify, restore, verify --against", async (t) => {
  let r = run("info", src, "--json");
  t.equal(r.code, 0, r.err);
  const info = JSON.parse(r.out);
  t.equal(info.ok, true);
  t.equal(info.volume.fsType, "FAT32");
  t.equal(info.volume.usedClusters, vol.allocated.length);

  r = run("backup", src, "--image", img, "--name", "factory", "--json");
  t.equal(r.code, 0, r.err);
  const b = JSON.parse(r.out);
  t.equal(b.imageClusters, vol.allocated.length);
  t.equal(b.name, "factory");
  t.equal(r.out.trim().split("\n").length, 1, "one JSON object");

  r = run("info", img);
  t.equal(r.code, 0);
  t.match(r.out, /image "factory", format 1\.2/);

  r = run("verify", img);
  t.equal(r.code, 0);
  t.match(r.out, /is intact/);

  const dst = path.join(tmp, "dst.img");
  fs.writeFileSync(dst, Buffer.alloc(vol.bytes.length));
  r = run("restore", img, dst);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /restored FAT32 .* verified/);
  t.ok(fs.readFileSync(dst).equals(Buffer.from(vol.bytes)));

  // change one stored cluster on the target: verify --against finds it
  const at = (vol.firstDataSector + (vol.allocated[3] - 2)) * 512 + 17;
  const d = fs.readFileSync(dst);
  d[at] ^= 0xff;
  fs.writeFileSync(dst, d);
  r = run("verify", img, "--against", dst);
  t.equal(r.code, 1);
  t.match(
    r.err,
    new RegExp(
      `^clusterback: verify: .* 1 clusters differ from the image \\(first: cluster ${vol.allocated[3]}\\)\\n$`,
    ),
  );
  r = run("verify", img, "--against", dst, "--json");
  t.equal(JSON.parse(r.out).ok, false);
});

t.test("failures: one line on stderr, non-zero exit, JSON error object", async (t) => {
  const cases: [string[], number, RegExp][] = [
    [["backup", src], 2, /backup needs --image <file>/],
    [["frobnicate", src], 2, /unknown command "frobnicate"/],
    [["info"], 2, /info takes one file \(got 0 arguments\)/],
    [["info", src, "--partition", "x"], 2, /--partition takes a whole number, not "x"/],
    [["info", src, "--bogus"], 2, /^clusterback: unknown option --bogus; see clusterback --help$/m],
    [["info", path.join(tmp, "missing.img")], 2, /missing\.img: no such file/],
    [["restore", path.join(tmp, "missing.cbi"), src], 2, /missing\.cbi: no such image file/],
    [["verify", src], 1, /not a clusterback image/],
    [["restore", src, src], 2, /sys\.img would be written over by its own image; nothing was written/],
  ];
  for (const [args, code, message] of cases) {
    const r = run(...args);
    t.equal(r.code, code, `${args.join(" ")}: exit ${code}`);
    t.match(r.err, message);
    t.equal(r.err.trim().split("\n").length, 1, "one line");
    const j = run(...args, "--json");
    if (code === 1) t.equal(JSON.parse(j.out).ok, false, "--json gives an error object");
  }
  const r = run("--help");
  t.equal(r.code, 0);
  t.match(r.out, /clusterback restore <image\|-> <target>/);
});
