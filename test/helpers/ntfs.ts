// What the NTFS tests read back: every file through the portable MFT reader (resident or not),
// every file through ntfs-3g's ntfsls and ntfscat, and ntfs-3g's verdicts on a volume (ntfsfix -n,
// and ntfsresize -i -f, whose cluster accounting compares every record's clusters with $Bitmap).

import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import { RamDevice } from "../../firmware-module/src/ops/devices";
import { attributes, MftReader, MftRecord, ntfsFilePaths } from "../../firmware-module/src/ops/ntfs-mft";

const sha256 = (b: Uint8Array) => crypto.createHash("sha256").update(b).digest("hex");

export const hasNtfs3g =
  spawnSync("sh", ["-c", ["ntfsls", "ntfscat", "ntfsfix", "ntfsresize"].map((x) => `command -v ${x}`).join(" && ")])
    .status === 0;

/** Every file (its backslash path from the root) but those `skip` matches, with its bytes' sha256, read by the portable MFT reader; and the clusters $Bitmap marks. */
export function ntfsFiles(bytes: Uint8Array, skip?: RegExp): { files: Record<string, string>; used: number } {
  const mft = new MftReader(new RamDevice(bytes[11] | (bytes[12] << 8), bytes));
  const files: Record<string, string> = {};
  for (const { record: n, long: p } of ntfsFilePaths(mft)) {
    if (skip?.test(p)) continue;
    const rec = mft.record(n)!;
    const r = new MftRecord(n, rec);
    const data = attributes(r).find((a) => a.type === 0x80 && a.name === "");
    if (!data) continue;
    files[p] = sha256(
      data.resident ? r.value(data, "$DATA") : mft.readRuns(mft.dataRuns(n, rec), 0, r.count("size", data.at + 48)),
    );
  }
  const bm = mft.readRuns(mft.dataRuns(6, mft.record(6)!), 0, Math.ceil(mft.g.clusterCount / 8));
  let used = 0;
  for (let c = 0; c < mft.g.clusterCount; c++) used += (bm[c >> 3] >> (c & 7)) & 1;
  return { files, used };
}

/** Every file under `dir` as ntfsls lists and ntfscat reads it (ntfs-3g only), by backslash path; those `skip` matches left out. */
export function ntfscatAll(file: string, skip?: RegExp, dir = "/"): Record<string, string> {
  const out: Record<string, string> = {};
  const ls = spawnSync("ntfsls", ["-f", "-F", "-p", dir, file], { encoding: "utf8" });
  for (const line of ls.stdout.split("\n").filter(Boolean)) {
    if (line.startsWith("$") || /^\.\.?\/?$/.test(line) || skip?.test(line.replace(/\/$/, ""))) continue;
    const full = `${dir === "/" ? "" : dir}/${line.replace(/\/$/, "")}`;
    if (line.endsWith("/")) Object.assign(out, ntfscatAll(file, skip, full));
    else {
      const cat = spawnSync("ntfscat", ["-f", file, full], { maxBuffer: 1 << 26 });
      out[full.replace(/\//g, "\\")] = cat.status === 0 ? sha256(cat.stdout) : `unreadable (${cat.status})`;
    }
  }
  return out;
}

/** ntfsfix -n and ntfsresize -i -f on a volume file: "" when both find nothing wrong, else what they said. */
export function ntfsCheck(file: string): string {
  const fix = spawnSync("ntfsfix", ["-n", file], { encoding: "utf8" });
  if (fix.status !== 0 || !/processed successfully/.test(fix.stdout)) return `ntfsfix -n: ${fix.stdout}${fix.stderr}`;
  const rs = spawnSync("ntfsresize", ["-i", "-f", "-n", file], { encoding: "utf8" });
  if (rs.status !== 0 || /error|fail|inconsist/i.test(rs.stdout.replace(/Accounting clusters/g, "") + rs.stderr))
    return `ntfsresize -i -f: ${rs.stdout}${rs.stderr}`;
  return "";
}
