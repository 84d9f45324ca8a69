// The device-profile schema (JSON Schema draft 2020-12), kept as a TypeScript object so that
// both the Node build (commonjs) and the firmware bundle (ES2020, QuickJS) can import it with no
// JSON loader. device-profiles/profile.schema.json is this object, written out;
// test/profiles.test.ts checks the two are equal.
//
// Only the keywords that validateAgainstSchema (profile.ts) interprets are used here: type,
// properties, required, additionalProperties, enum, const, minimum, maximum, minLength,
// maxLength, pattern, items, minItems, maxItems, oneOf, if/then/else, boolean schemas; and the
// annotations $schema, $id, title, description (ignored by the validator).

/** The subset of JSON Schema 2020-12 the profile validator understands. */
export interface JsonSchemaObject {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean" | "null";
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  oneOf?: JsonSchema[];
  if?: JsonSchema;
  then?: JsonSchema;
  else?: JsonSchema;
}
export type JsonSchema = boolean | JsonSchemaObject;

// FAT short-name characters (upper case; no space, no lower case, none of "*+,./:;<=>?[\]|).
const fatChar = "-A-Z0-9!#$%&'()@^_`{}~"; // "-" first: a literal, not a range
/** A path inside a FAT volume, DOS style: "\FIRMWARE\MAIN.BIN". */
const dosPath = `^(\\\\[${fatChar}.]+)+$`;
/** As dosPath, with * and ? wildcards allowed: "\SPOOL\*". */
const dosPattern = `^(\\\\[${fatChar}.*?]+)+$`;

const MiB = 1048576;

export const profileSchema: JsonSchemaObject = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://clusterback.invalid/device-profiles/profile.schema.json",
  title: "clusterback device profile",
  description:
    "One printer model: its disk, partition layout, where images live, what is excluded from them, the firmware files the simulator writes, memory budgets and the front panel. Sizes are in bytes unless the name says MiB; 1 MiB = 1048576 bytes.",
  type: "object",
  additionalProperties: false,
  required: [
    "id",
    "model",
    "disk",
    "partitionTable",
    "partitions",
    "imageLocation",
    "exclude",
    "firmware",
    "budgets",
    "panel",
  ],
  properties: {
    id: {
      description: "Profile id, also the file name without .json.",
      type: "string",
      pattern: "^[a-z0-9]+(-[a-z0-9]+)*$",
      minLength: 3,
      maxLength: 40,
    },
    model: { description: "Printer model name, for people.", type: "string", minLength: 1, maxLength: 80 },
    disk: {
      description: "The controller's disk.",
      type: "object",
      additionalProperties: false,
      required: ["media", "sizeBytes", "sectorBytes", "readMBps", "writeMBps"],
      properties: {
        media: { type: "string", enum: ["emmc", "sd", "hdd", "ssd"] },
        sizeBytes: {
          description: "Capacity in bytes (a multiple of sectorBytes).",
          type: "integer",
          minimum: 16 * MiB,
          maximum: 9007199254740991,
        },
        sectorBytes: { description: "Logical sector size in bytes.", type: "integer", enum: [512, 4096] },
        readMBps: {
          description: "Sequential read speed, MB/s (10^6 bytes per second).",
          type: "number",
          minimum: 0.1,
          maximum: 10000,
        },
        writeMBps: {
          description: "Sequential write speed, MB/s (10^6 bytes per second).",
          type: "number",
          minimum: 0.1,
          maximum: 10000,
        },
        accessMs: {
          description:
            "One random positioning in ms (seek plus rotational latency, or a flash command's latency): what a jump that is not sequential costs in the device model (device-model.ts). Default by media: hdd 8.5, sd 1, emmc 0.1, ssd 0.05.",
          type: "number",
          minimum: 0,
          maximum: 1000,
        },
      },
    },
    partitionTable: { type: "string", enum: ["mbr", "gpt"] },
    partitions: {
      description: "Partitions in disk order, each starting on a 1 MiB boundary.",
      type: "array",
      minItems: 1,
      maxItems: 16,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["role", "name", "sizeMiB", "fs"],
        properties: {
          role: { type: "string", enum: ["system", "spool", "recovery", "data"] },
          name: {
            description: "Volume label or partition name: 1-11 FAT label characters.",
            type: "string",
            minLength: 1,
            maxLength: 11,
            pattern: `^[${fatChar}]+$`,
          },
          sizeMiB: { type: "integer", minimum: 1, maximum: 8388608 },
          fs: { type: "string", enum: ["fat32", "fat16", "exfat", "ntfs", "raw"] },
          clusterBytes: {
            description: "Cluster size in bytes; FAT, exFAT and NTFS.",
            type: "integer",
            enum: [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536],
          },
        },
        if: { properties: { fs: { const: "raw" } } },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keywords
        then: { properties: { clusterBytes: false } },
        else: { required: ["clusterBytes"] },
      },
    },
    imageLocation: {
      description:
        "Where backup images live: a raw recovery partition with a number of image slots, or a contiguous hidden file in the system partition (ghost).",
      oneOf: [
        {
          type: "object",
          additionalProperties: false,
          required: ["kind", "slots"],
          properties: {
            kind: { const: "recovery-partition" },
            slots: { type: "integer", minimum: 2, maximum: 8 },
          },
        },
        {
          type: "object",
          additionalProperties: false,
          required: ["kind", "path"],
          properties: {
            kind: { const: "ghost" },
            path: { type: "string", maxLength: 120, pattern: dosPath },
          },
        },
      ],
    },
    exclude: {
      description: "Files in the system partition left out of images (their clusters are not copied).",
      type: "array",
      maxItems: 64,
      items: { type: "string", maxLength: 120, pattern: dosPattern },
    },
    firmware: {
      description: "What the simulator writes into the system partition.",
      type: "object",
      additionalProperties: false,
      required: ["fillMiB", "seed", "critical"],
      properties: {
        fillMiB: { description: "MiB of firmware files to write.", type: "integer", minimum: 1, maximum: 65536 },
        seed: {
          description: "Seed of the file contents, so that a run reproduces.",
          type: "integer",
          minimum: 0,
          maximum: 4294967295,
        },
        critical: {
          description:
            'Files whose path, size and SHA-256 the manifest kept with each image records, and the boot health check compares: paths, or "\\\\DIR\\\\*" for every file below DIR. Files that change in ordinary use (settings, jobs, logs) do not belong here.',
          type: "array",
          minItems: 1,
          maxItems: 64,
          items: { type: "string", maxLength: 120, pattern: dosPattern },
        },
      },
    },
    budgets: {
      description: "Memory the controller gives clusterback, in bytes.",
      type: "object",
      additionalProperties: false,
      required: ["wasmMemoryBytes", "quickjsHeapBytes", "quickjsStackBytes"],
      properties: {
        wasmMemoryBytes: {
          description: "At least the core's fixed 4 MiB.",
          type: "integer",
          minimum: 4194304,
          maximum: 1073741824,
        },
        quickjsHeapBytes: { type: "integer", minimum: 1048576, maximum: 268435456 },
        quickjsStackBytes: { type: "integer", minimum: 65536, maximum: 16777216 },
      },
    },
    security: {
      description:
        "Whom the printer trusts (docs/image-format.md section 14): the public keys whose signatures it accepts (the maker's factory key), and its policy for restores at boot. Absent: images are restored on their checks alone, as before.",
      type: "object",
      additionalProperties: false,
      required: ["trustedKeys", "requireSignature"],
      properties: {
        trustedKeys: {
          description:
            "Ed25519 public keys: SPKI PEM as clusterback keygen or openssl pkey -pubout write them, or the raw 32 bytes in 64 hex digits.",
          type: "array",
          minItems: 1,
          maxItems: 8,
          items: { type: "string", minLength: 64, maxLength: 200 },
        },
        requireSignature: {
          description:
            "A boot restore writes only an image signed by a trusted key; it falls back to the next one that is.",
          type: "boolean",
        },
        minSecurityVersion: {
          description: "A boot restore refuses an image whose security version is lower (no rollback).",
          type: "integer",
          minimum: 0,
          maximum: 9007199254740991,
        },
      },
    },
    service: {
      description:
        "Service access on the front panel: restores and backups ask for a PIN, checked against its salted, slow hash (PBKDF2-HMAC-SHA256 through the host, pbkdf2Sha256). Absent: no PIN.",
      type: "object",
      additionalProperties: false,
      required: ["pin"],
      properties: {
        pin: {
          type: "object",
          additionalProperties: false,
          required: ["digits", "salt", "iterations", "hash"],
          properties: {
            digits: { description: "The PIN's length in digits.", type: "integer", minimum: 4, maximum: 8 },
            salt: { description: "16 to 32 random bytes, hex.", type: "string", pattern: "^([0-9a-f]{2}){16,32}$" },
            iterations: { type: "integer", minimum: 10000, maximum: 10000000 },
            hash: {
              description: "PBKDF2-HMAC-SHA256(PIN, salt, iterations), 32 bytes, hex.",
              type: "string",
              pattern: "^[0-9a-f]{64}$",
            },
          },
        },
      },
    },
    panel: {
      description: "Character LCD of the front panel.",
      type: "object",
      additionalProperties: false,
      required: ["rows", "columns"],
      properties: {
        rows: { type: "integer", minimum: 2, maximum: 8 },
        columns: { type: "integer", minimum: 16, maximum: 40 },
      },
    },
  },
};
