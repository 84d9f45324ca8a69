// Device profiles: the shipped profiles validate, the JSON schema file is the TS schema written
// out, and each kind of bad profile gets a ProfileError naming the path and the values.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import {
  Profile,
  ProfileError,
  profileSchema,
  validateAgainstSchema,
  validateProfile,
} from "../device-profiles/src/profile";
import { listProfiles, loadProfile, profilesDir } from "../host-shim/src/native/load-profile";

const dir = path.join(__dirname, "..", "device-profiles");
const shipped = [
  "compact-sd4g",
  "kiosk-exfat-emmc4g",
  "office-laser-emmc8g",
  "production-ntfs-ssd16g",
  "wideformat-hdd4kn",
];

function read(id: string): Profile {
  return JSON.parse(fs.readFileSync(path.join(dir, `${id}.json`), "utf8"));
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

t.test("every shipped profile validates and loads", async (t) => {
  t.same(listProfiles(), shipped, "listProfiles lists the five, sorted");
  t.equal(profilesDir(), path.resolve(dir), "profiles are found next to the sources");
  for (const id of shipped) {
    const p = loadProfile(id);
    t.equal(p.id, id, `${id}: id matches the file name`);
    t.strictSame(validateProfile(read(id), `${id}.json`), p, `${id}: validateProfile returns it`);
    t.strictSame(loadProfile(path.join(dir, `${id}.json`)), p, `${id}: loads by path too`);
    t.ok(p.budgets.wasmMemoryBytes >= 4194304, `${id}: the 4 MiB core fits`);
    t.ok(p.firmware.fillMiB >= 16 && p.firmware.fillMiB <= 64, `${id}: fill is modest`);
  }
  const compact = loadProfile("compact-sd4g");
  t.equal(compact.partitionTable, "mbr");
  t.strictSame(compact.imageLocation, { kind: "ghost", path: "\\RECOVERY.CBI" });
  t.equal(loadProfile("wideformat-hdd4kn").disk.sectorBytes, 4096);
});

t.test("profile.schema.json is the TypeScript schema, written out", async (t) => {
  const file = JSON.parse(fs.readFileSync(path.join(dir, "profile.schema.json"), "utf8"));
  t.strictSame(file, JSON.parse(JSON.stringify(profileSchema)));
  t.equal(file.$schema, "https://json-schema.org/draft/2020-12/schema");
});

// biome-ignore lint/suspicious/noExplicitAny: a profile is mutated into every wrong shape
type Case = [name: string, base: string, mutate: (p: any) => void, expect: string[]];
const cases: Case[] = [
  [
    "wrong type: string for an integer",
    "office-laser-emmc8g",
    (p) => {
      p.disk.sizeBytes = "8G";
    },
    ['disk.sizeBytes is "8G" (a string); must be an integer'],
  ],
  [
    "wrong type: fraction for an integer",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[0].sizeMiB = 1.5;
    },
    ["partitions[0].sizeMiB is 1.5 (a number); must be an integer"],
  ],
  [
    "wrong type: object for an array",
    "office-laser-emmc8g",
    (p) => {
      p.exclude = {};
    },
    ["exclude is {} (an object); must be an array"],
  ],
  [
    "unknown property",
    "office-laser-emmc8g",
    (p) => {
      p.disk.color = "red";
    },
    ["disk.color is not allowed (unknown property; known: media, sizeBytes"],
  ],
  [
    "unknown top-level property",
    "compact-sd4g",
    (p) => {
      p.vendor = "x";
    },
    ["vendor is not allowed"],
  ],
  [
    "missing property",
    "compact-sd4g",
    (p) => {
      delete p.panel;
    },
    ["panel is missing; it is required"],
  ],
  [
    "bad enum: sector size",
    "office-laser-emmc8g",
    (p) => {
      p.disk.sectorBytes = 1000;
    },
    ["disk.sectorBytes is 1000; must be one of 512, 4096"],
  ],
  [
    "bad enum: media",
    "office-laser-emmc8g",
    (p) => {
      p.disk.media = "tape";
    },
    ['disk.media is "tape"; must be one of "emmc", "sd", "hdd", "ssd"'],
  ],
  [
    "bad enum: cluster size not a power of two",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[1].clusterBytes = 3000;
    },
    ["partitions[1].clusterBytes is 3000; must be one of 512, 1024"],
  ],
  [
    "FAT partition without clusterBytes",
    "office-laser-emmc8g",
    (p) => {
      delete p.partitions[0].clusterBytes;
    },
    ['partitions[0].clusterBytes is missing; it is required when fs is not "raw"'],
  ],
  [
    "raw partition with clusterBytes",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[2].clusterBytes = 4096;
    },
    ['partitions[2].clusterBytes is 4096; not allowed when fs is "raw"'],
  ],
  [
    "name too long",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[0].name = "SYSTEMVOLUME";
    },
    ['partitions[0].name is "SYSTEMVOLUME" (12 characters); must have at most 11'],
  ],
  [
    "name not FAT label characters",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[0].name = "sys.tem";
    },
    ['partitions[0].name is "sys.tem"; must match'],
  ],
  [
    "unknown image location kind",
    "office-laser-emmc8g",
    (p) => {
      p.imageLocation = { kind: "cloud" };
    },
    ['imageLocation.kind is "cloud"; must be one of "recovery-partition", "ghost"'],
  ],
  [
    "too few image slots",
    "office-laser-emmc8g",
    (p) => {
      p.imageLocation.slots = 1;
    },
    ["imageLocation.slots is 1; must be at least 2"],
  ],
  [
    "ghost image with slots",
    "compact-sd4g",
    (p) => {
      p.imageLocation = { kind: "ghost", path: "\\RECOVERY.CBI" };
      p.partitions.splice(2, 1);
      p.imageLocation.slots = 2;
    },
    ["imageLocation.slots is not allowed (unknown property; known: kind, path)"],
  ],
  [
    "exclude path with forward slashes",
    "compact-sd4g",
    (p) => {
      p.exclude.push("/tmp/*");
    },
    ['exclude[2] is "/tmp/*"; must match'],
  ],
  [
    "wasm budget below the core's 4 MiB",
    "compact-sd4g",
    (p) => {
      p.budgets.wasmMemoryBytes = 1048576;
    },
    ["budgets.wasmMemoryBytes is 1048576; must be at least 4194304"],
  ],
  [
    "panel too narrow",
    "compact-sd4g",
    (p) => {
      p.panel.columns = 12;
    },
    ["panel.columns is 12; must be at least 16"],
  ],
  [
    "panel too short and too wide",
    "compact-sd4g",
    (p) => {
      p.panel = { rows: 1, columns: 80 };
    },
    ["panel.rows is 1; must be at least 2", "panel.columns is 80; must be at most 40"],
  ],
  [
    "partitions do not fit",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[3].sizeMiB = 2048;
    },
    [
      "partitions need 1 MiB (alignment, partition table) + 8192 MiB + 17408 bytes (backup GPT, 34 sectors) = 8591000576 bytes; disk.sizeBytes is 7818182656 (772817920 bytes short)",
    ],
  ],
  [
    "disk size not a multiple of the sector",
    "wideformat-hdd4kn",
    (p) => {
      p.disk.sizeBytes += 512;
    },
    ["disk.sizeBytes is 500107862528; must be a multiple of disk.sectorBytes (4096)"],
  ],
  [
    "MBR past 2^32 sectors",
    "compact-sd4g",
    (p) => {
      p.disk.sizeBytes = 3 * 2 ** 40;
    },
    ["an MBR addresses at most 4294967296 sectors"],
  ],
  [
    "MBR with five partitions",
    "compact-sd4g",
    (p) => {
      for (const n of ["D1", "D2"]) p.partitions.push({ role: "data", name: n, sizeMiB: 64, fs: "raw" });
    },
    ["partitions has 5 entries; an MBR holds at most 4 primary partitions"],
  ],
  [
    "two system partitions",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[3].role = "system";
    },
    ["partitions has 2 system partitions (partitions[0], partitions[3]); must have exactly one"],
  ],
  [
    "no system partition",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[0].role = "data";
    },
    ["partitions has 0 system partitions (none); must have exactly one"],
  ],
  [
    "missing recovery partition",
    "office-laser-emmc8g",
    (p) => {
      p.partitions.splice(2, 1);
    },
    ['imageLocation.kind is "recovery-partition" but partitions has no recovery partition'],
  ],
  [
    "recovery partition with a ghost image",
    "office-laser-emmc8g",
    (p) => {
      p.imageLocation = { kind: "ghost", path: "\\RECOVERY.CBI" };
    },
    ['partitions[2] is a recovery partition but imageLocation.kind is "ghost"'],
  ],
  [
    "recovery partition with a file system",
    "office-laser-emmc8g",
    (p) => {
      Object.assign(p.partitions[2], { fs: "fat32", clusterBytes: 4096 });
    },
    ['partitions[2].fs is "fat32"; a recovery partition must be "raw"'],
  ],
  [
    "a file system no profile can name",
    "office-laser-emmc8g",
    (p) => {
      (p.partitions[0] as { fs: string }).fs = "ext4";
    },
    ['partitions[0].fs is "ext4"; must be one of "fat32", "fat16", "exfat", "ntfs", "raw"'],
  ],
  [
    "exFAT clusters smaller than the disk's sectors",
    "wideformat-hdd4kn",
    (p) => {
      Object.assign(p.partitions[0], { fs: "exfat", clusterBytes: 2048 });
    },
    ["partitions[0].clusterBytes is 2048; must be at least disk.sectorBytes (4096)"],
  ],
  [
    "two recovery partitions",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[3] = { role: "recovery", name: "RECOVERY2", sizeMiB: 512, fs: "raw" };
    },
    ["partitions has 2 recovery partitions (partitions[2], partitions[3]); must have at most one"],
  ],
  [
    "recovery partition too small for its slots",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[2].sizeMiB = 100;
    },
    ["partitions[2].sizeMiB is 100; 3 image slots of about 49 MiB each (fillMiB + 1) need 147 MiB"],
  ],
  [
    "FAT16 with too many clusters",
    "compact-sd4g",
    (p) => {
      p.partitions[1].clusterBytes = 2048;
    },
    [
      "partitions[1] is fat16 with sizeMiB 256 and clusterBytes 2048: about 130816 clusters (approximately",
      "FAT16 needs 4085 to 65524",
    ],
  ],
  [
    "FAT16 with too few clusters",
    "compact-sd4g",
    (p) => {
      Object.assign(p.partitions[1], { sizeMiB: 128, clusterBytes: 65536 });
    },
    [
      "partitions[1] is fat16 with sizeMiB 128 and clusterBytes 65536: about 2047 clusters",
      "FAT16 needs 4085 to 65524",
    ],
  ],
  [
    "FAT32 with too few clusters",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[0].clusterBytes = 32768;
    },
    [
      "partitions[0] is fat32 with sizeMiB 1024 and clusterBytes 32768: about 32760 clusters",
      "FAT32 needs 65525 to 268435445",
    ],
  ],
  [
    "cluster smaller than a sector",
    "wideformat-hdd4kn",
    (p) => {
      p.partitions[0].clusterBytes = 2048;
    },
    ["partitions[0].clusterBytes is 2048; must be at least disk.sectorBytes (4096)"],
  ],
  [
    "fill larger than the system partition",
    "office-laser-emmc8g",
    (p) => {
      p.firmware.fillMiB = 1200;
      p.partitions[2].sizeMiB = 4000;
      p.partitions[3].sizeMiB = 96;
    },
    ["firmware.fillMiB is 1200; the files need 1200 MiB, but partitions[0] (1024 MiB) has about 1021 MiB for files"],
  ],
  [
    "fill and its ghost image larger than the system partition",
    "compact-sd4g",
    (p) => {
      p.imageLocation = { kind: "ghost", path: "\\RECOVERY.CBI" };
      p.partitions.splice(2, 1);
      p.firmware.fillMiB = 300;
    },
    [
      "firmware.fillMiB is 300; with the ghost image in the same partition the files, their image and its replacement during a backup need about 902 MiB (3 x fillMiB + 2), but partitions[0] (512 MiB) has about 510 MiB for files",
    ],
  ],
  [
    "critical file excluded",
    "office-laser-emmc8g",
    (p) => {
      p.exclude.push("\\FONTS\\*");
    },
    ['firmware.critical[1] is "\\\\FONTS\\\\*"; it matches exclude[4] "\\\\FONTS\\\\*"'],
  ],
  [
    "duplicate partition names",
    "office-laser-emmc8g",
    (p) => {
      p.partitions[3].name = "SPOOL";
    },
    ['partitions[3].name is "SPOOL"; partitions[1] has the same name'],
  ],
];

t.test("bad profiles: one ProfileError naming the path and the values", async (t) => {
  for (const [name, base, mutate, expect] of cases) {
    const p = read(base);
    mutate(p);
    const e = thrown(() => validateProfile(p, "bad.json"));
    if (!t.ok(e instanceof ProfileError, `${name}: throws ProfileError`)) continue;
    const err = e as ProfileError;
    t.equal(err.name, "ProfileError", `${name}: name`);
    t.ok(err instanceof Error, `${name}: an Error`);
    for (const line of err.message.split("\n")) t.match(line, /^bad\.json: /, `${name}: each line names the source`);
    for (const text of expect) t.match(err.message, text, `${name}: message has ${JSON.stringify(text)}`);
  }
});

t.test("exFAT partitions: every shipped profile with its file systems made exFAT is valid", async (t) => {
  for (const id of listProfiles()) {
    const p = read(id);
    for (const x of p.partitions) if (x.fs !== "raw") x.fs = "exfat";
    const v = validateProfile(p, `${id}-exfat`);
    t.equal(v.partitions.find((x) => x.role === "system")?.fs, "exfat", `${id}: an exFAT system partition`);
  }
});

t.test("not an object, and every problem listed at once", async (t) => {
  t.match((thrown(() => validateProfile(null)) as Error).message, "profile: (root) is null (null); must be an object");
  t.match(
    (thrown(() => validateProfile([], "x.json")) as Error).message,
    "x.json: (root) is [] (an array); must be an object",
  );
  // biome-ignore lint/suspicious/noExplicitAny: made wrong on purpose
  const p: any = read("office-laser-emmc8g");
  p.disk.sectorBytes = 1000;
  p.panel.rows = 9;
  delete p.firmware.seed;
  p.extra = true;
  const e = thrown(() => validateProfile(p, "office.json")) as ProfileError;
  t.equal(e.errors.length, 4, "four problems");
  t.equal(e.message, e.errors.join("\n"), "one per line");
  t.ok(e.errors.includes("office.json: disk.sectorBytes is 1000; must be one of 512, 4096"), "exact line");
});

t.test("the fit rule counts 1 MiB of alignment and, for GPT, 34 sectors at the end", async (t) => {
  for (const id of shipped) {
    const p = read(id);
    const sumMiB = p.partitions.reduce((s, x) => s + x.sizeMiB, 0);
    const tail = p.partitionTable === "gpt" ? 34 * p.disk.sectorBytes : 0;
    p.disk.sizeBytes = (1 + sumMiB) * 1048576 + tail;
    t.doesNotThrow(() => validateProfile(p, id), `${id}: exactly enough fits`);
    p.disk.sizeBytes -= p.disk.sectorBytes;
    t.throws(
      () => validateProfile(p, id),
      { name: "ProfileError", message: `(${p.disk.sectorBytes} bytes short)` },
      `${id}: one sector less does not`,
    );
  }
});

t.test("the schema interpreter on its own", async (t) => {
  const schema = {
    type: "object" as const,
    additionalProperties: false,
    required: ["v"],
    properties: {
      v: {
        oneOf: [
          { type: "integer" as const, minimum: 10 },
          { type: "string" as const, const: "auto" },
        ],
      },
      list: { type: "array" as const, minItems: 1, maxItems: 2, items: { type: "boolean" as const } },
    },
  };
  t.strictSame(validateAgainstSchema(schema, { v: 12, list: [true] }, "s"), []);
  t.strictSame(validateAgainstSchema(schema, { v: "auto" }, "s"), []);
  t.strictSame(
    validateAgainstSchema(schema, { v: 3 }, "s"),
    ["s: v is 3; must be at least 10"],
    "oneOf reports the branch the value meant",
  );
  t.strictSame(validateAgainstSchema(schema, { v: 12, list: [] }, "s"), ["s: list has 0 items; must have at least 1"]);
  t.strictSame(validateAgainstSchema(schema, { v: 12, list: [true, false, 1] }, "s"), [
    "s: list has 3 items; must have at most 2",
    "s: list[2] is 1 (an integer); must be a boolean",
  ]);
  t.strictSame(validateAgainstSchema(false, 1, "s"), ["s: (root) is 1; not allowed"]);
  t.strictSame(validateAgainstSchema(true, 1, "s"), []);
});

t.test("loadProfile: missing, unreadable and mismatched files", async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cb-prof-"));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  let e = thrown(() => loadProfile("no-such-printer")) as ProfileError;
  t.ok(e instanceof ProfileError, "missing id: ProfileError");
  t.match(
    e.message,
    /^no-such-printer\.json: cannot read .*no-such-printer\.json \(ENOENT\); known profiles: compact-sd4g, kiosk-exfat-emmc4g, office-laser-emmc8g, production-ntfs-ssd16g, wideformat-hdd4kn$/,
  );
  e = thrown(() => loadProfile(path.join(tmp, "gone.json"))) as ProfileError;
  t.ok(e instanceof ProfileError, "missing path: ProfileError");
  t.match(e.message, /^gone\.json: cannot read .*gone\.json \(ENOENT\)$/);
  fs.writeFileSync(path.join(tmp, "broken.json"), "{ not json");
  e = thrown(() => loadProfile("broken", tmp)) as ProfileError;
  t.match(e.message, /^broken\.json: not valid JSON: /);
  fs.writeFileSync(path.join(tmp, "renamed.json"), JSON.stringify(read("compact-sd4g")));
  e = thrown(() => loadProfile(path.join(tmp, "renamed.json"))) as ProfileError;
  t.equal(e.message, 'renamed.json: id is "compact-sd4g"; must match the file name ("renamed")');
  fs.writeFileSync(path.join(tmp, "profile.schema.json"), "{}");
  fs.writeFileSync(path.join(tmp, "notes.txt"), "");
  t.same(listProfiles(tmp), ["broken", "renamed"], "listProfiles skips the schema and non-JSON files");
});
