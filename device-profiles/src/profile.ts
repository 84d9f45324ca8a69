// Device profiles: the types, a small validator that interprets the profile schema (schema.ts),
// and the rules JSON Schema cannot state (partitions fit the disk, FAT cluster counts, ...).
// No Node API and no DOM: the firmware module bundles this file for QuickJS (ES2020).

import { JsonSchema, profileSchema } from "./schema";

export type { JsonSchema, JsonSchemaObject } from "./schema";
export { profileSchema } from "./schema";

export type Media = "emmc" | "sd" | "hdd" | "ssd";
export type PartitionRole = "system" | "spool" | "recovery" | "data";
export type FileSystemKind = "fat32" | "fat16" | "exfat" | "ntfs" | "raw";

export interface DiskSpec {
  media: Media;
  sizeBytes: number; // capacity, a multiple of sectorBytes
  sectorBytes: 512 | 4096;
  readMBps: number; // sequential read, 10^6 bytes per second
  writeMBps: number; // sequential write, 10^6 bytes per second
  accessMs?: number; // one random positioning, ms (default by media: device-model.ts MEDIA_ACCESS_MS)
}
export interface PartitionSpec {
  role: PartitionRole;
  name: string; // 1-11 FAT label characters
  sizeMiB: number; // 1 MiB = 1048576 bytes; every partition starts on a 1 MiB boundary
  fs: FileSystemKind;
  clusterBytes?: number; // FAT, exFAT and NTFS: 512..65536, a power of two
}
export type ImageLocation = { kind: "recovery-partition"; slots: number } | { kind: "ghost"; path: string };
export interface FirmwareSpec {
  fillMiB: number;
  seed: number;
  critical: string[];
}
export interface Budgets {
  wasmMemoryBytes: number;
  quickjsHeapBytes: number;
  quickjsStackBytes: number;
}
export interface PanelSpec {
  rows: number;
  columns: number;
}
export interface SecuritySpec {
  trustedKeys: string[];
  requireSignature: boolean;
  minSecurityVersion?: number;
}
export interface ServiceSpec {
  pin: { digits: number; salt: string; iterations: number; hash: string };
}
export interface Profile {
  id: string;
  model: string;
  disk: DiskSpec;
  partitionTable: "mbr" | "gpt";
  partitions: PartitionSpec[];
  imageLocation: ImageLocation;
  exclude: string[];
  firmware: FirmwareSpec;
  budgets: Budgets;
  panel: PanelSpec;
  security?: SecuritySpec;
  service?: ServiceSpec;
}

/** A profile that fails its schema or a layout rule; `errors` holds one line per problem. */
export class ProfileError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(errors.join("\n"));
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = "ProfileError";
    this.errors = errors;
  }
}

// ---------------------------------------------------------------- schema interpreter

interface Issue {
  path: string;
  text: string;
  keyword: string;
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? text.slice(0, 57) + "..." : text;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  if (typeof value === "boolean") return "a boolean";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a number";
  return typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasType(type: string, value: unknown): boolean {
  switch (type) {
    case "object":
      return isObject(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
  }
  return false;
}

const child = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** "when fs is "raw"" for an `if` made of property consts; a generic phrase otherwise. */
function condition(ifSchema: JsonSchema, holds: boolean): string {
  const props = typeof ifSchema === "object" ? ifSchema.properties : undefined;
  const parts = Object.entries(props ?? {}).map(([k, s]) =>
    typeof s === "object" && "const" in s ? `${k} is ${holds ? "" : "not "}${show(s.const)}` : "",
  );
  if (parts.length === 0 || parts.includes("")) return "by the if/then/else of this schema";
  return "when " + parts.join(holds ? " and " : " or ");
}

/** `context` says why a rule applies ("when fs is "raw""), for rules reached through if/then/else. */
function checkNode(schema: JsonSchema, value: unknown, path: string, out: Issue[], context = ""): void {
  const at = path || "(root)";
  if (schema === true) return;
  if (schema === false) {
    out.push({ path, keyword: "false", text: `${at} is ${show(value)}; not allowed${context ? " " + context : ""}` });
    return;
  }
  if (schema.type !== undefined && !hasType(schema.type, value)) {
    const want =
      schema.type === "integer" || schema.type === "object" || schema.type === "array"
        ? `an ${schema.type}`
        : `a ${schema.type}`;
    out.push({ path, keyword: "type", text: `${at} is ${show(value)} (${kindOf(value)}); must be ${want}` });
    return; // the other keywords would only repeat this
  }
  if (schema.const !== undefined && value !== schema.const) {
    out.push({ path, keyword: "const", text: `${at} is ${show(value)}; must be ${show(schema.const)}` });
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    out.push({
      path,
      keyword: "enum",
      text: `${at} is ${show(value)}; must be one of ${schema.enum.map(show).join(", ")}`,
    });
  }
  if (typeof value === "number") checkNumber(schema, value, at, out, path);
  if (typeof value === "string") checkString(schema, value, at, out, path);
  if (Array.isArray(value)) checkArray(schema, value, path, out);
  if (isObject(value)) checkObject(schema, value, path, out, context);
  if (schema.oneOf !== undefined) checkOneOf(schema.oneOf, value, path, out);
  if (schema.if !== undefined) {
    const probe: Issue[] = [];
    checkNode(schema.if, value, path, probe);
    const branch = probe.length === 0 ? schema.then : schema.else;
    if (branch !== undefined) checkNode(branch, value, path, out, condition(schema.if, probe.length === 0));
  }
}

function checkNumber(schema: JsonSchema & object, value: number, at: string, out: Issue[], path: string): void {
  if (schema.minimum !== undefined && value < schema.minimum)
    out.push({ path, keyword: "minimum", text: `${at} is ${value}; must be at least ${schema.minimum}` });
  if (schema.maximum !== undefined && value > schema.maximum)
    out.push({ path, keyword: "maximum", text: `${at} is ${value}; must be at most ${schema.maximum}` });
}

function checkString(schema: JsonSchema & object, value: string, at: string, out: Issue[], path: string): void {
  const n = value.length;
  if (schema.minLength !== undefined && n < schema.minLength)
    out.push({
      path,
      keyword: "minLength",
      text: `${at} is ${show(value)} (${n} characters); must have at least ${schema.minLength}`,
    });
  if (schema.maxLength !== undefined && n > schema.maxLength)
    out.push({
      path,
      keyword: "maxLength",
      text: `${at} is ${show(value)} (${n} characters); must have at most ${schema.maxLength}`,
    });
  if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value))
    out.push({ path, keyword: "pattern", text: `${at} is ${show(value)}; must match /${schema.pattern}/` });
}

function checkArray(schema: JsonSchema & object, value: unknown[], path: string, out: Issue[]): void {
  const at = path || "(root)";
  if (schema.minItems !== undefined && value.length < schema.minItems)
    out.push({
      path,
      keyword: "minItems",
      text: `${at} has ${value.length} items; must have at least ${schema.minItems}`,
    });
  if (schema.maxItems !== undefined && value.length > schema.maxItems)
    out.push({
      path,
      keyword: "maxItems",
      text: `${at} has ${value.length} items; must have at most ${schema.maxItems}`,
    });
  if (schema.items !== undefined)
    value.forEach((item, i) => checkNode(schema.items as JsonSchema, item, `${path}[${i}]`, out));
}

function checkObject(
  schema: JsonSchema & object,
  value: Record<string, unknown>,
  path: string,
  out: Issue[],
  context: string,
): void {
  const props = schema.properties ?? {};
  for (const key of schema.required ?? []) {
    if (!(key in value))
      out.push({
        path: child(path, key),
        keyword: "required",
        text: `${child(path, key)} is missing; it is required${context ? " " + context : ""}`,
      });
  }
  for (const [key, item] of Object.entries(value)) {
    const sub = props[key];
    if (sub !== undefined) {
      checkNode(sub, item, child(path, key), out, context);
      continue;
    }
    const extra = schema.additionalProperties;
    if (extra === false) {
      out.push({
        path: child(path, key),
        keyword: "additionalProperties",
        text: `${child(path, key)} is not allowed (unknown property; known: ${Object.keys(props).join(", ")})`,
      });
    } else if (extra !== undefined && extra !== true) {
      checkNode(extra, item, child(path, key), out);
    }
  }
}

/** oneOf: report the branch the value meant (its consts match); if none, the consts it missed. */
function checkOneOf(branches: JsonSchema[], value: unknown, path: string, out: Issue[]): void {
  const results = branches.map((b) => {
    const issues: Issue[] = [];
    checkNode(b, value, path, issues);
    return issues;
  });
  const passed = results.filter((r) => r.length === 0).length;
  const at = path || "(root)";
  if (passed === 1) return;
  if (passed > 1) {
    out.push({ path, keyword: "oneOf", text: `${at} matches ${passed} of the alternatives; must match exactly one` });
    return;
  }
  const meant = results.filter((r) => !r.some((i) => i.keyword === "const"));
  if (meant.length === 1) {
    out.push(...meant[0]);
    return;
  }
  const misses = results.map((r) => r.find((i) => i.keyword === "const"));
  if (misses.every((m) => m !== undefined && m.path === misses[0]?.path)) {
    const wanted = branches.map((b) => constAt(b, misses[0]!.path.slice(path ? path.length + 1 : 0)));
    const got = lookup(value, misses[0]!.path.slice(path ? path.length + 1 : 0));
    out.push({
      path: misses[0]!.path,
      keyword: "oneOf",
      text: `${misses[0]!.path} is ${show(got)}; must be one of ${wanted.map(show).join(", ")}`,
    });
    return;
  }
  const fewest = results.reduce((a, b) => (b.length < a.length ? b : a));
  out.push(...fewest);
}

function constAt(schema: JsonSchema, key: string): unknown {
  if (typeof schema !== "object") return undefined;
  if (key === "") return schema.const;
  const sub = schema.properties?.[key];
  return typeof sub === "object" ? sub.const : undefined;
}

function lookup(value: unknown, key: string): unknown {
  return key === "" ? value : isObject(value) ? value[key] : undefined;
}

/** Check `value` against `schema`; one line per problem, each `<source>: <path> ...`; [] if valid. */
export function validateAgainstSchema(schema: JsonSchema, value: unknown, source: string): string[] {
  const issues: Issue[] = [];
  checkNode(schema, value, "", issues);
  return issues.map((i) => `${source}: ${i.text}`);
}

// ---------------------------------------------------------------- layout rules

const MiB = 1048576;
/** GPT: protective MBR + header + 32 sectors of entries at the start, entries + header at the end. */
const GPT_RESERVED_SECTORS = 34;
const MBR_MAX_SECTORS = 4294967296; // 32-bit LBA fields
const MBR_MAX_PRIMARY = 4;
const FAT_LIMITS: Record<string, [number, number, number]> = {
  // [min clusters, max clusters, FAT entry bytes] (Microsoft's rule: the type follows the count)
  fat16: [4085, 65524, 2],
  fat32: [65525, 268435445, 4],
};
/** exFAT: one FAT of 4-byte entries; a volume needs room for its bitmap, up-case table and root past the FAT (exfat-format.ts says by how much). */
const EXFAT_ENTRY_BYTES = 4;

/** Clusters of a FAT partition, approximately: sizeMiB x 1 MiB / clusterBytes, FATs not subtracted. */
export function approxClusterCount(p: PartitionSpec): number {
  if (!p.clusterBytes) return 0;
  // every cluster costs its own bytes and one entry in each of the two FATs
  if (p.fs === "exfat") return Math.floor((p.sizeMiB * MiB) / (p.clusterBytes + EXFAT_ENTRY_BYTES));
  if (p.fs === "ntfs") return Math.floor((p.sizeMiB * MiB) / p.clusterBytes); // its bitmap is a file of the volume
  const entryBytes = FAT_LIMITS[p.fs]?.[2] ?? 0;
  return Math.floor((p.sizeMiB * MiB) / (p.clusterBytes + 2 * entryBytes));
}

/** MiB a FAT or exFAT partition has for files, roughly: its size less its FATs and 1 MiB of reserved area (exFAT: 2 MiB, its alignment). */
function approxFreeMiB(p: PartitionSpec): number {
  if (p.fs === "exfat") return p.sizeMiB - Math.ceil((approxClusterCount(p) * EXFAT_ENTRY_BYTES) / MiB) - 2;
  // NTFS: the MFT zone (an eighth, kept for the MFT to grow into), $LogFile (up to 64 MiB) and a few MiB of system files
  if (p.fs === "ntfs") return Math.floor(p.sizeMiB * 0.875) - Math.min(64, Math.ceil(p.sizeMiB / 200)) - 2;
  const entryBytes = FAT_LIMITS[p.fs]?.[2] ?? 0;
  return p.sizeMiB - Math.ceil((2 * approxClusterCount(p) * entryBytes) / MiB) - 1;
}

function globMatches(glob: string, path: string): boolean {
  const rx = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^\\\\]*")
    .replace(/\?/g, "[^\\\\]");
  return new RegExp(`^${rx}$`).test(path);
}

function diskRules(p: Profile, out: string[]): void {
  const { sizeBytes, sectorBytes } = p.disk;
  if (sizeBytes % sectorBytes !== 0)
    out.push(`disk.sizeBytes is ${sizeBytes}; must be a multiple of disk.sectorBytes (${sectorBytes})`);
  if (p.partitionTable === "mbr") {
    if (sizeBytes / sectorBytes > MBR_MAX_SECTORS)
      out.push(
        `disk.sizeBytes is ${sizeBytes} (${Math.floor(sizeBytes / sectorBytes)} sectors); an MBR addresses at most ${MBR_MAX_SECTORS} sectors, use partitionTable "gpt"`,
      );
    if (p.partitions.length > MBR_MAX_PRIMARY)
      out.push(
        `partitions has ${p.partitions.length} entries; an MBR holds at most ${MBR_MAX_PRIMARY} primary partitions`,
      );
  }
  const sumMiB = p.partitions.reduce((s, part) => s + part.sizeMiB, 0);
  const tailBytes = p.partitionTable === "gpt" ? GPT_RESERVED_SECTORS * sectorBytes : 0;
  const needBytes = MiB + sumMiB * MiB + tailBytes;
  if (needBytes > sizeBytes) {
    const tail = tailBytes ? ` + ${tailBytes} bytes (backup GPT, ${GPT_RESERVED_SECTORS} sectors)` : "";
    out.push(
      `partitions need 1 MiB (alignment, partition table) + ${sumMiB} MiB${tail} = ${needBytes} bytes; disk.sizeBytes is ${sizeBytes} (${needBytes - sizeBytes} bytes short)`,
    );
  }
}

function roleRules(p: Profile, out: string[]): void {
  const at = (role: PartitionRole) => p.partitions.map((x, i) => (x.role === role ? i : -1)).filter((i) => i >= 0);
  const systems = at("system"),
    recoveries = at("recovery");
  if (systems.length !== 1)
    out.push(
      `partitions has ${systems.length} system partitions (${systems.map((i) => `partitions[${i}]`).join(", ") || "none"}); must have exactly one`,
    );
  for (const i of systems)
    if (p.partitions[i].fs === "raw")
      out.push(`partitions[${i}].fs is "raw"; the system partition must be "fat32", "fat16", "exfat" or "ntfs"`);
  if (recoveries.length > 1)
    out.push(
      `partitions has ${recoveries.length} recovery partitions (${recoveries.map((i) => `partitions[${i}]`).join(", ")}); must have at most one`,
    );
  for (const i of recoveries)
    if (p.partitions[i].fs !== "raw")
      out.push(`partitions[${i}].fs is "${p.partitions[i].fs}"; a recovery partition must be "raw"`);
  const kind = p.imageLocation.kind;
  if (kind === "recovery-partition" && recoveries.length === 0)
    out.push(`imageLocation.kind is "recovery-partition" but partitions has no recovery partition`);
  if (kind !== "recovery-partition" && recoveries.length > 0)
    out.push(
      `partitions[${recoveries[0]}] is a recovery partition but imageLocation.kind is "${kind}"; images would never use it`,
    );
  p.partitions.forEach((x, i) => {
    const j = p.partitions.findIndex((y) => y.name === x.name);
    if (j < i) out.push(`partitions[${i}].name is "${x.name}"; partitions[${j}] has the same name`);
  });
}

function fatRules(p: Profile, out: string[]): void {
  p.partitions.forEach((x, i) => {
    const limits = FAT_LIMITS[x.fs];
    if (!x.clusterBytes) return;
    if (x.clusterBytes < p.disk.sectorBytes)
      out.push(
        `partitions[${i}].clusterBytes is ${x.clusterBytes}; must be at least disk.sectorBytes (${p.disk.sectorBytes})`,
      );
    if (!limits) return; // exFAT, NTFS: any count up to 2^32 - 11 (a partition this schema allows stays far below)
    const count = approxClusterCount(x);
    if (count < limits[0] || count > limits[1]) {
      out.push(
        `partitions[${i}] is ${x.fs} with sizeMiB ${x.sizeMiB} and clusterBytes ${x.clusterBytes}: about ${count} clusters (approximately sizeMiB x 1 MiB / (clusterBytes + two FAT entries), reserved sectors not counted); ${x.fs.toUpperCase()} needs ${limits[0]} to ${limits[1]}`,
      );
    }
  });
}

function contentRules(p: Profile, out: string[]): void {
  const sysIndex = p.partitions.findIndex((x) => x.role === "system");
  const sys = p.partitions[sysIndex];
  const fill = p.firmware.fillMiB;
  if (sys && sys.fs !== "raw") {
    const freeMiB = approxFreeMiB(sys);
    const ghost = p.imageLocation.kind === "ghost";
    // a ghost backup writes the new image beside the old one, which stays until the new one is complete
    const needMiB = ghost ? 3 * fill + 2 : fill;
    if (needMiB > freeMiB) {
      const why = ghost
        ? `with the ghost image in the same partition the files, their image and its replacement during a backup need about ${needMiB} MiB (3 x fillMiB + 2)`
        : `the files need ${fill} MiB`;
      out.push(
        `firmware.fillMiB is ${fill}; ${why}, but partitions[${sysIndex}] (${sys.sizeMiB} MiB) has about ${freeMiB} MiB for files`,
      );
    }
  }
  const loc = p.imageLocation;
  const recIndex = p.partitions.findIndex((x) => x.role === "recovery");
  if (loc.kind === "recovery-partition" && recIndex >= 0) {
    const needMiB = loc.slots * (fill + 1);
    const rec = p.partitions[recIndex];
    if (rec.sizeMiB < needMiB)
      out.push(
        `partitions[${recIndex}].sizeMiB is ${rec.sizeMiB}; ${loc.slots} image slots of about ${fill + 1} MiB each (fillMiB + 1) need ${needMiB} MiB`,
      );
  }
  p.firmware.critical.forEach((file, i) => {
    const j = p.exclude.findIndex((g) => globMatches(g, file));
    if (j >= 0)
      out.push(
        `firmware.critical[${i}] is ${show(file)}; it matches exclude[${j}] ${show(p.exclude[j])}, so it would be left out of images`,
      );
  });
}

/** The layout rules JSON Schema cannot state, for a profile that passed its schema. */
export function layoutErrors(p: Profile, source: string): string[] {
  const out: string[] = [];
  diskRules(p, out);
  roleRules(p, out);
  fatRules(p, out);
  contentRules(p, out);
  return out.map((line) => `${source}: ${line}`);
}

/**
 * Check a parsed profile against the schema, then (if it passes) the layout rules. Throws one
 * ProfileError listing every problem found, one per line, each naming `source`, the JSON path
 * and the values.
 */
export function validateProfile(value: unknown, source = "profile"): Profile {
  const schemaErrors = validateAgainstSchema(profileSchema, value, source);
  if (schemaErrors.length > 0) throw new ProfileError(schemaErrors);
  const profile = value as Profile;
  const layout = layoutErrors(profile, source);
  if (layout.length > 0) throw new ProfileError(layout);
  return profile;
}
