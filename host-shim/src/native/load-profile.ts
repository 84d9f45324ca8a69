// The Node host's profile files: find, read and validate them (device-profiles/src/profile.ts
// validates; a printer's host reads its profile from its own flash and hands it to the firmware
// as host.profile()). An id ("office-laser-emmc8g") names device-profiles/<id>.json; anything
// with a slash or ending in .json is a file path.

import * as fs from "node:fs";
import * as path from "node:path";
import { Profile, ProfileError, validateProfile } from "../../../device-profiles/src/profile";

const SCHEMA_FILE = "profile.schema.json";

/** device-profiles/, from the sources (host-shim/src/native) or the build (dist/host-shim/src/native). */
export function profilesDir(): string {
  const candidates = [
    path.resolve(__dirname, "../../../device-profiles"),
    path.resolve(__dirname, "../../../../device-profiles"),
  ];
  return candidates.find((dir) => fs.existsSync(path.join(dir, SCHEMA_FILE))) ?? candidates[0];
}

function isPath(fileOrId: string): boolean {
  return fileOrId.includes("/") || fileOrId.includes("\\") || fileOrId.endsWith(".json");
}

/** Read, parse and validate a profile; every failure is a ProfileError naming the file. */
export function loadProfile(fileOrId: string, dir = profilesDir()): Profile {
  const file = isPath(fileOrId) ? path.resolve(fileOrId) : path.join(dir, `${fileOrId}.json`);
  const source = path.basename(file);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const known = isPath(fileOrId) ? "" : `; known profiles: ${listProfiles(dir).join(", ") || "none"}`;
    throw new ProfileError([`${source}: cannot read ${file} (${code ?? (e as Error).message})${known}`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ProfileError([`${source}: not valid JSON: ${(e as Error).message}`]);
  }
  const profile = validateProfile(value, source);
  const expectedId = path.basename(file, ".json");
  if (profile.id !== expectedId) {
    throw new ProfileError([`${source}: id is "${profile.id}"; must match the file name ("${expectedId}")`]);
  }
  return profile;
}

/** Ids of the profiles in `dir` (its *.json files but the schema), sorted. */
export function listProfiles(dir = profilesDir()): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(".json") && name !== SCHEMA_FILE)
    .map((name) => name.slice(0, -".json".length))
    .sort();
}
