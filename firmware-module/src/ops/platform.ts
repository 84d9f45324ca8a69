// What the portable operations need from the platform besides block devices and the core:
// SHA-256 (the manifests' critical files, an image's digest) and Ed25519 verification (signed
// images), crypto primitives a printer may have in hardware. The host provides it once, before the first operation that hashes: the Node host
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

/** The printer's own key (a host that has one): its raw public key, and signatures made with it. */
export interface DeviceSigner {
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}
let deviceSigner: DeviceSigner | undefined;

/** Installs the device's signer (undefined: none; backups are not signed). */
export function provideDeviceSigner(s: DeviceSigner | undefined): void {
  deviceSigner = s;
}
export function theDeviceSigner(): DeviceSigner | undefined {
  return deviceSigner;
}

/** Ed25519 (RFC 8032) verification: whether `signature` (64 bytes) is `publicKey`'s (32 bytes, raw) over `message`. */
export type Ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;
let ed25519: Ed25519Verify | undefined;

/** Installs the platform's Ed25519 verification (a later call replaces it). */
export function provideEd25519Verify(verify: Ed25519Verify): void {
  ed25519 = verify;
}

export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (!ed25519)
    throw new ClusterbackError(
      "no Ed25519 provider: the host must call provideEd25519Verify before a signature is checked",
    );
  return ed25519(publicKey, message, signature);
}
