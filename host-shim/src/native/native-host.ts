// The Node implementation of the native host API (firmware-module/contract/host-api.json,
// docs/host-api.md): what a printer's C code does for the firmware. One disk (its descriptor is
// also its handle in the wasm core's device table), sector I/O, calls into the core and copies
// of its memory, SHA-256, and the natural duties (clock, log, profile, progress, cancel).
// Everything else is the firmware's, in QuickJS (partition tables, the image store, the ghost,
// health, jobs), or the core's (the layers over the disk: windows, guards, traps, 512-byte views).
// quickjs-host.ts installs these functions as `host`.
import { createHash, createPublicKey, Hash, pbkdf2Sync, sign, verify } from "node:crypto";
import { CORE_COPY_MAX_BYTES, DEV_READ_MAX_BYTES, SHA256_OPEN_MAX } from "../../../firmware-module/src/host-api";
import { EXPORTS, MEMORY_PAGES } from "../../../firmware-module/src/ops/abi";
import type { BlockDevice } from "../../../firmware-module/src/ops/block-device";
import { BadSectorError, DeviceCode, DeviceError, UsageError } from "../../../firmware-module/src/ops/device-errors";
import type { FirmwareOptions } from "./quickjs-host";
import type { NativeCore } from "./wasm-core";

const HASH_CHUNK_BYTES = 1024 * 1024; // sha256Sectors reads at most this much at once
const ED25519_SPKI = Buffer.from("302a300506032b6570032100", "hex"); // RFC 8410: SPKI DER before the 32 raw bytes
const MEMORY_BYTES = MEMORY_PAGES * 65536; // the core's memory, never grown
type SectorRun = { lba: number; sectors: number; bytes: number };

/**
 * Hashes the first `bytes` bytes of `sectors` sectors of `d` at `lba`, read at most
 * HASH_CHUNK_BYTES at a time into `buf` (grown when smaller; the buffer used is returned, to be
 * kept for the next call). The Node platform's SHA-256 (platform.ts) uses it too.
 */
export function hashSectors(hash: Hash, d: BlockDevice, run: SectorRun, buf: Uint8Array): Uint8Array {
  const { lba, sectors } = run;
  const chunk = Math.max(1, Math.min(sectors, Math.floor(HASH_CHUNK_BYTES / d.sectorSize)));
  if (buf.length < chunk * d.sectorSize) buf = new Uint8Array(chunk * d.sectorSize);
  for (let done = 0, left = run.bytes; done < sectors && left > 0; done += chunk) {
    const n = Math.min(chunk, sectors - done);
    d.read(lba + done, n, buf, 0);
    hash.update(buf.subarray(0, Math.min(left, n * d.sectorSize)));
    left -= n * d.sectorSize;
  }
  return buf;
}

/** The firmware's options that the natural duties answer from, and the printer's clock. */
export type NativeHostOptions = Pick<
  FirmwareOptions,
  "profile" | "log" | "onProgress" | "shouldCancel" | "deviceKey"
> & {
  now: () => number;
};

/** A device error as JSON (NativeError in the contract). */
export function nativeError(e: DeviceError): Record<string, unknown> {
  const { device, op, lba, requestLba, sectorCount } = e as BadSectorError;
  const bad = e instanceof BadSectorError ? { device, op, lba, requestLba, sectorCount } : {};
  return { name: e.name, message: e.message, code: e.code, ...bad };
}

/** Ed25519 verification with a raw 32-byte public key (the platform's for the CLI, ed25519Verify for the firmware). */
export function ed25519VerifyRaw(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: "der", type: "spki" });
  return verify(null, message, key, signature);
}

export class NativeHost {
  private readonly hashes = new Map<number, Hash>();
  private nextHash = 1;
  /** sha256Sectors' read buffer, kept between calls (a critical file is hashed run by run). */
  private hashBuf: Uint8Array = new Uint8Array(0);
  readonly diskHandle: number;

  constructor(
    readonly core: NativeCore,
    readonly diskDevice: BlockDevice,
    readonly options: NativeHostOptions,
  ) {
    this.diskHandle = core.attach(diskDevice);
  }

  /** Takes the disk out of the core's table (the disk stays the caller's). */
  close(): void {
    this.core.detach(this.diskHandle);
  }

  // ---- natural duties
  readonly log = (message: string): void => this.options.log?.(message);
  readonly now = (): number => this.options.now();
  readonly profile = (): string => JSON.stringify(this.options.profile);
  readonly progress = (json: string): void => this.options.onProgress?.(JSON.parse(json));
  readonly shouldCancel = (): boolean => this.options.shouldCancel?.() ?? false;

  // ---- devices
  disk(): string {
    const { name, sectorSize, sectorCount } = this.diskDevice;
    return JSON.stringify({ handle: this.diskHandle, name, sectorSize, sectorCount });
  }

  private layer(h: number): BlockDevice {
    if (h !== this.diskHandle)
      throw new DeviceError(DeviceCode.closed, `descriptor ${h} is not the disk's (${this.diskHandle})`);
    return this.diskDevice;
  }

  private rangeError(what: string): DeviceError {
    return new DeviceError(DeviceCode.range, `${this.diskDevice.name}: ${what}`);
  }

  devRead(h: number, lba: number, count: number): Uint8Array {
    const d = this.layer(h);
    if (count * d.sectorSize > DEV_READ_MAX_BYTES)
      throw this.rangeError(`devRead of ${count} sectors is over ${DEV_READ_MAX_BYTES} bytes`);
    const out = new Uint8Array(count * d.sectorSize);
    d.read(lba, count, out, 0);
    return out;
  }

  devWrite(h: number, lba: number, count: number, data: Uint8Array): void {
    const d = this.layer(h);
    if (data.length !== count * d.sectorSize)
      throw this.rangeError(`devWrite of ${count} sectors got ${data.length} bytes, not ${count * d.sectorSize}`);
    d.write(lba, count, data, 0);
  }

  devFlush(h: number): void {
    this.layer(h).flush();
  }

  // ---- the core
  coreCall(name: string, args: number[]): number {
    if (!EXPORTS.includes(name) || name === "init") throw new UsageError(`the core has no export ${name} to call`);
    const f = (this.core.exports as unknown as Record<string, (...a: number[]) => number | undefined>)[name];
    if (args.length !== f.length) throw new UsageError(`${name} takes ${f.length} arguments, not ${args.length}`);
    this.core.takeDeviceError();
    try {
      return f(...args) ?? 0;
    } catch (e) {
      // a wasm trap (unreachable, out of bounds), the core's abort, or a bug in an import (the
      // imports return device errors as codes): the instance is not to be called again
      throw Object.assign(new Error(`the core trapped in ${name}: ${(e as Error).message}`), { name: "CoreTrap" });
    }
  }

  private memoryRange(ptr: number, length: number): void {
    const ok = Number.isSafeInteger(ptr) && ptr >= 0 && length >= 0 && length <= CORE_COPY_MAX_BYTES;
    if (!ok || ptr + length > MEMORY_BYTES)
      throw new RangeError(`core memory ${ptr}+${length}: outside the memory or over ${CORE_COPY_MAX_BYTES} bytes`);
  }
  coreRead(ptr: number, length: number): Uint8Array {
    this.memoryRange(ptr, length);
    return this.core.copyOut(ptr, length);
  }
  coreWrite(ptr: number, data: Uint8Array): void {
    this.memoryRange(ptr, data.length);
    this.core.copyIn(ptr, data);
  }
  coreDeviceError(): string {
    const e = this.core.takeDeviceError();
    return JSON.stringify(e ? nativeError(e) : null);
  }

  // ---- crypto
  sha256Begin(): number {
    if (this.hashes.size >= SHA256_OPEN_MAX)
      throw new UsageError(`more than ${SHA256_OPEN_MAX} SHA-256 hashes are open`);
    const id = this.nextHash++;
    this.hashes.set(id, createHash("sha256"));
    return id;
  }
  private hash(id: number): Hash {
    const h = this.hashes.get(id);
    if (!h) throw new UsageError(`no SHA-256 hash ${id} is open`);
    return h;
  }
  sha256Update(id: number, data: Uint8Array): void {
    this.hash(id).update(data);
  }
  sha256Sectors(id: number, h: number, lba: number, sectors: number, bytes: number): void {
    const hash = this.hash(id),
      d = this.layer(h);
    if (bytes > sectors * d.sectorSize || bytes < 0)
      throw new UsageError(`sha256Sectors: ${bytes} bytes is more than ${sectors} sectors hold`);
    this.hashBuf = hashSectors(hash, d, { lba, sectors, bytes }, this.hashBuf);
  }
  readonly ed25519Verify = ed25519VerifyRaw;
  devicePublicKey(): Uint8Array {
    const k = this.options.deviceKey; // the raw key is the SPKI DER's last 32 bytes (RFC 8410); none: empty
    const der = k ? createPublicKey(k).export({ format: "der", type: "spki" }) : Buffer.alloc(12);
    return new Uint8Array(der.subarray(12));
  }
  deviceSign(message: Uint8Array): Uint8Array {
    if (!this.options.deviceKey) throw new UsageError("this host has no device key");
    return new Uint8Array(sign(null, message, this.options.deviceKey));
  }
  pbkdf2Sha256(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Uint8Array {
    if (!(iterations >= 1 && length >= 1 && length <= 64))
      throw new UsageError(`pbkdf2Sha256: ${iterations} iterations, ${length} bytes`);
    return new Uint8Array(pbkdf2Sync(password, salt, iterations, length, "sha256"));
  }
  sha256End(id: number): string {
    const d = this.hash(id).digest("hex");
    this.hashes.delete(id);
    return d;
  }
}
