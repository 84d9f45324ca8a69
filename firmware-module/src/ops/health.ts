// The system partition's health, as the firmware checks it at boot: the boot record is sane,
// the FAT copies agree, FSInfo is plausible, the directory tree walks, and the files of the
// manifest kept with the newest image are all there with the same contents.
// Damage that a printer must repair is "fatal"; what an unclean shutdown or ordinary use leaves
// behind (lost clusters, a stale FSInfo count) is "minor" and never triggers a restore.

import { Core } from "./core";
import { BlockDevice } from "./devices";
import { matchFiles } from "./exclusions";
import { FatEntry, FatReader, Problem } from "./fat-reader";
import { describeMark, RestoreMark, readRestoreMark } from "./restore-mark";

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
}
export interface Manifest {
  version: 1;
  created: number;
  paths: string[];
  files: ManifestFile[];
}

export interface HealthProblem {
  kind: string;
  severity: "fatal" | "minor";
  detail: string;
  path?: string;
}
export interface HealthReport {
  ok: boolean;
  /** A fatal problem was found: the partition should be restored. */
  restoreNeeded: boolean;
  problems: HealthProblem[];
  files: number;
  manifestFiles: number;
  /** An interrupted restore's mark is on the partition: finish that restore (from that image). */
  restoreInProgress?: RestoreMark;
}

const MINOR = new Set(["fsinfo", "lost-clusters"]);

/** The manifest of a partition's files under `patterns` (exclusions.ts matchFiles): path, size and SHA-256 of each. */
export function buildManifest(core: Core, partition: BlockDevice, patterns: string[], now: number): Manifest {
  const reader = new FatReader(partition, core);
  const entries = matchFiles(reader, patterns).files;
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    version: 1,
    created: Math.floor(now / 1000),
    paths: patterns,
    files: entries.map((e) => ({ path: e.path, size: e.size, sha256: reader.sha256(e) })),
  };
}

export function checkHealth(core: Core, partition: BlockDevice, manifest: Manifest | undefined): HealthReport {
  const problems: HealthProblem[] = [];
  const mark = readRestoreMark(core, partition);
  if (mark) {
    problems.push({ kind: "restore-in-progress", severity: "fatal", detail: describeMark(mark) });
    return {
      ok: false,
      restoreNeeded: true,
      problems,
      files: 0,
      manifestFiles: manifest?.files.length ?? 0,
      restoreInProgress: mark,
    };
  }
  let reader: FatReader;
  try {
    reader = new FatReader(partition, core);
  } catch (e) {
    problems.push({
      kind: "boot",
      severity: "fatal",
      detail: `the boot record is not usable: ${(e as Error).message}`,
    });
    return { ok: false, restoreNeeded: true, problems, files: 0, manifestFiles: manifest?.files.length ?? 0 };
  }
  let files = 0;
  // the manifest's files as the walk meets them (looked up again only when the walk did not reach one)
  const wanted = new Set((manifest?.files ?? []).map((f) => f.path.toUpperCase()));
  const met = new Map<string, FatEntry>();
  const visit = (e: FatEntry) => {
    if (wanted.has(e.path.toUpperCase())) met.set(e.path.toUpperCase(), e);
  };
  try {
    const check = reader.check({ visit });
    files = check.files;
    for (const p of check.problems) problems.push(fromProblem(p));
  } catch (e) {
    problems.push({
      kind: "dir-unreadable",
      severity: "fatal",
      detail: `the directory tree cannot be walked: ${(e as Error).message}`,
    });
  }
  for (const f of manifest?.files ?? []) {
    const p = manifestProblem(reader, f, met.get(f.path.toUpperCase()));
    if (p) problems.push(p);
  }
  const restoreNeeded = problems.some((p) => p.severity === "fatal");
  return { ok: problems.length === 0, restoreNeeded, problems, files, manifestFiles: manifest?.files.length ?? 0 };
}

function fromProblem(p: Problem): HealthProblem {
  return {
    kind: p.kind,
    severity: MINOR.has(p.kind) ? "minor" : "fatal",
    detail: p.detail,
    ...(p.path ? { path: p.path } : {}),
  };
}

function manifestProblem(reader: FatReader, f: ManifestFile, met: FatEntry | undefined): HealthProblem | undefined {
  let e: FatEntry | undefined = met;
  try {
    e ??= reader.lookup(f.path);
  } catch (err) {
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `${f.path} cannot be looked up: ${(err as Error).message}`,
    };
  }
  if (!e || e.isDirectory)
    return { kind: "critical-file", severity: "fatal", path: f.path, detail: `critical file ${f.path} is missing` };
  if (e.size !== f.size)
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `critical file ${f.path} is ${e.size} bytes; the image's manifest says ${f.size}`,
    };
  let sum: string;
  try {
    sum = reader.sha256(e);
  } catch (err) {
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `critical file ${f.path} cannot be read: ${(err as Error).message}`,
    };
  }
  if (sum !== f.sha256)
    return {
      kind: "critical-file",
      severity: "fatal",
      path: f.path,
      detail: `critical file ${f.path} has changed (SHA-256 ${sum.slice(0, 12)}..., manifest ${f.sha256.slice(0, 12)}...)`,
    };
  return undefined;
}
