// An attacker's tools for images (docs/image-format.md): the CBH check (section 7), the layout
// (sections 2, 5, 6), and resealing an image after a change so that every check matches again.
// The image's checks catch damage, not tampering: tests use these to show what does (a signature).

const IMG_SECTOR = 512;

// ---- CBH (docs/image-format.md section 7) ----

const IV = [
  0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0x082efa98, 0xec4e6c89, 0x452821e6,
  0x38d01377, 0xbe5466cf, 0x34e90c6c, 0xc0ac29b7, 0xc97c50dd, 0x3f84d5b5, 0xb5470917,
];
const LANE_ODD = [0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f, 0x165667b1];
const rotl = (x: number, r: number) => (r === 0 ? x >>> 0 : ((x << r) | (x >>> (32 - r))) >>> 0);
function avalanche(x: number, m1: number, m2: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, m1);
  x ^= x >>> 15;
  x = Math.imul(x, m2);
  x ^= x >>> 16;
  return x >>> 0;
}
function lanes(bytes: Uint8Array, seed: number): number[] {
  const s = ((seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x846ca68b)) >>> 0;
  const lane = IV.map((v) => (s + v) >>> 0);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let at = 0; at < bytes.length; at += 64) {
    for (let i = 0; i < 16; i++)
      lane[i] =
        Math.imul(rotl((lane[i] + Math.imul(dv.getUint32(at + 4 * i, true), 0x7feb352d)) >>> 0, 13), 0x9e3779b9) >>> 0;
  }
  return lane;
}
export function cbh32(bytes: Uint8Array, seed: number): number {
  const lane = lanes(bytes, seed);
  let x = bytes.length >>> 0;
  for (let i = 0; i < 16; i++) x = (x + rotl(lane[i], i)) >>> 0;
  return avalanche(x, 0x7feb352d, 0x846ca68b);
}
export function cbh64(bytes: Uint8Array, seed: number): bigint {
  const lane = lanes(bytes, seed);
  let x = (Math.floor(bytes.length / 2 ** 32) ^ 0x5bd1e995) >>> 0;
  for (let i = 0; i < 16; i++) x = (x + Math.imul(lane[i], (LANE_ODD[i & 3] + 2 * (i >> 2)) >>> 0)) >>> 0;
  return (BigInt(avalanche(x, 0xed5ad4bb, 0xac4c1b51)) << 32n) | BigInt(cbh32(bytes, seed));
}
/** The check of a record whose own 8-byte check field at `field` counts as zero. */
export function recordCheck(record: Uint8Array, field: number, seed: number): bigint {
  const z = Uint8Array.from(record);
  z.fill(0, field, field + 8);
  return cbh64(z, seed);
}

// ---- the image's layout (docs/image-format.md sections 2, 5, 6) ------------------------------

export const SEED = { header: 0, meta: 2, chain: 3, commit: 4, table: 2 ** 32 };
export const H = {
  sectorBytes: 108,
  clusterBytes: 104,
  imageClusters: 88,
  perBlock: 172,
  metaOffset: 200,
  metaLength: 208,
  dataOffset: 216,
  blockCount: 224,
  commitOffset: 232,
  metaCheck: 248,
  headerCheck: 504,
};
export const C = { headerCheck: 24, chainCheck: 32, commitCheck: 504 };
export const T = { firstBit: 16, checks: 32 };

export interface Layout {
  sectorBytes: number;
  clusterBytes: number;
  imageClusters: number;
  perBlock: number;
  metaOffset: number;
  metaBytes: number;
  dataOffset: number;
  blockCount: number;
  commitOffset: number;
  length: number;
}
export function layout(img: Uint8Array): Layout {
  const v = new DataView(img.buffer, img.byteOffset, IMG_SECTOR);
  const u64 = (o: number) => Number(v.getBigUint64(o, true));
  return {
    sectorBytes: v.getUint32(H.sectorBytes, true),
    clusterBytes: v.getUint32(H.clusterBytes, true),
    imageClusters: u64(H.imageClusters),
    perBlock: v.getUint32(H.perBlock, true),
    metaOffset: u64(H.metaOffset),
    metaBytes: u64(H.metaLength),
    dataOffset: u64(H.dataOffset),
    blockCount: u64(H.blockCount),
    commitOffset: u64(H.commitOffset),
    length: u64(H.commitOffset) + IMG_SECTOR,
  };
}
export const tableBytes = (n: number) => Math.ceil((32 + 4 * n + 8) / IMG_SECTOR) * IMG_SECTOR;
/** Block k: its first byte, cluster count and table offset. */
export function blockAt(g: Layout, k: number): { start: number; clusters: number; table: number } {
  let start = g.dataOffset;
  for (let j = 0; j < k; j++) {
    const n = Math.min(g.perBlock, g.imageClusters - j * g.perBlock);
    start += n * g.clusterBytes + tableBytes(n);
  }
  const clusters = Math.min(g.perBlock, g.imageClusters - k * g.perBlock);
  return { start, clusters, table: start + clusters * g.clusterBytes };
}
export const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length);

/** The image made whole again after a change: MetaCheck, HeaderCheck, and the commit record's copy of it and its own check. */
export function reseal(img: Uint8Array): Uint8Array {
  const g = layout(img),
    v = view(img);
  v.setBigUint64(H.metaCheck, cbh64(img.subarray(g.metaOffset, g.metaOffset + g.metaBytes), SEED.meta), true);
  const headerCheck = recordCheck(img.subarray(0, IMG_SECTOR), H.headerCheck, SEED.header);
  v.setBigUint64(H.headerCheck, headerCheck, true);
  v.setBigUint64(g.commitOffset + C.headerCheck, headerCheck, true);
  v.setBigUint64(
    g.commitOffset + C.commitCheck,
    recordCheck(img.subarray(g.commitOffset, g.length), C.commitCheck, SEED.commit),
    true,
  );
  return img;
}

/**
 * A forger's change to a block's first cluster: new bytes, and every check over them made to
 * match again (the cluster's check in its table, the table's check, the commit record's chain
 * check, the commit record's own check). verify and restore without a signature accept the result.
 */
export function forgeCluster(img: Uint8Array, k: number, bytes: Uint8Array): Uint8Array {
  const g = layout(img),
    v = view(img),
    b = blockAt(g, k);
  img.set(bytes.subarray(0, g.clusterBytes), b.start);
  const firstBit = Number(v.getBigUint64(b.table + T.firstBit, true));
  v.setUint32(b.table + T.checks, cbh32(img.subarray(b.start, b.start + g.clusterBytes), firstBit), true);
  const tb = tableBytes(b.clusters);
  v.setBigUint64(b.table + tb - 8, recordCheck(img.subarray(b.table, b.table + tb), tb - 8, SEED.table + k), true);
  // the chain: every block's table check, in order, as 8-byte values, zero-padded to 64 bytes
  const chain = new Uint8Array(Math.ceil((8 * g.blockCount) / 64) * 64),
    cv = view(chain);
  for (let j = 0; j < g.blockCount; j++) {
    const bj = blockAt(g, j),
      tj = tableBytes(bj.clusters);
    cv.setBigUint64(8 * j, v.getBigUint64(bj.table + tj - 8, true), true);
  }
  v.setBigUint64(g.commitOffset + C.chainCheck, cbh64(chain, SEED.chain), true);
  return reseal(img);
}

/** A forger's change to the metadata (a FAT entry, the boot sector): bytes at `offset` of the metadata section, MetaCheck and the header made to match. */
export function forgeMeta(img: Uint8Array, offset: number, bytes: Uint8Array): Uint8Array {
  const g = layout(img);
  img.set(bytes, g.metaOffset + offset);
  return reseal(img);
}
