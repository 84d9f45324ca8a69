#!/usr/bin/env node
// clusterback: the command-line tool. One clear line on stderr and a non-zero exit on failure;
// a progress bar on a terminal; with --json, one JSON result object on stdout.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { ClusterbackError, UsageError } from "../../../firmware-module/src/ops/errors";
import { keyIdText } from "../../../firmware-module/src/ops/signature";
import { Core, findPackageRoot, Progress } from "../native/core";
import * as api from "./api";

const COMMANDS: Record<string, { usage: string; about: string }> = {
  info: {
    usage: "clusterback info <disk-or-partition-or-image> [--partition N] [--ghost] [--sector-size B] [--json]",
    about:
      "Shows a disk's partition table, a partition's file system (type, sizes, used clusters, notices), or an image's header. Writes nothing.",
  },
  backup: {
    usage:
      "clusterback backup <source> [--partition N] --image <file|device|-> [--overwrite] [--name NAME] [--exclude PATH]... [--record-unreadable] [--sign KEY [--security-version N]] [--json]\n  clusterback backup <source> [--partition N] --ghost [--ghost-name PATH] [--name NAME] [--exclude PATH]... [--json]",
    about:
      "Images the allocated clusters of a partition. --image FILE writes under a temporary name and renames it when complete (an existing FILE needs --overwrite); a block device is written in place (--overwrite when it holds an image or a file system); - or a FIFO is a stream, written front to back (pipe it through gzip, ssh, nc).",
  },
  restore: {
    usage:
      "clusterback restore <image|-> <target> [--partition N | --whole-disk] [--full] [--no-verify] [--key PUB]... [--min-version N] [--json]\n  clusterback restore --ghost <target> [--partition N] [--ghost-name PATH] [--full] [--no-verify] [--json]",
    about:
      "Writes a partition back from an image. From a file, nothing is written until the whole image checks out; from a stream (- or a FIFO) it is restored in one pass and the target stays marked (unmountable) unless the whole stream checks out. A target with a partition table needs --partition N (or --whole-disk to write over the table).",
  },
  verify: {
    usage:
      "clusterback verify <image|-> [--against <target> [--partition N]] [--key PUB]... [--min-version N] [--json]\n  clusterback verify --ghost <target> [--partition N] [--ghost-name PATH] [--json]",
    about:
      "Checks every check of an image; with --against, compares a partition with it cluster by cluster; with --key, requires the image to be signed by that key (or one of them) at --min-version or above. Writes nothing.",
  },
  keygen: {
    usage: "clusterback keygen <name> [--json]",
    about:
      "Makes an Ed25519 key pair for signing images: <name>.key (the private key, PKCS#8 PEM, readable by its owner only: keep it on the signing station) and <name>.pub (the public key, SPKI PEM: give it to whoever restores). OpenSSL reads both.",
  },
  sign: {
    usage: "clusterback sign <image> --key KEY [--security-version N] [--json]",
    about:
      "Signs an image after the fact (a factory line): checks every check of it, taking its SHA-256 as it reads, and writes the signature section after its commit record, replacing one that is there. The image's own bytes are not rewritten.",
  },
};

const OPTIONS_HELP = `  <source>/<target>: a partition image file, or a whole disk (file or block device) with
  --partition N (1-based, as the partition table numbers it).
  File systems: FAT12, FAT16, FAT32, exFAT, NTFS. NTFS backups always leave out pagefile.sys,
  swapfile.sys and hiberfil.sys (kept allocated, not stored); --ghost works on all of them.
  --partition N     the partition of a disk to read or write
  --whole-disk      restore: write the volume at sector 0 of a disk that has a partition table
  --overwrite       backup: replace an existing image file, or write over a device holding one
  --sector-size B   sector size of a disk whose table does not tell it: 512, 1024, 2048 or 4096
  --exclude PATH    backup: leave out a file, or every file below a directory (long or short
                    names, any case, * and ? in a component). FAT, exFAT: it is kept as an
                    empty file; NTFS: kept allocated with its size, its clusters not stored (as the
                    page file; a restore leaves there what the target held)
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
  --no-verify       restore: do not read back what was written and compare it with the image
  --sign KEY        backup: sign the image with this private key (PEM; clusterback keygen)
  --security-version N  backup, sign: the image's security version (default 0); a printer
                    or --min-version refuses images below its minimum (no rollback)
  --key PUB         verify, restore: accept only an image signed by this public key (PEM;
                    several --key: any of them); restore checks it before writing anything.
                    sign: the private key to sign with
  --min-version N   verify, restore: with --key, refuse a security version below N
  --json            one JSON object on stdout (on stderr when the image goes to stdout)
  --quiet           no progress bar
  --version, -V     the version
  --help, -h        this text (clusterback help CMD, or CMD --help, for one command)

exit status: 0 success, 1 failure (one line on stderr), 2 the command cannot run as typed
(an unknown option, a missing or wrong file, a refusal that an option such as --partition or
--overwrite resolves)`;

const USAGE = `usage:\n${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join("\n")}\n\n${OPTIONS_HELP}`;

function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return `usage:\n  ${c.usage}\n\n${c.about}\n\n${OPTIONS_HELP}`;
}

function version(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(findPackageRoot(), "package.json"), "utf8")) as {
      version: string;
    };
    return `clusterback ${pkg.version}`;
  } catch {
    return "clusterback (version unknown)";
  }
}

const SECTOR_SIZES = [512, 1024, 2048, 4096];

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
  overwrite: { type: "boolean" },
  "whole-disk": { type: "boolean" },
  sign: { type: "string" },
  key: { type: "string", multiple: true },
  "security-version": { type: "string" },
  "min-version": { type: "string" },
  version: { type: "boolean", short: "V" },
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
    const width = 30,
      fill = Math.round(frac * width);
    const mbps = p.bytesDone / 1e6 / Math.max(0.001, (now - t0) / 1000);
    process.stderr.write(
      `\r[${"#".repeat(fill)}${" ".repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mbps.toFixed(0)} MB/s ${p.phase.padEnd(18)}`,
    );
  };
}

/** Bytes for people: 512 bytes, 28.7 kB, 645.2 MB, 1.07 GB (decimal units, as disks are sold). */
export function size(bytes: number): string {
  if (bytes < 1000) return `${bytes} bytes`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = bytes / 1000,
    u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}
const mb = size;

/** Node's parser errors, said in this tool's words. */
function parseError(e: NodeJS.ErrnoException & Error): UsageError {
  const opt = /'(-[^']*)'/.exec(e.message)?.[1];
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
    return new UsageError(`unknown option ${opt ?? e.message}; see clusterback --help`);
  if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE")
    return new UsageError(
      `option ${opt ?? ""} ${/argument missing/.test(e.message) ? "needs a value" : "takes no value"}; see clusterback --help`,
    );
  return new UsageError(`${e.message.replace(/\s+To specify.*$/s, "")}; see clusterback --help`);
}

function printInfo(r: api.InfoResult): void {
  const out: string[] = [`${r.file}: ${r.kind}, ${r.sizeBytes} bytes`];
  if (r.table) {
    out.push(`partition table: ${r.table.scheme.toUpperCase()}, ${r.table.sectorSize}-byte sectors`);
    for (const p of r.table.partitions) {
      const type = p.typeGuid ?? `0x${p.type.toString(16).padStart(2, "0")}`;
      out.push(
        `  ${String(p.number).padStart(2)}  start ${p.startLba}  sectors ${p.sectorCount}  type ${type}${r.partition?.number === p.number ? "  <-" : ""}${p.problem ? `  problem: ${p.problem}` : ""}`,
      );
    }
    for (const w of r.table.warnings ?? []) out.push(`notice: ${w}`);
  }
  if (r.volume) {
    const v = r.volume;
    out.push(
      `file system: ${v.fsType}, ${v.bytesPerSector}-byte sectors, ${v.clusterBytes}-byte clusters, ${v.totalSectors} sectors`,
    );
    out.push(`clusters: ${v.clusterCount} total, ${v.usedClusters} used, ${v.freeClusters} free, ${v.badClusters} bad`);
    out.push(`used: ${mb(v.usedBytes)}; an image would be ${mb(v.imageBytes)}`);
    for (const n of v.notices) out.push(`notice: ${n}`);
  }
  if (r.volumeError) out.push(r.volumeError);
  if (r.ghost) {
    const g = r.ghost;
    out.push(
      `ghost image ${g.path ?? "(no directory entry)"}: sectors ${g.startSector}..${g.startSector + g.sectors - 1}, found by ${g.foundBy}${g.image ? `; "${g.image.name}", ${g.image.imageClusters} clusters, ${mb(g.image.imageBytes)}, created ${g.image.created}` : ""}`,
    );
  }
  if (r.image) {
    const i = r.image;
    out.push(`image "${i.name}", format ${i.version}, created ${i.created}`);
    out.push(
      `${i.fsType}: ${i.imageClusters} of ${i.partitionClusters} clusters of ${i.clusterBytes} bytes stored; partition ${i.partitionSectors} sectors of ${i.sectorBytes} bytes, type 0x${i.partitionType.toString(16)}${i.partitionTypeGuid ? " " + i.partitionTypeGuid : ""}`,
    );
    out.push(
      `image ${i.imageBytes} bytes in ${i.blocks} blocks${i.sourceDirty ? "; the source was marked dirty" : ""}`,
    );
    out.push(
      r.signature
        ? `signature: key ${r.signature.keyId}, security version ${r.signature.securityVersion} (not checked here: verify --key PUB checks it)`
        : "signature: none (unsigned)",
    );
  }
  console.log(out.join("\n"));
}

export function main(argv: string[]): number {
  let json = false;
  let say = (line: string) => console.log(line); // the human result; stderr when the image goes to stdout
  try {
    let parsed: ReturnType<
      typeof parseArgs<{ args: string[]; options: typeof options; allowPositionals: true; strict: true }>
    >;
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (e) {
      throw parseError(e as NodeJS.ErrnoException & Error);
    }
    const { values, positionals } = parsed;
    json = values.json ?? false;
    if (values.version) {
      console.log(version());
      return 0;
    }
    const [command, ...args] = positionals;
    if (command === "help") {
      if (args.length && !COMMANDS[args[0]])
        throw new UsageError(`unknown command "${args[0]}"; the commands are ${Object.keys(COMMANDS).join(", ")}`);
      console.log(args.length ? commandHelp(args[0]) : USAGE);
      return 0;
    }
    if (values.help && COMMANDS[command]) {
      console.log(commandHelp(command));
      return 0;
    }
    if (values.help || positionals.length === 0) {
      (values.help ? console.log : console.error)(USAGE);
      return values.help ? 0 : 2;
    }
    if (!COMMANDS[command])
      throw new UsageError(
        `unknown command "${command}"; the commands are ${Object.keys(COMMANDS).join(", ")} (see clusterback --help)`,
      );
    const partition = intOption(values.partition, "--partition");
    if (partition !== undefined && partition < 1)
      throw new UsageError(`--partition counts from 1, as the partition table numbers it; not ${partition}`);
    const sectorSize = intOption(values["sector-size"], "--sector-size");
    if (sectorSize !== undefined && !SECTOR_SIZES.includes(sectorSize))
      throw new UsageError(`--sector-size is ${SECTOR_SIZES.join(", ")}; not ${sectorSize}`);
    if (values.overwrite && command !== "backup") throw new UsageError("--overwrite goes with backup --image");
    if (values["whole-disk"] && command !== "restore") throw new UsageError("--whole-disk goes with restore");
    if (values["whole-disk"] && partition !== undefined)
      throw new UsageError("restore takes --partition N or --whole-disk, not both");
    if (values.sign !== undefined && command !== "backup")
      throw new UsageError("--sign goes with backup (to sign an existing image: clusterback sign IMAGE --key KEY)");
    if (values.sign !== undefined && values.ghost)
      throw new UsageError("--sign goes with backup --image; a ghost is signed on the printer");
    if (values.key && !["verify", "restore", "sign"].includes(command))
      throw new UsageError("--key goes with verify, restore or sign");
    if (values.key && values.ghost) throw new UsageError("--key goes with an image file or stream, not --ghost");
    const securityVersion = intOption(values["security-version"], "--security-version");
    if (securityVersion !== undefined && !(command === "sign" || (command === "backup" && values.sign)))
      throw new UsageError("--security-version goes with backup --sign or sign");
    const minVersion = intOption(values["min-version"], "--min-version");
    if (minVersion !== undefined && !values.key)
      throw new UsageError("--min-version goes with --key (verify, restore)");
    const trust =
      values.key && command !== "sign" ? { keys: values.key.map((k) => api.readPublicKey(k)), minVersion } : undefined;
    const signatureLine = (s: api.SignatureSummary | undefined): string =>
      s
        ? s.checked
          ? `signed by trusted key ${s.keyId}, security version ${s.securityVersion}`
          : `signed by key ${s.keyId}, security version ${s.securityVersion} (not checked: give --key PUB)`
        : "unsigned: its origin is not checked (give --key PUB to require a signature)";
    const toStdout =
      command === "backup" &&
      values.image !== undefined &&
      /^(-|\/dev\/stdout|\/dev\/fd\/1|\/proc\/self\/fd\/1)$/.test(values.image);
    if (toStdout) say = (line) => console.error(line);
    const emitJson = (o: object) => (toStdout ? console.error : console.log)(JSON.stringify(o));
    const onProgress = progressBar(!json && !values.quiet && process.stderr.isTTY === true);
    const core = new Core();
    const need = (n: number, what: string) => {
      if (args.length !== n)
        throw new UsageError(
          `${command} takes ${what} (got ${args.length} arguments); see clusterback ${command} --help`,
        );
    };
    let result: object;
    switch (command) {
      case "info":
        need(1, "one file");
        result = api.info(core, args[0], {
          partition,
          sectorSize,
          ghost: values.ghost,
          ghostName: values["ghost-name"],
        });
        if (!json) printInfo(result as api.InfoResult);
        break;
      case "backup": {
        need(1, "one source");
        if (values.ghost && values.image) throw new UsageError("backup takes --image <file> or --ghost, not both");
        if (!values.image && !values.ghost)
          throw new UsageError("backup needs --image <file> (or - for standard output) or --ghost");
        if (values["ghost-name"] && !values.ghost) throw new UsageError("--ghost-name goes with --ghost");
        if (values.overwrite && values.ghost)
          throw new UsageError(
            "--overwrite goes with --image; a ghost backup replaces the ghost only once the new one is complete",
          );
        const common = {
          partition,
          sectorSize,
          name: values.name,
          unreadable: values["record-unreadable"] ? ("record" as const) : ("fail" as const),
          exclude: values.exclude,
          onProgress,
        };
        const r = values.ghost
          ? api.backupGhost(core, args[0], { ...common, ghostName: values["ghost-name"] })
          : api.backup(core, args[0], {
              ...common,
              image: values.image!,
              overwrite: values.overwrite,
              sign: values.sign ? { keyFile: values.sign, securityVersion } : undefined,
            });
        if (onProgress) process.stderr.write("\n");
        for (const n of r.notices) if (!json) console.error(`notice: ${n}`);
        if (!json && "signature" in r && r.signature)
          say(`signed with key ${r.signature.keyId}, security version ${r.signature.securityVersion}`);
        if (!json)
          say(
            `backed up ${r.fsType} ${args[0]}${partition ? ` partition ${partition}` : ""}: ${r.imageClusters} clusters (${mb(r.usedBytes)} used) into ${r.image === "-" ? "standard output" : r.image} (${mb(r.imageBytes)}) in ${r.seconds.toFixed(2)} s${r.excluded.length ? `; left out (${r.fsType === "NTFS" ? "kept allocated, not stored" : "kept empty"}): ${r.excluded.map((f) => f.path).join(", ")}` : ""}`,
          );
        result = r;
        break;
      }
      case "restore": {
        if (values["ghost-name"] && !values.ghost) throw new UsageError("--ghost-name goes with --ghost");
        const runOpts = {
          partition,
          sectorSize,
          verify: !values["no-verify"],
          full: values.full,
          wholeDisk: values["whole-disk"],
          onProgress,
        };
        let r: api.RestoreResult;
        if (values.ghost) {
          need(1, "a target (with --ghost, the image is the target's own ghost file)");
          r = api.restoreGhost(core, args[0], { ...runOpts, ghostName: values["ghost-name"] });
        } else {
          need(2, "an image and a target");
          r = api.restore(core, args[0], args[1], { ...runOpts, trust });
        }
        if (onProgress) process.stderr.write("\n");
        if (!json && !values.ghost && !r.signature?.checked)
          console.error(`notice: ${r.image} is ${signatureLine(r.signature)}`);
        if (!json)
          say(
            `restored ${r.fsType} from ${r.image} to ${r.target}${r.partition ? ` partition ${r.partition}` : ""}${r.resumed ? " (finishing an interrupted restore)" : ""}: ${r.imageClusters} clusters in place; ${mb(r.bytesWritten)} written, ${mb(r.bytesRead)} read from the target (${mb(r.bytesCompared)} to compare)${r.verified ? ", verified" : ""} in ${r.seconds.toFixed(2)} s${r.unreadableClusters ? `; ${r.unreadableClusters} clusters were unreadable at backup time and are zeros now` : ""}`,
          );
        result = r;
        break;
      }
      case "verify": {
        need(1, values.ghost ? "one target (with --ghost, the image is the target's own ghost file)" : "one image");
        if (values["ghost-name"] && !values.ghost) throw new UsageError("--ghost-name goes with --ghost");
        if (values.ghost && values.against)
          throw new UsageError(
            "verify --ghost compares the target with its own ghost image: --against does not go with it",
          );
        if (partition !== undefined && !values.against && !values.ghost)
          throw new UsageError("--partition goes with --against");
        const r = values.ghost
          ? api.verifyGhost(core, args[0], { partition, sectorSize, ghostName: values["ghost-name"], onProgress })
          : api.verify(core, args[0], { against: values.against, partition, sectorSize, onProgress, trust });
        if (onProgress) process.stderr.write("\n");
        if (!r.ok) {
          if (json)
            console.log(
              JSON.stringify({
                ...r,
                ok: false,
                error: "Mismatch",
                message: `${r.against} ${api.describeMismatch(r)}`,
              }),
            );
          console.error(`clusterback: verify: ${r.against} ${api.describeMismatch(r)}`);
          return 1;
        }
        if (!json)
          say(
            `image ${r.image} is intact: ${r.imageClusters} clusters checked${r.against ? `; ${r.against} matches it` : ""}${values.ghost ? "" : `; ${signatureLine((r as api.VerifyResult).signature)}`}`,
          );
        result = r;
        break;
      }
      case "keygen": {
        need(1, "a name for the key files (NAME.key and NAME.pub)");
        const k = api.generateKeys(args[0]);
        const r = { privateKey: k.privateFile, publicKey: k.publicFile, keyId: keyIdText(k.keyId) };
        if (!json)
          say(
            `key ${r.keyId}: private key ${r.privateKey} (keep it secret, on the signing station), public key ${r.publicKey} (for verify and restore --key, and the printers' profiles)`,
          );
        result = r;
        break;
      }
      case "sign": {
        need(1, "one image");
        if (values.key?.length !== 1) throw new UsageError("sign takes one --key: the private key to sign with");
        const r = api.sign(core, args[0], values.key[0], securityVersion ?? 0);
        if (!json)
          say(
            `signed ${r.image} (${r.imageClusters} clusters checked) with key ${r.signature.keyId}, security version ${r.signature.securityVersion}${r.replaced ? `; it replaces the signature by key ${r.replaced.keyId}, security version ${r.replaced.securityVersion}` : ""}`,
          );
        result = r;
        break;
      }
      default:
        throw new UsageError(`unknown command "${command}"; see clusterback --help`);
    }
    if (json) emitJson({ ok: true, ...result });
    return 0;
  } catch (e) {
    const err = e as Error;
    const usage = e instanceof UsageError;
    const known = e instanceof ClusterbackError;
    const message = known ? err.message : `internal error: ${err.message}`;
    if (json) console.log(JSON.stringify({ ok: false, error: known ? err.name : "InternalError", message }));
    console.error(`clusterback: ${message.split("\n")[0]}`);
    if (!known && process.env.CLUSTERBACK_DEBUG) console.error(err.stack);
    return usage ? 2 : 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
