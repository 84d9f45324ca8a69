// The boot flow, as a printer runs it: check the system partition; if it is damaged, restore it
// from the newest image that verifies, check it again, and report. A healthy partition (user
// changes included: new jobs, changed settings) is never touched.
import { HealthReport, health, ImageEntry, listImages, RunOptions, run, startRestore } from "./api";
import { BootReport, theHost } from "./host";
import { keyIdText } from "./ops/signature";
import { thePrinter } from "./printer";

/** firmware.boot's result, declared in firmware-module/contract/host-api.json (section 8 of docs/host-api.md). */
export type { BootReport };

export interface Layout {
  system: number;
  recovery: number;
  spool?: number;
}

/** Partition numbers of the profile's roles: the simulator lays partitions out in profile order. */
export function layoutOf(profile: { partitions: Array<{ role: string }> }): Layout {
  const n = (role: string) => profile.partitions.findIndex((p) => p.role === role) + 1;
  return { system: n("system"), recovery: n("recovery"), spool: n("spool") || undefined };
}

export function boot(partition: number, options: RunOptions = {}): BootReport {
  const h = theHost();
  const t0 = h.now();
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    h.log(s);
  };
  const before = health(partition);
  const report: BootReport = { action: "none", partition, before, tried: [], seconds: 0, lines };
  if (!before.restoreNeeded) {
    say(before.ok ? "system partition healthy" : `system partition usable (${before.problems.length} minor notices)`);
    report.seconds = (h.now() - t0) / 1000;
    return report;
  }
  for (const p of before.problems.filter((x) => x.severity === "fatal").slice(0, 5)) say(`damage: ${p.detail}`);
  let images = listImages().filter((i) => i.sourcePartition === partition);
  const resume = before.restoreInProgress;
  if (resume) {
    // a restore was cut off (power loss): finish it from the same image, written differentially
    say(`finishing the interrupted restore from "${resume.name}"`);
    images = [
      ...images.filter((i) => i.headerCheck === resume.headerCheck),
      ...images.filter((i) => i.headerCheck !== resume.headerCheck),
    ];
  }
  if (images.length === 0) {
    say("no image of the system partition to restore from");
    report.action = "no-image";
  }
  for (const img of images) {
    const r = tryImage(img, partition, options, say);
    if (typeof r === "string") {
      report.tried.push({ slot: img.slot, name: img.name, error: r });
      continue;
    }
    report.after = r;
    report.image = { slot: img.slot, name: img.name, kind: img.kind };
    report.action = r.restoreNeeded ? "restore-failed" : "restored";
    if (!r.restoreNeeded) break;
    report.tried.push({ slot: img.slot, name: img.name, error: "the partition is still damaged after the restore" });
  }
  if (report.action === "none") report.action = "restore-failed";
  say(
    report.action === "restored"
      ? `restored from ${report.image!.kind} image "${report.image!.name}" and verified`
      : `restore failed: ${report.tried.map((t) => t.error).join("; ") || "no image"}`,
  );
  report.seconds = (h.now() - t0) / 1000;
  return report;
}

/**
 * Restores from one image (the restore checks every check of the image before it writes
 * anything, and writes only what differs), then checks the partition again; a string on failure.
 */
function tryImage(
  img: ImageEntry,
  partition: number,
  options: RunOptions,
  say: (s: string) => void,
): HealthReport | string {
  if (img.error) return `image in slot ${img.slot} is unreadable: ${img.error}`;
  // the profile's policy: only an image signed by a trusted key, at the minimum security version or above
  if (thePrinter().layout.security?.required) {
    try {
      const f = thePrinter().checkSignature(img.slot);
      say(`image "${img.name}" is signed by trusted key ${keyIdText(f.keyId)}, security version ${f.securityVersion}`);
    } catch (e) {
      const msg = `image "${img.name}" (slot ${img.slot}) is not restored: ${(e as Error).message}`;
      say(msg);
      return msg;
    }
  }
  try {
    say(`restoring from ${img.kind} image "${img.name}" (slot ${img.slot})`);
    const r = run(startRestore({ image: img.slot, partition }), options);
    say(`${r.bytesRead} bytes compared, ${r.bytesWritten} bytes written, read back`);
  } catch (e) {
    const msg = (e as Error).message;
    say(`image "${img.name}" failed: ${msg}`);
    return msg;
  }
  return health(partition);
}
