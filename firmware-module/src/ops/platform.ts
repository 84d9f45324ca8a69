// What the portable operations need from the platform besides block devices and the core:
// today SHA-256 (the manifests' critical files), a crypto primitive a printer may have in
// hardware. The host provides it once, before the first operation that hashes: the Node host
// in host-shim/src/native/platform.ts (node:crypto).
import type { BlockDevice } from "./devices";
import { ClusterbackError } from "./errors";

/** Sectors of a device, of which the first `bytes` bytes count (a file's run of clusters). */
export interface SectorRun {
  lba: number;
  sectors: number;
  bytes: number;
}

/** An incremental SHA-256. */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  /**
   * Hashes, run after run, the first `bytes` bytes of `sectors` sectors of `device` at `lba`,
   * read by the platform (on a printer, natively: a file's contents need not enter QuickJS; the
   * device is opened once for all the runs). Throws the device's error.
   */
  updateSectors(device: BlockDevice, runs: SectorRun[]): void;
  /** The digest as 64 lower-case hex digits; the hash is not used again. */
  digest(): string;
}

let sha256Factory: (() => Sha256) | undefined;

/** Installs the platform's SHA-256 (a later call replaces it). */
export function provideSha256(factory: () => Sha256): void {
  sha256Factory = factory;
}

export function newSha256(): Sha256 {
  if (!sha256Factory)
    throw new ClusterbackError(
      "no SHA-256 provider: the host must call provideSha256 before an operation hashes files",
    );
  return sha256Factory();
}
