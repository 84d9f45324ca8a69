// The printer's native side, played by Node: one disk, its partitions, the image store on the
// recovery partition, and the step-driven jobs the firmware module starts through the host API
// (host-shim/src/native/quickjs-host.ts). One job at a time: begin, step(budget) until done, finish.
// Bulk data moves between the disk and the wasm core's memory only.
import { crc32, fromUtf8, utf8 } from "./bytes";
import { Core, PhaseName, Slot } from "./core";
import { BlockDevice, PartitionView, WriteGuard } from "./devices";
import { ClusterbackError, UsageError } from "./errors";
import { loadPatches } from "./exclusions";
import * as G from "./ghost";
import { buildManifest, checkHealth, HealthReport, Manifest } from "./health";
import { ImageStore, SlotInfo, StoreError } from "./image-store";
import { refuseBadEntry } from "./partition-table";
import { theDeviceSigner } from "./platform";
import { SectorAdapter } from "./sector-adapter";
import {
  checkSignature,
  imageDigest,
  imageLengthOf,
  publicKeyFromText,
  SignatureError,
  SignatureFields,
  signWithDevice,
  TrustPolicy,
} from "./signature";
import { TreeWalk, walkTree } from "./tree-walk";
import {
  comparison,
  describeMismatch,
  GhostBackupJob,
  ImageInfo,
  imageInfoFromResults,
  PartitionEntry,
  PartitionTable,
  planVolumeExclusions,
  readPartitionTable,
  setImageParams,
  volumeInfo,
} from "./volume";

export interface PrinterLayout {
  /** Partition numbers, as the partition table numbers them. */
  system: number;
  recovery: number;
  spool?: number;
  /** Paths (\\DIR\\* or \\DIR\\FILE) whose files the manifest kept with each image covers. */
  manifestPaths: string[];
  /** Files left out of every backup (the profile's exclude; patterns that match nothing are ignored). */
  exclude?: string[];
  /**
   * The ghost file's path when images live in the system partition itself (the profile's
   * imageLocation "ghost"; docs/image-format.md section 12): then there is one image, "slot 0",
   * and `recovery` is not used.
   */
  ghost?: string;
  /** The profile's security (docs/image-format.md section 14): trusted keys, and whether a boot restore requires a signature. */
  security?: TrustPolicy & { required: boolean };
}

/** The parts of a device profile (device-profiles/profile.schema.json) that lay out a printer. */
export interface LayoutProfile {
  partitions: Array<{ role: string }>;
  firmware: { critical: string[] };
  exclude?: string[];
  imageLocation: { kind: string; path?: string };
  security?: { trustedKeys: string[]; requireSignature: boolean; minSecurityVersion?: number };
}

/** A profile's layout: partition numbers of its roles (partitions are laid out in profile order). */
export function printerLayout(profile: LayoutProfile): PrinterLayout {
  const n = (role: string) => profile.partitions.findIndex((p) => p.role === role) + 1;
  const loc = profile.imageLocation;
  return {
    system: n("system"),
    recovery: n("recovery"),
    spool: n("spool") || undefined,
    manifestPaths: profile.firmware.critical,
    exclude: profile.exclude,
    ghost: loc.kind === "ghost" ? loc.path : undefined,
    security: profile.security && {
      keys: profile.security.trustedKeys.map(publicKeyFromText),
      minVersion: profile.security.minSecurityVersion ?? 0,
      required: profile.security.requireSignature,
    },
  };
}

export interface JobProgress {
  done: boolean;
  phase: string;
  bytesDone: number;
  bytesTotal: number;
}

export class JobError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "JobError";
  }
}

interface ActiveJob {
  kind: "backup" | "restore" | "verify";
  handles: number[];
  slot: number;
  partition: number;
  factory: boolean;
  name: string;
  created: number;
  wrote: boolean; // restore: the target has been written to (cancelling now leaves it half restored)
  onFinish: () => Record<string, unknown>;
  /** Called when the job ends without finish (failure or cancel), after the handles are let go. */
  onAbandon?: () => void;
}

export class PrinterHost {
  readonly table: PartitionTable;
  private job: ActiveJob | undefined;
  private storeCache: ImageStore | undefined;

  constructor(
    readonly core: Core,
    readonly disk: BlockDevice,
    readonly layout: PrinterLayout,
    readonly now: () => number = () => Date.now(),
  ) {
    this.table = readPartitionTable(core, disk);
    for (const n of layout.ghost ? [layout.system] : [layout.system, layout.recovery]) this.entry(n);
  }

  entry(n: number): PartitionEntry {
    const e = this.table.partitions.find((p) => p.number === n);
    if (!e)
      throw new UsageError(
        `${this.disk.name} has no partition ${n} (it has ${this.table.partitions.map((p) => p.number).join(", ") || "none"})`,
      );
    refuseBadEntry(e, this.disk.name);
    return e;
  }

  partition(n: number): BlockDevice {
    const e = this.entry(n);
    return new PartitionView(this.disk, e.startLba, e.sectorCount, `${this.disk.name} partition ${n}`);
  }

  store(): ImageStore {
    if (this.layout.ghost)
      throw new StoreError(
        `this printer keeps its image as the ghost file ${this.layout.ghost} in partition ${this.layout.system}, not in a recovery partition`,
      );
    this.storeCache ??= ImageStore.open(this.partition(this.layout.recovery));
    return this.storeCache;
  }

  formatStore(slots: number): ImageStore {
    this.storeCache = ImageStore.format(this.partition(this.layout.recovery), slots);
    return this.storeCache;
  }

  /** The system partition's ghost image (found by directory, else by the search), if any. */
  ghost(): G.FoundGhost | undefined {
    return G.findGhost(this.core, this.partition(this.layout.system), { name: this.layout.ghost });
  }

  private ghostSlot(): { ghost: G.FoundGhost; info: SlotInfo } | undefined {
    const ghost = this.ghost();
    if (!ghost) return undefined;
    const loc = G.ghostLocator(this.partition(this.layout.system), ghost);
    const info: SlotInfo = {
      slot: 0,
      state: "valid",
      kind: loc?.kind === 1 ? "factory" : "backup",
      commit: ghost.created,
      imageBytes: ghost.imageBytes,
      created: ghost.created,
      headerCrc: 0,
      manifestOffset: loc?.extraOffset ?? 0,
      manifestBytes: loc?.extraBytes ?? 0,
      manifestCrc: loc?.extraCrc ?? 0,
      sourcePartition: this.layout.system,
      name: "",
    };
    return { ghost, info };
  }

  /** Valid images, newest first, each with its header's information. */
  listImages(): Array<SlotInfo & { image?: ImageInfo; headerCheck?: string; error?: string }> {
    if (this.layout.ghost) {
      const g = this.ghostSlot();
      if (!g) return [];
      const dev = G.ghostDevice(this.partition(this.layout.system), g.ghost);
      return [this.describe(g.info, dev)].map((x) => ({ ...x, name: x.image?.name ?? "" }));
    }
    return this.store()
      .images()
      .map((s) => this.describe(s, this.imageDevice(s.slot)));
  }

  private describe(
    s: SlotInfo,
    dev: BlockDevice,
  ): SlotInfo & { image?: ImageInfo; headerCheck?: string; error?: string } {
    {
      const h = this.core.attach(dev);
      try {
        this.core.check(
          this.core.exports.verifyBegin(h, Math.min(dev.sectorCount, s.imageBytes / 512), 0xffffffff, 0, 0),
        );
        const image = imageInfoFromResults(this.core);
        const header = new Uint8Array(512);
        dev.read(0, 1, header, 0);
        const headerCheck = new DataView(header.buffer).getBigUint64(504, true).toString(16).padStart(16, "0");
        return { ...s, image, headerCheck };
      } catch (e) {
        return { ...s, error: (e as Error).message };
      } finally {
        this.core.detach(h);
      }
    }
  }

  manifest(slot: number): Manifest | undefined {
    if (this.layout.ghost) {
      const g = this.ghost();
      const bytes = g ? G.ghostExtra(this.partition(this.layout.system), g) : new Uint8Array(0);
      return bytes.length ? (JSON.parse(fromUtf8(bytes)) as Manifest) : undefined;
    }
    const bytes = this.store().manifest(slot);
    return bytes.length ? (JSON.parse(fromUtf8(bytes)) as Manifest) : undefined;
  }

  /** The health of a FAT partition, against the manifest of the newest valid image taken from it. */
  health(partition: number): HealthReport {
    if (this.layout.ghost) {
      let manifest: Manifest | undefined;
      try {
        manifest = partition === this.layout.system ? this.manifest(0) : undefined;
      } catch {
        manifest = undefined;
      }
      return checkHealth(this.core, this.partition(partition), manifest);
    }
    const image = this.store()
      .images()
      .find((s) => s.sourcePartition === partition);
    let manifest: Manifest | undefined;
    try {
      manifest = image ? this.manifest(image.slot) : undefined;
    } catch {
      manifest = undefined;
    }
    return checkHealth(this.core, this.partition(partition), manifest);
  }

  private imageDevice(slot: number): BlockDevice {
    const dev = this.store().slotDevice(slot);
    return dev.sectorSize === 512 ? dev : new SectorAdapter(dev, 512);
  }

  get busy(): boolean {
    return this.job !== undefined;
  }

  /** Backs up partition `partition` into a slot (the store picks it unless given). */
  beginBackup(options: { partition: number; slot?: number; factory?: boolean; name?: string }): { slot: number } {
    this.idle();
    if (this.layout.ghost) return this.beginGhostBackup(options);
    const store = this.store();
    const slot = options.slot ?? store.pickSlot(options.factory ?? false);
    const src = this.partition(options.partition);
    const vol = volumeInfo(this.core, src);
    // everything that can refuse the backup comes before the slot's old image is given up
    const plan = planVolumeExclusions(this.core, src, this.layout.exclude ?? []);
    const hs = this.core.attach(src);
    let walk: TreeWalk;
    try {
      loadPatches(this.core, hs, src.sectorSize, plan.patches);
      // what the directory tree reaches but the file system marks free is kept too (issue 18)
      walk = walkTree(this.core, hs, src, plan.patches.length);
      this.core.exports.setPatches(hs, src.sectorSize, walk.patchCount);
      let imageBytes = vol.imageBytes;
      if (walk.keptClusters > 0) {
        // the image with the kept clusters, counted as the backup will store it
        this.core.check(this.core.exports.scanBegin(hs, src.sectorSize, src.sectorCount));
        this.core.run({});
        imageBytes = this.core.results()[Slot.scanImageLength];
      }
      const need = Math.ceil(imageBytes / 4096) * 4096 + 1024 * 1024; // the image and room for its manifest
      if (need > store.slotBytes)
        throw new StoreError(
          `partition ${options.partition}'s image needs ${need} bytes; slot ${slot} holds ${store.slotBytes}`,
        );
    } catch (e) {
      this.core.detach(hs);
      throw e;
    }
    store.beginWrite(slot);
    const img = this.imageDevice(slot);
    const hi = this.core.attach(img);
    const e = this.entry(options.partition);
    const name =
      options.name ?? (options.factory ? "factory" : `backup-${new Date(this.now()).toISOString().slice(0, 19)}`);
    setImageParams(this.core, utf8(name), e.typeGuid);
    const created = Math.floor(this.now() / 1000);
    this.start(
      {
        kind: "backup",
        handles: [hs, hi],
        slot,
        partition: options.partition,
        factory: slot === 0,
        name,
        created,
        wrote: true,
        onFinish: () => this.finishBackup(img, plan.files.length, walk.notices),
      },
      () => this.core.exports.backupBegin(hs, src.sectorSize, src.sectorCount, hi, e.type, e.startLba, created),
    );
    return { slot };
  }

  /** A backup into the system partition's ghost file: the new file is switched in at finish(); a failed or cancelled one is removed. */
  private beginGhostBackup(options: { partition: number; factory?: boolean; name?: string }): { slot: number } {
    if (options.partition !== this.layout.system)
      throw new JobError(
        `the ghost image holds partition ${this.layout.system} (the system partition); partition ${options.partition} cannot be backed up into it`,
      );
    const src = this.partition(options.partition);
    const e = this.entry(options.partition);
    const factory = options.factory ?? false;
    const name = options.name ?? (factory ? "factory" : `backup-${new Date(this.now()).toISOString().slice(0, 19)}`);
    const manifest = buildManifest(this.core, src, this.layout.manifestPaths, this.now());
    const created = new Date(Math.floor(this.now() / 1000) * 1000);
    const job = new GhostBackupJob(this.core, src, `partition ${options.partition}`, {
      ghostName: this.layout.ghost,
      name,
      created,
      exclude: this.layout.exclude ?? [],
      strictExclude: false,
      partType: e.type,
      partStart: e.startLba,
      typeGuid: e.typeGuid,
      extra: utf8(JSON.stringify(manifest)),
      kind: factory ? 1 : 0,
      // the printer's own backups carry its device key's signature (when the host has one)
      sign: (img) => {
        const signer = theDeviceSigner();
        if (signer) signWithDevice(this.core, img, signer);
      },
    });
    job.begin();
    this.job = {
      kind: "backup",
      handles: [],
      slot: 0,
      partition: options.partition,
      factory,
      name,
      created: created.getTime() / 1000,
      wrote: true,
      onFinish: () => {
        const r = job.finish();
        return {
          slot: 0,
          name,
          imageBytes: r.imageBytes,
          manifestFiles: manifest.files.length,
          excludedFiles: job.excluded.length,
          commit: created.getTime() / 1000,
          ghost: job.path,
          ...(job.walkNotices.length ? { notices: job.walkNotices } : {}),
        };
      },
      onAbandon: () => job.abandon(),
    };
    return { slot: 0 };
  }

  private finishBackup(img: BlockDevice, excludedFiles: number, notices: string[]): Record<string, unknown> {
    const j = this.job!;
    // the image's length as the backup wrote it (exclusions left out, the tree walk's kept clusters in)
    const imageBytes = this.core.results()[Slot.scanImageLength];
    const header = new Uint8Array(512);
    img.read(0, 1, header, 0);
    const manifest = buildManifest(this.core, this.partition(j.partition), this.layout.manifestPaths, this.now());
    // the printer's own backups carry its device key's signature (when the host has a device key)
    const signer = theDeviceSigner();
    // (after where its header says the image ends: the volume's estimate does not know the files left out)
    if (signer) signWithDevice(this.core, img, signer);
    const info = this.store().commit(j.slot, {
      kind: j.factory ? "factory" : "backup",
      imageBytes,
      created: j.created,
      headerCrc: crc32(header),
      name: j.name,
      sourcePartition: j.partition,
      manifest: utf8(JSON.stringify(manifest)),
    });
    return {
      slot: j.slot,
      name: j.name,
      imageBytes,
      manifestFiles: manifest.files.length,
      excludedFiles,
      commit: info.commit,
      ...(notices.length ? { notices } : {}),
    };
  }

  /** Restores partition `partition` from the image in `slot`. */
  beginRestore(options: { slot: number; partition: number; verify?: boolean; full?: boolean }): void {
    this.idle();
    const { s, img, ghost } = this.imageOf(options.slot);
    const target = this.partition(options.partition);
    if (ghost && options.partition !== this.layout.system)
      throw new JobError(`the ghost image restores partition ${this.layout.system} only, not ${options.partition}`);
    const guarded = new WriteGuard(target, 0, target.sectorCount, ghost);
    const hi = this.core.attach(img),
      ht = this.core.attach(guarded);
    this.start(
      {
        kind: "restore",
        handles: [hi, ht],
        slot: s.slot,
        partition: options.partition,
        factory: false,
        name: s.name,
        created: s.created,
        wrote: false,
        onFinish: () => {
          const r = this.finishCompare("restore", guarded.sectorsWritten * guarded.sectorSize);
          if (ghost) G.clearSwitchMark(target, ghost);
          return r;
        },
      },
      () =>
        this.core.exports.restoreBegin(
          hi,
          s.imageBytes / 512,
          ht,
          target.sectorSize,
          target.sectorCount,
          (options.verify === false ? 0 : 1) | (options.full ? 2 : 0),
        ),
    );
  }

  /** Checks every check of the image in `slot`; with `against`, compares that partition with it. */
  beginVerify(options: { slot: number; against?: number }): void {
    this.idle();
    const { s, img } = this.imageOf(options.slot);
    const hi = this.core.attach(img);
    const target = options.against === undefined ? undefined : this.partition(options.against);
    const ht = target ? this.core.attach(target) : 0xffffffff;
    this.start(
      {
        kind: "verify",
        handles: target ? [hi, ht] : [hi],
        slot: s.slot,
        partition: options.against ?? 0,
        factory: false,
        name: s.name,
        created: s.created,
        wrote: false,
        onFinish: () => this.finishCompare("verify", 0),
      },
      () =>
        this.core.exports.verifyBegin(hi, s.imageBytes / 512, ht, target?.sectorSize ?? 0, target?.sectorCount ?? 0),
    );
  }

  private finishCompare(kind: string, bytesWritten: number): Record<string, unknown> {
    const res = this.core.results();
    const v = comparison(this.core);
    if (!v.ok) throw new JobError(`${kind} found differences: ${describeMismatch(v)}`);
    return {
      slot: this.job!.slot,
      name: this.job!.name,
      clusters: res[Slot.clustersDone],
      bytesWritten,
      bytesRead: res[Slot.targetBytesRead],
    };
  }

  /** One step of the running job: about `budget` bytes of I/O. */
  step(budget: number): JobProgress {
    const j = this.job;
    if (!j) throw new JobError("no job is running");
    let r: number;
    try {
      r = this.core.check(this.core.exports.step(budget));
    } catch (e) {
      this.abandon();
      throw e;
    }
    const res = this.core.results();
    const phase = PhaseName[res[Slot.phase]] ?? "?";
    if (j.kind === "restore" && res[Slot.phase] >= 8) j.wrote = true;
    return { done: r === 1, phase, bytesDone: res[Slot.bytesDone], bytesTotal: res[Slot.bytesTotal] };
  }

  /** After the last step: commits a backup, checks a restore's or verify's comparison. */
  finish(): Record<string, unknown> {
    const j = this.job;
    if (!j) throw new JobError("no job is running");
    try {
      return { kind: j.kind, ...j.onFinish() };
    } finally {
      this.abandon();
    }
  }

  /** Whether cancelling now leaves everything as good as before (a restore that has begun writing does not). */
  cancellable(): boolean {
    return this.job !== undefined && !(this.job.kind === "restore" && this.job.wrote);
  }

  /** Stops the job. A cancelled backup leaves its slot invalid and every other image as it was. */
  cancel(): void {
    this.abandon();
  }

  private start(j: ActiveJob, begin: () => number): void {
    this.job = j;
    try {
      this.core.check(begin());
    } catch (e) {
      this.abandon();
      throw e;
    }
  }

  private abandon(): void {
    const j = this.job;
    if (!j) return;
    if (j.kind === "backup" && j.handles.length) this.core.exports.setPatches(j.handles[0], 512, 0);
    for (const h of j.handles) this.core.detach(h);
    this.job = undefined;
    j.onAbandon?.();
  }

  /** A slot's image device (the ghost's for slot 0 on a ghost printer). */
  private imageOf(slot: number): { s: SlotInfo; img: BlockDevice; ghost?: G.FoundGhost } {
    if (!this.layout.ghost) {
      const s = this.validSlot(slot);
      return { s, img: this.imageDevice(s.slot) };
    }
    const g = slot === 0 ? this.ghostSlot() : undefined;
    if (!g)
      throw new StoreError(
        slot === 0
          ? `partition ${this.layout.system} has no ghost image ${this.layout.ghost}`
          : `this printer keeps one image, the ghost (slot 0); there is no slot ${slot}`,
      );
    return { s: g.info, img: G.ghostDevice(this.partition(this.layout.system), g.ghost), ghost: g.ghost };
  }

  /** The image in `slot` as a device of 512-byte image sectors (the factory line signs it there). */
  imageDeviceOf(slot: number): BlockDevice {
    return this.imageOf(slot).img;
  }

  /**
   * The signature of the image in `slot` checked against the profile's trusted keys and minimum
   * security version (docs/image-format.md section 14); throws SignatureError naming what fails.
   * The image's SHA-256 is taken by the platform from the slot's sectors (natively on a printer).
   */
  checkSignature(slot: number): SignatureFields {
    const policy = this.layout.security;
    if (!policy) throw new SignatureError("the profile names no trusted keys");
    const { img } = this.imageOf(slot);
    const where = `image in slot ${slot}`;
    const header = new Uint8Array(512);
    img.read(0, 1, header, 0);
    const imageLength = imageLengthOf(header);
    const section = new Uint8Array(512);
    if (imageLength / 512 + 1 <= img.sectorCount) img.read(imageLength / 512, 1, section, 0);
    const bytes = imageDigest(img, imageLength);
    // trusted: the profile's keys, and this printer's own (its backups are signed with it)
    const own = theDeviceSigner()?.publicKey;
    return checkSignature(this.core, where, header, section, imageLength, bytes, {
      ...policy,
      keys: own ? [...policy.keys, own] : policy.keys,
    });
  }

  private idle(): void {
    if (this.job) throw new JobError(`a ${this.job.kind} job is still running`);
  }

  private validSlot(slot: number): SlotInfo {
    const s = this.store().slot(slot);
    if (s.state !== "valid") throw new StoreError(`slot ${slot} holds no valid image (it is ${s.state})`);
    return s;
  }
}
