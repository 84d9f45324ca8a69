// Round trips on the committed fixtures (made with mkfs.fat, mtools, sfdisk and sgdisk by
// test/fixtures/volumes/make.sh), with Node alone: FAT12/16/32, 512 and 4096-byte sectors, clusters
// from 512 B to 64 KiB, nearly full, fragmented, deleted files, long names, a dirty volume,
// MBR logical partitions and GPT. Every allocated cluster and the whole system area come back
// byte for byte, verify --against agrees, and the rest of a disk is untouched.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import * as api from "../host-shim/src/cli/api";
import { Core } from "../host-shim/src/native/core";
import { extentOf, fixtures, mustMatch, partitionBytes, unpack, writeSparse } from "./helpers/fixtures";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-fixtures-"));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
const core = new Core();

for (const f of fixtures) {
  for (const p of f.partitions) {
    const label = `${f.file}${p.number ? ` partition ${p.number}` : ""} (${p.fsType})`;
    t.test(label, async (t) => {
      const src = unpack(f, tmp);
      const original = fs.readFileSync(src);
      const ext = extentOf(core, original, p);
      const opts = p.number ? { partition: p.number } : {};
      const info = api.info(core, src, opts);
      t.equal(info.volume?.fsType, p.fsType, "type by cluster count");
      const image = path.join(tmp, "img.cbi");
      const b = api.backup(core, src, { overwrite: true, ...opts, image });
      t.equal(b.imageClusters, info.volume?.usedClusters, `${b.imageClusters} clusters stored`);
      // the target: the same disk with the partition zeroed, or a zero-filled partition file
      const target = path.join(tmp, "target.img");
      const blank = Buffer.from(original);
      blank.fill(0, ext.start * ext.sectorSize, (ext.start + ext.sectors) * ext.sectorSize);
      writeSparse(target, blank);
      const r = api.restore(core, image, target, opts);
      t.equal(r.verified, true, "read back and verified");
      const restored = fs.readFileSync(target);
      const a = partitionBytes(original, ext),
        z = partitionBytes(restored, ext);
      const ranges = mustMatch(core, a, ext.sectorSize);
      let differing = 0;
      for (const [s, e] of ranges) if (Buffer.compare(a.subarray(s, e), z.subarray(s, e)) !== 0) differing++;
      t.equal(differing, 0, `system area and ${ranges.length - 1} allocated clusters identical`);
      const before = ext.start * ext.sectorSize,
        after = (ext.start + ext.sectors) * ext.sectorSize;
      t.ok(
        original.subarray(0, before).equals(restored.subarray(0, before)) &&
          original.subarray(after).equals(restored.subarray(after)),
        "nothing outside the partition changed",
      );
      t.equal(api.verify(core, image, { ...opts, against: target }).ok, true, "verify --against agrees");
      if (f.file.includes("dirty")) t.match(b.notices.join("\n"), /marked dirty/, "the dirty volume is noticed");
      fs.rmSync(src);
      fs.rmSync(target);
      fs.rmSync(image);
    });
  }
}
