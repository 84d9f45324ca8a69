// Exclusions (issue 6, item 1): files left out of an image are not stored, and the restored
// volume holds them as empty files, consistent (FatReader's check and fsck.fat -n clean), with
// every other file byte-identical.

import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { FatReader } from "../firmware-module/src/ops/fat-reader";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { FileDevice } from "../host-shim/src/native/devices";
import { fixtures, unpack } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-excl-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core({ backgroundWrites: false });
const hasFsck = (() => {
  try {
    execFileSync("fsck.fat", ["--help"], { stdio: "ignore" });
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== "ENOENT";
  }
})();

const cases: Array<[string, string[], (p: string) => boolean]> = [
  // a directory by its long name in another case, and a file by its 8.3 name
  ["jobs and README", ["jobs", "\\readme.txt"], (p) => /^Jobs\//.test(p) || p === "README.TXT"],
  // a wildcard inside a directory, by the directory's 8.3 name (FONTSA~1 is "Fonts and Forms")
  ["a glob", ["\\Firmware\\FONTSA~1\\*.TTF"], (p) => /^Firmware\/Fonts and Forms\/.*\.ttf$/i.test(p)],
];

const sha256 = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

for (const f of fixtures.filter((x) => x.kind === "partition" && !x.file.includes("dirty"))) {
  const p = f.partitions[0];
  // the fixture unpacked, and its backup without exclusions, once for both cases (neither case
  // writes the source: each checks it against the hash taken here)
  let shared: { vol: string; sha: string; fullClusters: number } | undefined;
  const prepare = () => {
    if (!shared) {
      const vol = unpack(f, tmp);
      const sha = sha256(vol);
      const full = api.backup(core, vol, { overwrite: true, image: path.join(tmp, "x.cbi.full") });
      fs.rmSync(path.join(tmp, "x.cbi.full"));
      shared = { vol, sha, fullClusters: full.imageClusters };
    }
    return shared;
  };
  t.teardown(() => {
    if (shared) fs.rmSync(shared.vol, { force: true });
  });
  for (const [label, patterns, isExcluded] of cases) {
    t.test(`${f.file} (${p.fsType}): exclude ${label}`, async (t) => {
      const { vol, sha, fullClusters } = prepare();
      const img = path.join(tmp, "x.cbi"),
        target = path.join(tmp, "x.out");
      const r = api.backup(core, vol, { overwrite: true, image: img, exclude: patterns });
      const expected = Object.keys(p.files).filter(isExcluded);
      if (expected.length === 0) {
        t.equal(r.excluded.length, 0);
        return;
      }
      t.same(
        r.excluded.map((e) => e.path.slice(1).replace(/\\/g, "/")).sort(),
        expected.sort(),
        "exactly the matching files are left out",
      );
      const clusters = r.excluded.reduce((a, e) => a + e.clusters, 0);
      t.equal(r.imageClusters, fullClusters - clusters, `${clusters} clusters not stored`);
      // a zero-filled target of the volume's size (sparse: nothing to write)
      fs.writeFileSync(target, "");
      fs.truncateSync(target, fs.statSync(vol).size);
      api.restore(core, img, target);
      // the restored volume read through a FileDevice: only what the reader needs, not all of it
      const head = Buffer.alloc(512),
        hfd = fs.openSync(target, "r");
      try {
        fs.readSync(hfd, head, 0, 512, 0);
      } finally {
        fs.closeSync(hfd);
      }
      const dev = new FileDevice(target, { sectorSize: head[11] | (head[12] << 8) });
      t.teardown(() => dev.close());
      const reader = new FatReader(dev, core);
      t.same(reader.check().problems, [], "the restored volume is consistent");
      for (const [file, sha] of Object.entries(p.files)) {
        const e = reader.lookup(file);
        if (!e) {
          t.fail(`${file} missing`);
          continue;
        }
        if (isExcluded(file)) {
          if (e.size !== 0 || e.firstCluster !== 0)
            t.fail(`${file} should be empty: size ${e.size}, cluster ${e.firstCluster}`);
        } else if (reader.sha256(e) !== sha) t.fail(`${file} differs from the source`);
      }
      t.pass("excluded files are there and empty; every other file is byte-identical");
      if (hasFsck)
        t.doesNotThrow(() => execFileSync("fsck.fat", ["-n", target], { stdio: "pipe" }), "fsck.fat -n clean");
      t.equal(sha256(vol), sha, "the source is not written");
      dev.close();
      fs.rmSync(img);
      fs.rmSync(target);
    });
  }
}

t.test("a pattern that matches nothing is refused by name, and nothing is written", async (t) => {
  const f = fixtures.find((x) => x.file.startsWith("fat16-2k"))!;
  const vol = unpack(f, tmp);
  const img = path.join(tmp, "none.cbi");
  t.throws(
    () => api.backup(core, vol, { overwrite: true, image: img, exclude: ["\\NOPE\\*"] }),
    /--exclude "\\NOPE\\\*": no such file or directory/,
  );
  t.notOk(fs.existsSync(img));
});
