#!/usr/bin/env node
// clusterback: the command-line tool. One clear line on stderr and a non-zero exit on failure;
// a progress bar on a terminal; with --json, one JSON result object on stdout.
import { parseArgs } from "node:util";
import { Core, Progress } from "./core";
import * as api from "./api";
import { ClusterbackError, UsageError } from "./errors";

const USAGE = `usage:
  clusterback info <disk-or-partition-or-image> [--partition N] [--ghost] [--json]
  clusterback backup <source> [--partition N] --image <file> [--name NAME] [--exclude PATH]... [--record-unreadable] [--json]
  clusterback backup <source> [--partition N] --ghost [--ghost-name PATH] [--name NAME] [--exclude PATH]... [--json]
  clusterback restore <image> <target> [--partition N] [--full] [--no-verify] [--json]
  clusterback restore --ghost <target> [--partition N] [--ghost-name PATH] [--full] [--no-verify] [--json]
  clusterback verify <image> [--against <target> [--partition N]] [--json]
  clusterback verify --ghost <target> [--partition N] [--ghost-name PATH] [--json]

  <source>/<target>: a partition image file, or a whole disk (file or block device) with
  --partition N (1-based, as the partition table numbers it).
  File systems: FAT12, FAT16, FAT32, exFAT, NTFS. NTFS backups always leave out pagefile.sys,
  swapfile.sys and hiberfil.sys (kept allocated, not stored); --exclude and --ghost are FAT only.
  --sector-size B   sector size of a disk whose table does not tell it (default: detected)
  --exclude PATH    backup: leave out a file, or every file below a directory (long or short
                    names, any case, * and ? in a component); it is kept as an empty file
  --record-unreadable  backup: store clusters the source cannot read as zeros, marked
                    unreadable in the image (default: fail, naming the files they belong to)
  --ghost           the image is the partition's own ghost file: a hidden, system, read-only,
                    contiguous file inside it, left out of its own image. backup creates or
                    replaces it (the old one stays until the new one is complete); restore and
                    verify find it through its directory, or, when the partition's first
                    sectors are destroyed, by searching the partition for its locator and header;
                    info also searches for it
  --ghost-name PATH the ghost file's path, 8.3 names (default \\RECOVERY.CBI)
  --full            restore: write every cluster (default: read the target first and write
                    only what differs; an interrupted restore is finished by running it again)
  --no-verify       restore: do not read the partition back and compare it with the image
  --quiet           no progress bar

exit status: 0 success, 1 failure (one line on stderr), 2 usage error`;

const options = {
  partition: { type: "string" },
  image: { type: "string" },
  name: { type: "string" },
  against: { type: "string" },
  "sector-size": { type: "string" },
  "no-verify": { type: "boolean" },
  full: { type: "boolean" },
  "record-unreadable": { type: "boolean" },
  exclude: { type: "string", multiple: true },
  ghost: { type: "boolean" },
  "ghost-name": { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

function intOption(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} takes a whole number, not "${v}"`);
  return Number(v);
}

function progressBar(enabled: boolean): ((p: Progress) => void) | undefined {
  if (!enabled) return undefined;
  const t0 = performance.now();
  let last = 0;
  return (p) => {
    const now = performance.now();
    if (now - last < 100 && p.bytesDone < p.bytesTotal) return;
    last = now;
    const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : 0;
    const width = 30, fill = Math.round(frac * width);
    const mbps = p.bytesDone / 1e6 / Math.max(0.001, (now - t0) / 1000);
    process.stderr.write(`\r[${"#".repeat(fill)}${" ".repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mbps.toFixed(0)} MB/s ${p.phase.padEnd(18)}`);
  };
}

function mb(bytes: number): string { return `${(bytes / 1e6).toFixed(1)} MB`; }

function printInfo(r: api.InfoResult): void {
  const out: string[] = [`${r.file}: ${r.kind}, ${r.sizeBytes} bytes`];
  if (r.table) {
    out.push(`partition table: ${r.table.scheme.toUpperCase()}, ${r.table.sectorSize}-byte sectors`);
    for (const p of r.table.partitions) {
      const type = p.typeGuid ?? `0x${p.type.toString(16).padStart(2, "0")}`;
      out.push(`  ${String(p.number).padStart(2)}  start ${p.startLba}  sectors ${p.sectorCount}  type ${type}${r.partition?.number === p.number ? "  <-" : ""}`);
    }
  }
  if (r.volume) {
    const v = r.volume;
    out.push(`file system: ${v.fsType}, ${v.bytesPerSector}-byte sectors, ${v.clusterBytes}-byte clusters, ${v.totalSectors} sectors`);
    out.push(`clusters: ${v.clusterCount} total, ${v.usedClusters} used, ${v.freeClusters} free, ${v.badClusters} bad`);
    out.push(`used: ${mb(v.usedBytes)}; an image would be ${mb(v.imageBytes)}`);
    for (const n of v.notices) out.push(`notice: ${n}`);
  }
  if (r.volumeError) out.push(r.volumeError);
  if (r.ghost) {
    const g = r.ghost;
    out.push(`ghost image ${g.path ?? "(no directory entry)"}: sectors ${g.startSector}..${g.startSector + g.sectors - 1}, found by ${g.foundBy}${g.image ? `; "${g.image.name}", ${g.image.imageClusters} clusters, ${mb(g.image.imageBytes)}, created ${g.image.created}` : ""}`);
  }
  if (r.image) {
    const i = r.image;
    out.push(`image "${i.name}", format ${i.version}, created ${i.created}`);
    out.push(`${i.fsType}: ${i.imageClusters} of ${i.partitionClusters} clusters of ${i.clusterBytes} bytes stored; partition ${i.partitionSectors} sectors of ${i.sectorBytes} bytes, type 0x${i.partitionType.toString(16)}${i.partitionTypeGuid ? " " + i.partitionTypeGuid : ""}`);
    out.push(`image ${i.imageBytes} bytes in ${i.blocks} blocks${i.sourceDirty ? "; the source was marked dirty" : ""}`);
  }
  console.log(out.join("\n"));
}

export function main(argv: string[]): number {
  let json = false;
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    json = values.json ?? false;
    if (values.help || positionals.length === 0) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    const [command, ...args] = positionals;
    const partition = intOption(values.partition, "--partition");
    const sectorSize = intOption(values["sector-size"], "--sector-size");
    const onProgress = progressBar(!json && !values.quiet && process.stderr.isTTY === true);
    const core = new Core();
    const need = (n: number, what: string) => {
      if (args.length !== n) throw new UsageError(`${command} takes ${what} (got ${args.length} arguments); see clusterback --help`);
    };
    let result: object;
    switch (command) {
      case "info":
        need(1, "one file");
        result = api.info(core, args[0], { partition, sectorSize, ghost: values.ghost, ghostName: values["ghost-name"] });
        if (!json) printInfo(result as api.InfoResult);
        break;
      case "backup": {
        need(1, "one source");
        if (values.ghost && values.image) throw new UsageError("backup takes --image <file> or --ghost, not both");
        if (!values.image && !values.ghost) throw new UsageError("backup needs --image <file> or --ghost");
        if (values["ghost-name"] && !values.ghost) throw new UsageError("--ghost-name goes with --ghost");
        const common = { partition, sectorSize, name: values.name, unreadable: values["record-unreadable"] ? "record" as const : "fail" as const, exclude: values.exclude, onProgress };
        const r = values.ghost ? api.backupGhost(core, args[0], { ...common, ghostName: values["ghost-name"] }) : api.backup(core, args[0], { ...common, image: values.image! });
        if (onProgress) process.stderr.write("\n");
        for (const n of r.notices) if (!json) console.error(`notice: ${n}`);
        if (!json) console.log(`backed up ${r.fsType} ${args[0]}${partition ? ` partition ${partition}` : ""}: ${r.imageClusters} clusters (${mb(r.usedBytes)} used) into ${r.image} (${mb(r.imageBytes)}) in ${r.seconds.toFixed(2)} s${r.excluded.length ? `; left out (kept empty): ${r.excluded.map((f) => f.path).join(", ")}` : ""}`);
        result = r;
        break;
      }
      case "restore": {
        if (values["ghost-name"] && !values.ghost) throw new UsageError("--ghost-name goes with --ghost");
        const runOpts = { partition, sectorSize, verify: !values["no-verify"], full: values.full, onProgress };
        let r: api.RestoreResult;
        if (values.ghost) {
          need(1, "a target (with --ghost, the image is the target's own ghost file)");
          r = api.restoreGhost(core, args[0], { ...runOpts, ghostName: values["ghost-name"] });
        } else {
          need(2, "an image and a target");
          r = api.restore(core, args[0], args[1], runOpts);
        }
        if (onProgress) process.stderr.write("\n");
        if (!json) console.log(`restored ${r.fsType} from ${r.image} to ${r.target}${r.partition ? ` partition ${r.partition}` : ""}${r.resumed ? " (finishing an interrupted restore)" : ""}: ${r.clustersWritten} clusters, ${mb(r.bytesRead)} read and compared, ${mb(r.bytesWritten)} written${r.verified ? ", verified" : ""} in ${r.seconds.toFixed(2)} s${r.unreadableClusters ? `; ${r.unreadableClusters} clusters were unreadable at backup time and are zeros now` : ""}`);
        result = r;
        break;
      }
      case "verify": {
        need(1, values.ghost ? "one target (with --ghost, the image is the target's own ghost file)" : "one image");
        if (values["ghost-name"] && !values.ghost) throw new UsageError("--ghost-name goes with --ghost");
        if (values.ghost && values.against) throw new UsageError("verify --ghost compares the target with its own ghost image: --against does not go with it");
        if (partition !== undefined && !values.against && !values.ghost) throw new UsageError("--partition goes with --against");
        const r = values.ghost
          ? api.verifyGhost(core, args[0], { partition, sectorSize, ghostName: values["ghost-name"], onProgress })
          : api.verify(core, args[0], { against: values.against, partition, sectorSize, onProgress });
        if (onProgress) process.stderr.write("\n");
        if (!r.ok) {
          if (json) console.log(JSON.stringify(r));
          console.error(`clusterback: verify: ${r.against} ${api.describeMismatch(r)}`);
          return 1;
        }
        if (!json) console.log(`image ${r.image} is intact: ${r.imageClusters} clusters checked${r.against ? `; ${r.against} matches it` : ""}`);
        result = r;
        break;
      }
      default:
        throw new UsageError(`unknown command "${command}"; see clusterback --help`);
    }
    if (json) console.log(JSON.stringify({ ok: true, ...result }));
    return 0;
  } catch (e) {
    const err = e as Error;
    const usage = e instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith?.("ERR_PARSE_ARGS");
    const message = e instanceof ClusterbackError || usage ? err.message : `internal error: ${err.stack ?? err.message}`;
    if (json) console.log(JSON.stringify({ ok: false, error: err.name, message }));
    console.error(`clusterback: ${message.split("\n")[0]}`);
    return usage ? 2 : 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
