// Image signatures (docs/image-format.md section 14): the 512-byte signature section after an
// image's commit record, its Ed25519 signature over the section's head and the image's header,
// and the checks a reader makes before it trusts an image: a section that is whole, the key it
// was made with, the image's own digest, the signature, and a security version no lower than
// the reader's minimum. Portable: the crypto is the platform's (platform.ts: SHA-256, Ed25519),
// node:crypto in Node, the host's primitives on a printer.

import type { BlockDevice } from "./block-device";
import { fromHex, fromLatin1, latin1, sameBytes } from "./bytes";
import type { Core } from "./core";
import { ClusterbackError } from "./errors";
import { DeviceSigner, ed25519Verify, newSha256 } from "./platform";

export const SIG_MAGIC = "CBSIGNAT";
/** The section's length: one image sector. */
export const SIG_SECTION_BYTES = 512;
export const SIG_VERSION = 1;
/** Algorithm 1: Ed25519 (RFC 8032, pure). */
export const SIG_ALG_ED25519 = 1;
/** Byte offsets in the section. */
export const S = {
  magic: 0,
  version: 8,
  algorithm: 10,
  reserved0: 12,
  securityVersion: 16,
  imageLength: 24,
  keyId: 32,
  digest: 64,
  signature: 96,
  reserved: 160,
  check: 504,
} as const;
/** The signed head: bytes [0, SIGNED_HEAD) of the section, then the image's 512-byte header. */
export const SIGNED_HEAD = S.signature;
/** The seed of the section's own check (CBH-64, docs/image-format.md section 7). */
export const SIG_CHECK_SEED = 5;

export class SignatureError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "SignatureError";
  }
}

export interface SignatureFields {
  securityVersion: number;
  imageLength: number;
  /** SHA-256 of the signer's 32-byte raw public key. */
  keyId: Uint8Array;
  /** SHA-256 of the image's bytes [0, imageLength). */
  digest: Uint8Array;
  /** 64 bytes; zeros while the section is being made. */
  signature: Uint8Array;
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
/** A key id as people see it: its first 16 bytes in hex. */
export const keyIdText = (id: Uint8Array) => hex(id.subarray(0, 16));

/** The key id of a 32-byte raw Ed25519 public key. */
export function keyIdOf(publicKey: Uint8Array): Uint8Array {
  const h = newSha256();
  h.update(publicKey);
  return fromHex(h.digest());
}

/** The section for `f`, its check computed by the core (CBH-64, seed SIG_CHECK_SEED). */
export function encodeSection(core: Core, f: SignatureFields): Uint8Array {
  const b = new Uint8Array(SIG_SECTION_BYTES),
    v = new DataView(b.buffer);
  b.set(fromLatin1(SIG_MAGIC), S.magic);
  v.setUint16(S.version, SIG_VERSION, true);
  v.setUint16(S.algorithm, SIG_ALG_ED25519, true);
  v.setBigUint64(S.securityVersion, BigInt(f.securityVersion), true);
  v.setBigUint64(S.imageLength, BigInt(f.imageLength), true);
  b.set(f.keyId.subarray(0, 32), S.keyId);
  b.set(f.digest.subarray(0, 32), S.digest);
  b.set(f.signature.subarray(0, 64), S.signature);
  v.setBigUint64(S.check, sectionCheck(core, b), true);
  return b;
}

/** CBH-64 of the section with its check field as zero. */
function sectionCheck(core: Core, section: Uint8Array): bigint {
  const z = Uint8Array.from(section);
  z.fill(0, S.check, S.check + 8);
  return BigInt(`0x${core.checkOf(z, SIG_CHECK_SEED)}`);
}

/** The message an Ed25519 signature covers: the section's head (bytes 0..95) and the image's header. */
export function signedMessage(section: Uint8Array, header: Uint8Array): Uint8Array {
  const m = new Uint8Array(SIGNED_HEAD + 512);
  m.set(section.subarray(0, SIGNED_HEAD), 0);
  m.set(header.subarray(0, 512), SIGNED_HEAD);
  return m;
}

/**
 * The fields of the signature section `section` read at `imageLength` of the image `where`, or a
 * SignatureError that says what is wrong with it: absent, damaged, of another version or image.
 */
export function decodeSection(core: Core, section: Uint8Array, imageLength: number, where: string): SignatureFields {
  if (section.length === 0 || section.every((x) => x === 0))
    throw new SignatureError(`${where} is not signed: nothing follows its commit record at byte ${imageLength}`);
  if (section.length < SIG_SECTION_BYTES)
    throw new SignatureError(
      `${where}: the signature section at byte ${imageLength} is truncated (${section.length} of ${SIG_SECTION_BYTES} bytes)`,
    );
  const v = new DataView(section.buffer, section.byteOffset, SIG_SECTION_BYTES);
  const magic = latin1(section.subarray(0, 8));
  if (magic !== SIG_MAGIC)
    throw new SignatureError(
      `${where} is not signed: the sector after its commit record (byte ${imageLength}) is not a signature section (magic ${JSON.stringify(magic)})`,
    );
  const stored = v.getBigUint64(S.check, true),
    computed = sectionCheck(core, section.subarray(0, SIG_SECTION_BYTES));
  if (stored !== computed)
    throw new SignatureError(
      `${where}: the signature section at byte ${imageLength} is damaged (check ${stored.toString(16)}, computed ${computed.toString(16)})`,
    );
  const version = v.getUint16(S.version, true),
    alg = v.getUint16(S.algorithm, true);
  if (version !== SIG_VERSION || alg !== SIG_ALG_ED25519)
    throw new SignatureError(
      `${where}: signature section version ${version}, algorithm ${alg}: this reader knows version ${SIG_VERSION}, algorithm ${SIG_ALG_ED25519} (Ed25519)`,
    );
  const reserved = section.subarray(S.reserved, S.check);
  if (v.getUint32(S.reserved0, true) !== 0 || reserved.some((x) => x !== 0))
    throw new SignatureError(`${where}: the signature section's reserved bytes are not zero`);
  const length = Number(v.getBigUint64(S.imageLength, true));
  if (length !== imageLength)
    throw new SignatureError(
      `${where}: the signature section is for an image of ${length} bytes, this image is ${imageLength} bytes (a section copied from another image)`,
    );
  return {
    securityVersion: Number(v.getBigUint64(S.securityVersion, true)),
    imageLength: length,
    keyId: section.slice(S.keyId, S.keyId + 32),
    digest: section.slice(S.digest, S.digest + 32),
    signature: section.slice(S.signature, S.signature + 64),
  };
}

/** Byte 232 of an image's header: CommitOffset (docs/image-format.md section 2). */
const HDR_COMMIT_OFFSET = 232;

/** An image's length from its header: CommitOffset + 512, where its signature section starts. */
export function imageLengthOf(header: Uint8Array): number {
  return Number(new DataView(header.buffer, header.byteOffset, 512).getBigUint64(HDR_COMMIT_OFFSET, true)) + 512;
}

/** SHA-256 of an image's bytes [0, imageLength), taken by the platform from its sectors (natively on a printer). */
export function imageDigest(img: BlockDevice, imageLength: number): Uint8Array {
  const hash = newSha256();
  hash.updateSectors(img, [{ lba: 0, sectors: imageLength / 512, bytes: imageLength }]);
  return fromHex(hash.digest());
}

/**
 * Signs the image at the start of `img` with the device's key: its SHA-256 taken by the platform
 * from its sectors, the section written after its commit record (where its header says the image
 * ends). The store and the ghost file leave room for it.
 */
export function signWithDevice(core: Core, img: BlockDevice, signer: DeviceSigner): SignatureFields {
  const header = new Uint8Array(512);
  img.read(0, 1, header, 0);
  const imageLength = imageLengthOf(header);
  const f: SignatureFields = {
    securityVersion: 0,
    imageLength,
    keyId: keyIdOf(signer.publicKey),
    digest: imageDigest(img, imageLength),
    signature: new Uint8Array(64),
  };
  f.signature = signer.sign(signedMessage(encodeSection(core, f), header));
  img.write(imageLength / 512, 1, encodeSection(core, f), 0);
  return f;
}

/**
 * A public key as a profile gives it: SPKI PEM (clusterback keygen, openssl pkey -pubout) or the
 * raw 32 bytes in 64 hex digits. Throws SignatureError naming what is wrong.
 */
export function publicKeyFromText(text: string): Uint8Array {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return fromHex(t.toLowerCase());
  const m = /^-----BEGIN PUBLIC KEY-----([\s\S]*)-----END PUBLIC KEY-----$/.exec(t);
  if (!m)
    throw new SignatureError(
      `trusted key ${JSON.stringify(t.slice(0, 40))}...: neither 64 hex digits nor a PEM public key`,
    );
  const der = base64(m[1].replace(/\s+/g, ""));
  // SPKI of an Ed25519 key (RFC 8410): 30 2a 30 05 06 03 2b 65 70 03 21 00, then the 32 bytes
  const prefix = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
  if (der.length !== 44 || prefix.some((b, i) => der[i] !== b))
    throw new SignatureError(`trusted key: a PEM public key that is not Ed25519 (${der.length} bytes of DER)`);
  return der.slice(12);
}

function base64(s: string): Uint8Array {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const clean = s.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((clean.length * 6) / 8));
  let bits = 0,
    acc = 0,
    n = 0;
  for (const ch of clean) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new SignatureError(`trusted key: "${ch}" is not base64`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

export interface TrustPolicy {
  /** The trusted keys: 32-byte raw Ed25519 public keys. */
  keys: Uint8Array[];
  /** The lowest security version accepted (default 0). */
  minVersion?: number;
}

/**
 * Checks an image's signature against `policy`: its section (decodeSection), a key the policy
 * trusts, the digest of the image's bytes as they were read (`digest`), the Ed25519 signature over
 * the section's head and the header, and the security version. Returns the fields; throws a
 * SignatureError naming what failed.
 */
export function checkSignature(
  core: Core,
  where: string,
  header: Uint8Array,
  section: Uint8Array,
  imageLength: number,
  digest: Uint8Array,
  policy: TrustPolicy,
): SignatureFields {
  const f = decodeSection(core, section, imageLength, where);
  const key = policy.keys.find((k) => sameBytes(keyIdOf(k), f.keyId));
  if (!key)
    throw new SignatureError(
      `${where} is signed by key ${keyIdText(f.keyId)}, which is not trusted here (trusted: ${policy.keys.map((k) => keyIdText(keyIdOf(k))).join(", ") || "none"})`,
    );
  if (!sameBytes(digest, f.digest))
    throw new SignatureError(
      `${where}: its bytes do not match what key ${keyIdText(f.keyId)} signed (SHA-256 ${hex(digest).slice(0, 16)}..., signed ${hex(f.digest).slice(0, 16)}...): the image was changed after it was signed, or the signature is another image's`,
    );
  if (!ed25519Verify(key, signedMessage(section, header), f.signature))
    throw new SignatureError(`${where}: the Ed25519 signature by key ${keyIdText(f.keyId)} is not valid`);
  const min = policy.minVersion ?? 0;
  if (f.securityVersion < min)
    throw new SignatureError(
      `${where} has security version ${f.securityVersion}, below the minimum ${min}: an older image is not restored (no rollback)`,
    );
  return f;
}
