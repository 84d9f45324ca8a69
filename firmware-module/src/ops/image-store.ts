// The recovery partition's image store (docs/recovery-store.md): a table of slots, kept in two
// copies, and the slots themselves, each holding one image and its manifest. A slot becomes
// current only when a new table naming it is written over the older copy: a write cut off
// anywhere leaves the previous table, and so the previous images, in force.
import { crc32, fromLatin1, fromUtf8, latin1, utf8 } from "./bytes";
import { BlockDevice, PartitionView, WriteGuard } from "./devices";
import { ClusterbackError } from "./errors";

// Section 2, "Table" (4096 bytes, at byte 0 and at byte 4096 of the partition)
export const S_Magic = 0; // 8 bytes "CBSTORE1"
export const S_VersionMajor = 8; // u16
export const S_VersionMinor = 10; // u16
export const S_SlotCount = 12; // u32, 1..8
export const S_Sequence = 16; // u64, the table's generation: the valid copy with the higher one is in force
export const S_SlotBytes = 24; // u64, bytes of each slot, a multiple of 1 MiB
export const S_FirstSlot = 32; // u64, byte offset of slot 0 (1 MiB)
export const S_Entries = 64; // SlotCount entries of 256 bytes
export const S_Crc = 4092; // u32, CRC-32 of bytes 0..4091
export const TABLE_BYTES = 4096;
// Section 3, "Slot entry" (256 bytes)
export const E_State = 0; // u32: 0 empty, 1 valid, 2 being written (not valid)
export const E_Kind = 4; // u32: 1 factory, 2 backup
export const E_Commit = 8; // u64, the table sequence at which the slot was committed
export const E_ImageBytes = 16; // u64
export const E_Created = 24; // u64, seconds since 1970 (the image header's)
export const E_HeaderCrc = 32; // u32, CRC-32 of the image's header sector
export const E_ManifestCrc = 36; // u32, CRC-32 of the manifest bytes
export const E_ManifestOffset = 40; // u64, bytes from the slot's start (after the image, 4096-aligned)
export const E_ManifestBytes = 48; // u32
export const E_SourcePart = 52; // u32, partition number the image was taken from
export const E_Name = 64; // 64 bytes UTF-8, NUL-padded
export const ENTRY_BYTES = 256;

const MAGIC = "CBSTORE1";
const MiB = 1 << 20;
export const MAX_SLOTS = 8;

export type SlotKind = "factory" | "backup";
export type SlotState = "empty" | "valid" | "writing";

export interface SlotInfo {
  slot: number;
  state: SlotState;
  kind: SlotKind;
  commit: number;
  imageBytes: number;
  created: number;
  headerCrc: number;
  manifestOffset: number;
  manifestBytes: number;
  manifestCrc: number;
  sourcePartition: number;
  name: string;
}

export class StoreError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "StoreError";
  }
}

interface Table {
  sequence: number;
  slotCount: number;
  slotBytes: number;
  firstSlot: number;
  slots: SlotInfo[];
}

function blankSlot(slot: number): SlotInfo {
  return {
    slot,
    state: "empty",
    kind: "backup",
    commit: 0,
    imageBytes: 0,
    created: 0,
    headerCrc: 0,
    manifestOffset: 0,
    manifestBytes: 0,
    manifestCrc: 0,
    sourcePartition: 0,
    name: "",
  };
}

function encodeTable(t: Table): Uint8Array {
  const b = new Uint8Array(TABLE_BYTES);
  const v = new DataView(b.buffer);
  b.set(fromLatin1(MAGIC), S_Magic);
  v.setUint16(S_VersionMajor, 1, true);
  v.setUint16(S_VersionMinor, 0, true);
  v.setUint32(S_SlotCount, t.slotCount, true);
  v.setBigUint64(S_Sequence, BigInt(t.sequence), true);
  v.setBigUint64(S_SlotBytes, BigInt(t.slotBytes), true);
  v.setBigUint64(S_FirstSlot, BigInt(t.firstSlot), true);
  for (const s of t.slots) {
    const o = S_Entries + s.slot * ENTRY_BYTES;
    v.setUint32(o + E_State, { empty: 0, valid: 1, writing: 2 }[s.state], true);
    v.setUint32(o + E_Kind, s.kind === "factory" ? 1 : 2, true);
    v.setBigUint64(o + E_Commit, BigInt(s.commit), true);
    v.setBigUint64(o + E_ImageBytes, BigInt(s.imageBytes), true);
    v.setBigUint64(o + E_Created, BigInt(s.created), true);
    v.setUint32(o + E_HeaderCrc, s.headerCrc, true);
    v.setUint32(o + E_ManifestCrc, s.manifestCrc, true);
    v.setBigUint64(o + E_ManifestOffset, BigInt(s.manifestOffset), true);
    v.setUint32(o + E_ManifestBytes, s.manifestBytes, true);
    v.setUint32(o + E_SourcePart, s.sourcePartition, true);
    b.set(utf8(s.name).subarray(0, 64), o + E_Name);
  }
  v.setUint32(S_Crc, crc32(b.subarray(0, S_Crc)), true);
  return b;
}

/** Decodes one table copy; undefined when it is not a valid table (torn, blank, or foreign). */
function decodeTable(b: Uint8Array): Table | undefined {
  const v = new DataView(b.buffer, b.byteOffset, TABLE_BYTES);
  if (latin1(b.subarray(0, 8)) !== MAGIC) return undefined;
  if (v.getUint32(S_Crc, true) !== crc32(b.subarray(0, S_Crc))) return undefined;
  if (v.getUint16(S_VersionMajor, true) !== 1) return undefined;
  const slotCount = v.getUint32(S_SlotCount, true);
  if (slotCount < 1 || slotCount > MAX_SLOTS) return undefined;
  const slots: SlotInfo[] = [];
  for (let i = 0; i < slotCount; i++) {
    const o = S_Entries + i * ENTRY_BYTES;
    const state = (["empty", "valid", "writing"] as const)[v.getUint32(o + E_State, true)] ?? "writing";
    const nameBytes = b.subarray(o + E_Name, o + E_Name + 64);
    const end = nameBytes.indexOf(0);
    slots.push({
      slot: i,
      state,
      kind: v.getUint32(o + E_Kind, true) === 1 ? "factory" : "backup",
      commit: Number(v.getBigUint64(o + E_Commit, true)),
      imageBytes: Number(v.getBigUint64(o + E_ImageBytes, true)),
      created: Number(v.getBigUint64(o + E_Created, true)),
      headerCrc: v.getUint32(o + E_HeaderCrc, true),
      manifestCrc: v.getUint32(o + E_ManifestCrc, true),
      manifestOffset: Number(v.getBigUint64(o + E_ManifestOffset, true)),
      manifestBytes: v.getUint32(o + E_ManifestBytes, true),
      sourcePartition: v.getUint32(o + E_SourcePart, true),
      name: fromUtf8(end < 0 ? nameBytes : nameBytes.subarray(0, end)),
    });
  }
  return {
    sequence: Number(v.getBigUint64(S_Sequence, true)),
    slotCount,
    slots,
    slotBytes: Number(v.getBigUint64(S_SlotBytes, true)),
    firstSlot: Number(v.getBigUint64(S_FirstSlot, true)),
  };
}

/** The image store on a recovery partition (`device`: the partition, LBA 0 its first sector). */
export class ImageStore {
  private table: Table;

  private constructor(
    readonly device: BlockDevice,
    table: Table,
  ) {
    this.table = table;
  }

  /** Lays out an empty store: every image on the partition is forgotten. */
  static format(device: BlockDevice, slotCount: number): ImageStore {
    if (!Number.isInteger(slotCount) || slotCount < 1 || slotCount > MAX_SLOTS)
      throw new StoreError(`a store holds 1 to ${MAX_SLOTS} slots, not ${slotCount}`);
    const bytes = device.sectorCount * device.sectorSize;
    const slotBytes = Math.floor((bytes - MiB) / slotCount / MiB) * MiB;
    if (slotBytes < MiB)
      throw new StoreError(
        `${device.name}: ${bytes} bytes leave no room for ${slotCount} slots of at least 1 MiB after the 1 MiB table area`,
      );
    const table: Table = {
      sequence: 1,
      slotCount,
      slotBytes,
      firstSlot: MiB,
      slots: Array.from({ length: slotCount }, (_, i) => blankSlot(i)),
    };
    const store = new ImageStore(device, table);
    // both copies (sequence n lives in copy n % 2), so that a blank or foreign copy never looks newer
    store.writeCopy(1, encodeTable(table));
    table.sequence = 2;
    store.writeCopy(0, encodeTable(table));
    device.flush();
    return store;
  }

  /** Opens the store: the valid table copy with the higher sequence is in force. */
  static open(device: BlockDevice): ImageStore {
    const partitionBytes = device.sectorCount * device.sectorSize;
    if (partitionBytes < 2 * TABLE_BYTES)
      throw new StoreError(
        `${device.name}: no image store (${partitionBytes} bytes cannot hold the two ${TABLE_BYTES}-byte table copies)`,
      );
    const copies = [0, 1].map((i) => {
      const b = new Uint8Array(TABLE_BYTES);
      device.read((i * TABLE_BYTES) / device.sectorSize, TABLE_BYTES / device.sectorSize, b, 0);
      return decodeTable(b);
    });
    const valid = copies.filter((t): t is Table => t !== undefined);
    if (valid.length === 0)
      throw new StoreError(`${device.name}: no image store (neither table copy at bytes 0 and 4096 is valid)`);
    const t = valid.reduce((a, b) => (b.sequence > a.sequence ? b : a));
    // section 3: FirstSlot is 1 MiB and SlotBytes a multiple of 1 MiB (a CRC-valid table that says otherwise came from a bad writer)
    if (t.firstSlot !== MiB || t.slotBytes < MiB || t.slotBytes % MiB !== 0) {
      throw new StoreError(
        `${device.name}: the store's table puts slot 0 at byte ${t.firstSlot} with slots of ${t.slotBytes} bytes, not at 1 MiB with slots of whole MiBs`,
      );
    }
    if (t.firstSlot + t.slotCount * t.slotBytes > device.sectorCount * device.sectorSize) {
      throw new StoreError(
        `${device.name}: the store's ${t.slotCount} slots of ${t.slotBytes} bytes from byte ${t.firstSlot} reach past the partition's end`,
      );
    }
    return new ImageStore(device, t);
  }

  get slotBytes(): number {
    return this.table.slotBytes;
  }
  get sequence(): number {
    return this.table.sequence;
  }
  slots(): SlotInfo[] {
    return this.table.slots.map((s) => ({ ...s }));
  }
  slot(i: number): SlotInfo {
    const s = this.table.slots[i];
    if (!s)
      throw new StoreError(`${this.device.name}: no slot ${i} (the store has slots 0..${this.table.slotCount - 1})`);
    return { ...s };
  }

  /** Valid images, newest first. */
  images(): SlotInfo[] {
    return this.slots()
      .filter((s) => s.state === "valid")
      .sort((a, b) => b.commit - a.commit);
  }

  /** The device of slot i's extent (LBA 0 = its first sector), writes guarded to it. */
  slotDevice(i: number): BlockDevice {
    this.slot(i);
    const ss = this.device.sectorSize;
    const view = new PartitionView(
      this.device,
      (this.table.firstSlot + i * this.table.slotBytes) / ss,
      this.table.slotBytes / ss,
      `${this.device.name} slot ${i}`,
    );
    return new WriteGuard(view, 0, view.sectorCount);
  }

  /**
   * The slot a new image goes to. Slot 0 holds the factory image, and is chosen only when
   * `factory` is asked for. A backup goes to slots 1.. : one that holds no valid image, else
   * the one with the oldest backup, but never when that would leave no other valid image.
   */
  pickSlot(factory = false): number {
    if (factory) return 0;
    const backups = this.table.slots.filter((s) => s.slot > 0);
    if (backups.length === 0)
      throw new StoreError(
        `${this.device.name}: the store has only the factory slot; a backup needs a store of 2 or more slots`,
      );
    const free = backups.find((s) => s.state !== "valid");
    if (free) return free.slot;
    return backups.sort((a, b) => a.commit - b.commit)[0].slot; // others are valid: never the only good image
  }

  /** Marks slot i as being written (committed at once): its old image no longer counts. */
  beginWrite(i: number): void {
    const s = this.table.slots[i];
    this.slot(i);
    const others = this.table.slots.filter((x) => x.slot !== i && x.state === "valid");
    if (s.state === "valid" && others.length === 0)
      throw new StoreError(`${this.device.name}: slot ${i} holds the only good image; it is not overwritten`);
    if (s.state === "empty") return; // nothing there to invalidate
    this.commitTable({ ...blankSlot(i), state: "writing", kind: s.kind });
  }

  /** Records slot i's new image (and its manifest, written after the image): the final, atomic step. */
  commit(
    i: number,
    entry: {
      kind: SlotKind;
      imageBytes: number;
      created: number;
      headerCrc: number;
      name: string;
      sourcePartition: number;
      manifest?: Uint8Array;
    },
  ): SlotInfo {
    this.slot(i);
    const manifest = entry.manifest ?? new Uint8Array(0);
    // room for a signature section right after the image (docs/image-format.md section 14)
    const manifestOffset = Math.ceil((entry.imageBytes + 512) / 4096) * 4096;
    if (manifestOffset + manifest.length > this.table.slotBytes)
      throw new StoreError(
        `${this.device.name}: image (${entry.imageBytes} bytes) and manifest (${manifest.length}) do not fit slot ${i} (${this.table.slotBytes} bytes)`,
      );
    if (manifest.length > 0) {
      const ss = this.device.sectorSize;
      const padded = new Uint8Array(Math.ceil(manifest.length / ss) * ss);
      padded.set(manifest);
      this.slotDevice(i).write(manifestOffset / ss, padded.length / ss, padded, 0);
    }
    this.device.flush();
    const info: SlotInfo = {
      slot: i,
      state: "valid",
      kind: entry.kind,
      commit: this.table.sequence + 1,
      imageBytes: entry.imageBytes,
      created: entry.created,
      headerCrc: entry.headerCrc,
      manifestOffset,
      manifestBytes: manifest.length,
      manifestCrc: crc32(manifest),
      sourcePartition: entry.sourcePartition,
      name: entry.name,
    };
    this.commitTable(info);
    return { ...info };
  }

  /** Forgets slot i's image. */
  invalidate(i: number): void {
    this.slot(i);
    this.commitTable(blankSlot(i));
  }

  /** Slot i's manifest bytes, checked against the entry's CRC. */
  manifest(i: number): Uint8Array {
    const s = this.slot(i);
    if (s.state !== "valid" || s.manifestBytes === 0) return new Uint8Array(0);
    const ss = this.device.sectorSize;
    // section 4: the manifest starts on a 4096-byte boundary after the image and ends inside the slot
    if (s.manifestOffset % 4096 !== 0 || s.manifestOffset + s.manifestBytes > this.table.slotBytes) {
      throw new StoreError(
        `${this.device.name}: slot ${i}'s manifest (${s.manifestBytes} bytes at byte ${s.manifestOffset}) does not lie on a 4096-byte boundary inside the ${this.table.slotBytes}-byte slot`,
      );
    }
    const buf = new Uint8Array(Math.ceil(s.manifestBytes / ss) * ss);
    this.slotDevice(i).read(s.manifestOffset / ss, buf.length / ss, buf, 0);
    const m = buf.subarray(0, s.manifestBytes);
    const crc = crc32(m);
    if (crc !== s.manifestCrc)
      throw new StoreError(
        `${this.device.name}: slot ${i}'s manifest fails its check (CRC-32 ${crc.toString(16)}, table says ${s.manifestCrc.toString(16)})`,
      );
    return m;
  }

  private commitTable(entry: SlotInfo): void {
    const next: Table = {
      ...this.table,
      sequence: this.table.sequence + 1,
      slots: this.table.slots.map((s) => (s.slot === entry.slot ? entry : s)),
    };
    // the copy in force is the one with the current sequence; overwrite the other one
    this.writeCopy(next.sequence % 2, encodeTable(next));
    this.device.flush();
    this.table = next;
  }

  private writeCopy(copy: number, bytes: Uint8Array): void {
    const ss = this.device.sectorSize;
    this.device.write((copy * TABLE_BYTES) / ss, TABLE_BYTES / ss, bytes, 0);
  }
}
