// Signed images on the command line (docs/image-format.md section 14): Ed25519 keys in the
// formats OpenSSL reads (PKCS#8 and SPKI, PEM), the image's SHA-256 taken while a job writes or
// reads it (no pass of its own over the data), the signature section written after the commit
// record, and the gate that checks a signature before a restore writes its first sector.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import { IMAGE_SECTOR } from "../../../firmware-module/src/ops/abi";
import type { Core } from "../../../firmware-module/src/ops/core";
import { type BlockDevice, DeviceWrapper } from "../../../firmware-module/src/ops/devices";
import { DeviceCode, DeviceError, UsageError } from "../../../firmware-module/src/ops/errors";
import {
  checkSignature,
  decodeSection,
  encodeSection,
  imageLengthOf,
  keyIdOf,
  SIG_SECTION_BYTES,
  SignatureError,
  SignatureFields,
  signedMessage,
  TrustPolicy,
} from "../../../firmware-module/src/ops/signature";

const CHUNK = 1 << 20;

// ---- keys ------------------------------------------------------------------------------------

/** Writes a new Ed25519 key pair: `prefix`.key (PKCS#8 PEM, mode 0600) and `prefix`.pub (SPKI PEM). */
export function generateKeys(prefix: string): { privateFile: string; publicFile: string; keyId: Uint8Array } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
  const privateFile = `${prefix}.key`,
    publicFile = `${prefix}.pub`;
  for (const f of [privateFile, publicFile])
    if (fs.existsSync(f))
      throw new UsageError(`${f} exists: keygen does not replace a key (remove it, or give another name)`);
  fs.writeFileSync(privateFile, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
  fs.writeFileSync(publicFile, publicKey.export({ format: "pem", type: "spki" }), { flag: "wx" });
  return { privateFile, publicFile, keyId: keyIdOf(rawPublicKey(publicKey)) };
}

/** The 32 raw bytes of an Ed25519 public key (the end of its SPKI DER). */
function rawPublicKey(k: crypto.KeyObject): Uint8Array {
  const der = k.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.length - 32));
}

function readPem(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(
      `${what} ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`,
    );
  }
}

/** A private Ed25519 key from a PEM file (PKCS#8, as keygen and `openssl genpkey -algorithm ed25519` write it). */
export function readPrivateKey(file: string): crypto.KeyObject {
  const text = readPem(file, "signing key");
  let k: crypto.KeyObject;
  try {
    k = crypto.createPrivateKey(text);
  } catch (e) {
    throw new UsageError(`signing key ${file} is not a private key in PEM (PKCS#8): ${(e as Error).message}`);
  }
  if (k.asymmetricKeyType !== "ed25519")
    throw new UsageError(`signing key ${file} is an ${k.asymmetricKeyType} key: clusterback signs with Ed25519`);
  return k;
}

/** The raw public key in a PEM file: a public key (SPKI), or the public half of a private one. */
export function readPublicKey(file: string): Uint8Array {
  const text = readPem(file, "key");
  let k: crypto.KeyObject;
  try {
    k = text.includes("PRIVATE KEY")
      ? crypto.createPublicKey(crypto.createPrivateKey(text))
      : crypto.createPublicKey(text);
  } catch (e) {
    throw new UsageError(`key ${file} is not an Ed25519 key in PEM (SPKI or PKCS#8): ${(e as Error).message}`);
  }
  if (k.asymmetricKeyType !== "ed25519")
    throw new UsageError(`key ${file} is an ${k.asymmetricKeyType} key: clusterback signatures are Ed25519`);
  return rawPublicKey(k);
}

// ---- the image's digest, taken as it is written or read ---------------------------------------

/** Where an image's SHA-256 is taken: here, or on the background writer's thread (Core.hashThread). */
interface HashSink {
  update(bytes: Uint8Array): void;
  /** Hashes the core's memory[ptr, ptr + n) in order; false: this sink cannot (the caller passes the bytes). */
  updateMemory(ptr: number, n: number): boolean;
  digest(): Uint8Array;
}

function localHash(): HashSink {
  const h = crypto.createHash("sha256");
  return {
    update: (b) => h.update(b),
    updateMemory: () => false,
    digest: () => new Uint8Array(h.digest()),
  };
}

/** The hash on the background writer's thread: in order with its writes, the core's memory hashed in place. */
export function threadHash(thread: {
  hashBytes(b: Uint8Array): void;
  hashMemory(p: number, n: number): void;
  digest(): Uint8Array;
}): HashSink {
  return {
    update: (b) => thread.hashBytes(b),
    updateMemory: (p, n) => {
      thread.hashMemory(p, n);
      return true;
    },
    digest: () => thread.digest(),
  };
}

/**
 * SHA-256 of an image's bytes in offset order, fed by the writes or reads a job makes anyway.
 * Bytes that come ahead of order (a backup writes its bitmap and metadata before the header) are
 * read back from the device once they are next; bytes never seen are read at the end.
 */
class OrderedDigest {
  /** Bytes hashed: [0, hashed). */
  hashed = 0;
  private ahead: Array<[number, number]> = [];
  header: Uint8Array | undefined;
  /** Where hashing stops (the image's length, once its header is seen). */
  limit = Number.POSITIVE_INFINITY;

  constructor(
    private readonly device: BlockDevice,
    private readonly hash: HashSink = localHash(),
  ) {}

  /** Bytes [at, at + bytes.length) of the image, as they pass (`memoryAt`: where they lie in the core's memory). */
  take(at: number, bytes: Uint8Array, written: boolean, memoryAt?: number): void {
    if (at === 0 && bytes.length >= IMAGE_SECTOR) {
      this.header = bytes.slice(0, IMAGE_SECTOR);
      this.limit = imageLengthOf(this.header);
    }
    const end = Math.min(at + bytes.length, this.limit);
    if (at <= this.hashed && end > this.hashed) {
      const from = this.hashed - at;
      if (memoryAt === undefined || !this.hash.updateMemory(memoryAt + from, end - at - from))
        this.hash.update(bytes.subarray(from, end - at));
      this.hashed = end;
    } else if (written && at > this.hashed && at < this.limit) this.ahead.push([at, end]);
    this.catchUp();
  }

  /** Reads back and hashes what was written ahead and is next now. */
  private catchUp(): void {
    for (;;) {
      const next = this.ahead.find(([s, e]) => s <= this.hashed && e > this.hashed);
      this.ahead = this.ahead.filter(([, e]) => e > this.hashed);
      if (!next) return;
      this.readRange(this.hashed, next[1]);
    }
  }

  private readRange(from: number, to: number): void {
    const buf = new Uint8Array(CHUNK);
    for (let at = from; at < to; ) {
      const n = Math.min(CHUNK, to - at);
      const first = Math.floor(at / IMAGE_SECTOR),
        sectors = Math.ceil((at + n) / IMAGE_SECTOR) - first;
      const b = sectors * IMAGE_SECTOR <= buf.length ? buf : new Uint8Array(sectors * IMAGE_SECTOR);
      this.device.read(first, sectors, b, 0);
      const skip = at - first * IMAGE_SECTOR;
      this.hash.update(b.subarray(skip, skip + n));
      at += n;
    }
    this.hashed = to;
  }

  /** The digest of [0, imageLength): whatever the job did not pass is read now. */
  finish(imageLength: number): Uint8Array {
    if (this.hashed > imageLength)
      throw new SignatureError(`the image's digest went past its end (${this.hashed} of ${imageLength} bytes)`);
    if (!this.header) {
      const h = new Uint8Array(IMAGE_SECTOR);
      this.device.read(0, 1, h, 0);
      this.header = h;
    }
    if (this.hashed < imageLength) this.readRange(this.hashed, imageLength);
    return this.hash.digest();
  }
}

/** The image a backup writes, hashed in order as it is written (a deferred write is hashed from the core's memory). */
export class DigestingWriter extends DeviceWrapper {
  readonly digest: OrderedDigest;
  constructor(
    inner: BlockDevice,
    private readonly memory: Uint8Array,
    hash?: HashSink,
  ) {
    super(inner);
    this.digest = new OrderedDigest(inner, hash);
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.inner.write(lba, sectorCount, src, srcOffset);
    const n = sectorCount * this.sectorSize;
    this.digest.take(lba * this.sectorSize, src.subarray(srcOffset, srcOffset + n), true);
  }
  deferWrite(lba: number, sectorCount: number, ptr: number, writer: unknown): boolean {
    const n = sectorCount * this.sectorSize;
    const queued = this.inner.deferWrite?.(lba, sectorCount, ptr, writer) ?? false;
    if (queued) this.digest.take(lba * this.sectorSize, this.memory.subarray(ptr, ptr + n), true, ptr);
    return queued;
  }
}

/** An image a restore or verify reads, hashed in order as it is read. */
export class DigestingReader extends DeviceWrapper {
  readonly digest: OrderedDigest;
  /**
   * memory: the core's; a read into it is hashed in place by a thread hash when `inPlace` says
   * the range is one the core overwrites only by reading into it again (its block buffers: the
   * host waits for queued work on a range before a read into it). Anything else (a record the
   * core then rewrites itself) is hashed from a copy.
   */
  constructor(
    inner: BlockDevice,
    hash?: HashSink,
    private readonly memory?: Uint8Array,
    private readonly inPlace: (ptr: number, bytes: number) => boolean = () => false,
  ) {
    super(inner);
    this.digest = new OrderedDigest(inner, hash);
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.inner.read(lba, sectorCount, dst, dstOffset);
    const n = sectorCount * this.sectorSize;
    const inCore = this.memory !== undefined && dst.buffer === this.memory.buffer && this.inPlace(dstOffset, n);
    this.digest.take(
      lba * this.sectorSize,
      dst.subarray(dstOffset, dstOffset + n),
      false,
      inCore ? dstOffset : undefined,
    );
  }
}

/** The 512 bytes after an image (its signature section, or whatever is there; zeros past the device's end). */
export function readSection(device: BlockDevice, imageLength: number): Uint8Array {
  const b = new Uint8Array(SIG_SECTION_BYTES);
  const stream = device as BlockDevice & { trailer?: () => Uint8Array | undefined };
  if (stream.trailer) {
    const t = stream.trailer(); // a stream: what follows the image, if anything (a short one is a truncated section)
    return t ? (t.length === b.length ? t : t.slice()) : b;
  }
  const lba = imageLength / IMAGE_SECTOR;
  if (lba + 1 <= device.sectorCount) device.read(lba, 1, b, 0);
  else {
    // a file that ends inside the section: what there is of it (a truncated section)
    const bytes = (device as BlockDevice & { byteLength?: number }).byteLength ?? 0;
    const tail = bytes - imageLength;
    if (tail > 0 && tail < SIG_SECTION_BYTES) {
      return readPartial(device, imageLength, tail);
    }
  }
  return b;
}

/** `n` bytes at byte `at` of a file device (fewer than a sector). */
function readPartial(device: BlockDevice, at: number, n: number): Uint8Array {
  const path = (device as BlockDevice & { filePath?: string }).filePath;
  if (!path) return new Uint8Array(0);
  const fd = fs.openSync(path, "r");
  try {
    const b = new Uint8Array(n);
    fs.readSync(fd, b, 0, n, at);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Signs an image whose digest is known: the section, written after the commit record. */
export function writeSignature(
  core: Core,
  device: BlockDevice,
  header: Uint8Array,
  digest: Uint8Array,
  key: crypto.KeyObject,
  securityVersion: number,
): SignatureFields {
  const imageLength = imageLengthOf(header);
  const fields: SignatureFields = {
    securityVersion,
    imageLength,
    keyId: keyIdOf(rawPublicKey(crypto.createPublicKey(key))),
    digest,
    signature: new Uint8Array(64),
  };
  const unsigned = encodeSection(core, fields);
  fields.signature = new Uint8Array(crypto.sign(null, signedMessage(unsigned, header), key));
  device.write(imageLength / IMAGE_SECTOR, 1, encodeSection(core, fields), 0);
  return fields;
}

/**
 * Signs the image at the start of `device` after the fact (a factory line, the simulator's): reads
 * it once for its SHA-256, then writes the section after its commit record.
 */
export function signDevice(core: Core, device: BlockDevice, keyFile: string, securityVersion = 0): SignatureFields {
  const header = new Uint8Array(IMAGE_SECTOR);
  device.read(0, 1, header, 0);
  const digest = new OrderedDigest(device);
  return writeSignature(
    core,
    device,
    header,
    digest.finish(imageLengthOf(header)),
    readPrivateKey(keyFile),
    securityVersion,
  );
}

/** The signature an image carries, if any, unchecked against keys (for info). */
export function signatureInfo(
  core: Core,
  device: BlockDevice,
  header: Uint8Array,
  where: string,
): SignatureFields | undefined {
  const imageLength = imageLengthOf(header);
  try {
    return decodeSection(core, readSection(device, imageLength), imageLength, where);
  } catch {
    return undefined;
  }
}

/** A refusal of the signature gate, as the device error the core reports (DeviceCode guard: nothing reached the target). */
export class SignatureRefusal extends DeviceError {
  constructor(message: string) {
    super(DeviceCode.guard, message);
    this.name = "SignatureError";
  }
}

/**
 * Checks an image's signature against `policy` from the digest a reader took (reading what it did
 * not pass). Throws SignatureError.
 */
export function checkRead(core: Core, reader: DigestingReader, where: string, policy: TrustPolicy): SignatureFields {
  const header = new Uint8Array(IMAGE_SECTOR);
  reader.inner.read(0, 1, header, 0);
  const imageLength = imageLengthOf(header);
  const digest = reader.digest.finish(imageLength);
  return checkSignature(core, where, header, readSection(reader.inner, imageLength), imageLength, digest, policy);
}

/**
 * The restore's target behind a gate: before the first write that matters reaches it, the image's
 * signature is checked (the digest of what the check pass read); a refusal writes nothing. `at`:
 * "first" (a two-pass restore: the whole image is read before the mark is written), or "boot" (a
 * one-pass restore from a stream: the mark and the clusters go first, and the boot sector, written
 * over the mark at the very end, waits for the signature).
 */
export class SignatureGate extends DeviceWrapper {
  private passed = false;
  private zeroWrites = 0;
  fields: SignatureFields | undefined;
  constructor(
    inner: BlockDevice,
    private readonly check: () => SignatureFields,
    private readonly at: "first" | "boot",
  ) {
    super(inner);
  }
  private gate(lba: number): void {
    if (this.passed) return;
    if (this.at === "boot" && !(lba === 0 && ++this.zeroWrites > 1)) return;
    this.ensure();
  }
  /** Checks the signature now, unless it was (a job that ends without a write that needed it). */
  ensure(): void {
    if (this.passed) return;
    try {
      this.fields = this.check();
    } catch (e) {
      if (e instanceof SignatureError)
        throw new SignatureRefusal(
          `${e.message}; ${this.at === "first" ? "nothing was written" : "the target keeps its restore mark (no file system driver mounts it)"}`,
        );
      throw e;
    }
    this.passed = true;
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    this.gate(lba);
    this.inner.write(lba, sectorCount, src, srcOffset);
  }
  deferWrite(lba: number, sectorCount: number, ptr: number, writer: unknown): boolean {
    this.gate(lba);
    return this.inner.deferWrite?.(lba, sectorCount, ptr, writer) ?? false;
  }
}
