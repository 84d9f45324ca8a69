// The printer's native side, played by Node: one disk, its partitions, the image store on the
// recovery partition, and the step-driven jobs the firmware module starts through the host API
// (host-shim/src/quickjs-host.ts). One job at a time: begin, step(budget) until done, finish.
// Bulk data moves between the disk and the wasm core's memory only.
import * as zlib from "node:zlib";
import { BlockDevice, PartitionView, WriteGuard } from "./devices";
import { Core, PhaseName, Slot } from "./core";
import { ClusterbackError, UsageError } from "./errors";
import { ImageStore, SlotInfo, StoreError } from "./image-store";
import { SectorAdapter } from "./sector-adapter";
import { PartitionEntry, PartitionTable, readPartitionTable, volumeInfo, imageInfoFromResults, setImageParams, comparison, describeMismatch, ImageInfo } from "./api";
import { buildManifest, checkHealth, HealthReport, Manifest } from "./health";
import { planExclusions, loadPatches } from "./exclusions";

export interface PrinterLayout {
  /** Partition numbers, as the partition table numbers them. */
  system: number;
  recovery: number;
  spool?: number;
  /** Paths (\\DIR\\* or \\DIR\\FILE) whose files the manifest kept with each image covers. */
  manifestPaths: string[];
  /** Files left out of every backup (the profile's exclude; patterns that match nothing are ignored). */
  exclude?: string[];
}

export interface JobProgress { done: boolean; phase: string; bytesDone: number; bytesTotal: number }

export class JobError extends ClusterbackError {
  constructor(message: string) { super(message); this.name = "JobError"; }
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
}

export class PrinterHost {
  readonly table: PartitionTable;
  private job: ActiveJob | undefined;
  private storeCache: ImageStore | undefined;

  constructor(readonly core: Core, readonly disk: BlockDevice, readonly layout: PrinterLayout, readonly now: () => number = () => Date.now()) {
    this.table = readPartitionTable(core, disk);
    for (const n of [layout.system, layout.recovery]) this.entry(n);
  }

  entry(n: number): PartitionEntry {
    const e = this.table.partitions.find((p) => p.number === n);
    if (!e) throw new UsageError(`${this.disk.name} has no partition ${n} (it has ${this.table.partitions.map((p) => p.number).join(", ") || "none"})`);
    return e;
  }

  partition(n: number): BlockDevice {
    const e = this.entry(n);
    return new PartitionView(this.disk, e.startLba, e.sectorCount, `${this.disk.name} partition ${n}`);
  }

  store(): ImageStore {
    this.storeCache ??= ImageStore.open(this.partition(this.layout.recovery));
    return this.storeCache;
  }

  formatStore(slots: number): ImageStore {
    this.storeCache = ImageStore.format(this.partition(this.layout.recovery), slots);
    return this.storeCache;
  }

  /** Valid images, newest first, each with its header's information. */
  listImages(): Array<SlotInfo & { image?: ImageInfo; headerCheck?: string; error?: string }> {
    return this.store().images().map((s) => {
      const dev = this.imageDevice(s.slot);
      const h = this.core.attach(dev);
      try {
        this.core.check(this.core.exports.verifyBegin(h, Math.min(dev.sectorCount, s.imageBytes / 512), 0xffffffff, 0, 0));
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
    });
  }

  manifest(slot: number): Manifest | undefined {
    const bytes = this.store().manifest(slot);
    return bytes.length ? (JSON.parse(Buffer.from(bytes).toString("utf8")) as Manifest) : undefined;
  }

  /** The health of a FAT partition, against the manifest of the newest valid image taken from it. */
  health(partition: number): HealthReport {
    const image = this.store().images().find((s) => s.sourcePartition === partition);
    let manifest: Manifest | undefined;
    try { manifest = image ? this.manifest(image.slot) : undefined; } catch { manifest = undefined; }
    return checkHealth(this.core, this.partition(partition), manifest);
  }

  private imageDevice(slot: number): BlockDevice {
    const dev = this.store().slotDevice(slot);
    return dev.sectorSize === 512 ? dev : new SectorAdapter(dev, 512);
  }

  get busy(): boolean { return this.job !== undefined; }

  /** Backs up partition `partition` into a slot (the store picks it unless given). */
  beginBackup(options: { partition: number; slot?: number; factory?: boolean; name?: string }): { slot: number } {
    this.idle();
    const store = this.store();
    const slot = options.slot ?? store.pickSlot(options.factory ?? false);
    const src = this.partition(options.partition);
    const vol = volumeInfo(this.core, src);
    const need = Math.ceil(vol.imageBytes / 4096) * 4096 + 1024 * 1024; // the image and room for its manifest
    if (need > store.slotBytes) throw new StoreError(`partition ${options.partition}'s image needs ${need} bytes; slot ${slot} holds ${store.slotBytes}`);
    // everything that can refuse the backup comes before the slot's old image is given up
    const plan = planExclusions(this.core, src, this.layout.exclude ?? []);
    store.beginWrite(slot);
    const img = this.imageDevice(slot);
    const hs = this.core.attach(src), hi = this.core.attach(img);
    const e = this.entry(options.partition);
    const name = options.name ?? (options.factory ? "factory" : `backup-${new Date(this.now()).toISOString().slice(0, 19)}`);
    setImageParams(this.core, Buffer.from(name, "utf8"), e.typeGuid);
    const created = Math.floor(this.now() / 1000);
    loadPatches(this.core, hs, src.sectorSize, plan.patches);
    this.start({ kind: "backup", handles: [hs, hi], slot, partition: options.partition, factory: slot === 0, name, created, wrote: true, onFinish: () => this.finishBackup(img, vol.imageBytes, plan.files.length) },
      () => this.core.exports.backupBegin(hs, src.sectorSize, src.sectorCount, hi, e.type, e.startLba, created));
    return { slot };
  }

  private finishBackup(img: BlockDevice, imageBytes: number, excludedFiles: number): Record<string, unknown> {
    const j = this.job!;
    const header = new Uint8Array(512);
    img.read(0, 1, header, 0);
    const manifest = buildManifest(this.core, this.partition(j.partition), this.layout.manifestPaths, this.now());
    const info = this.store().commit(j.slot, {
      kind: j.factory ? "factory" : "backup", imageBytes, created: j.created, headerCrc: zlib.crc32(header), name: j.name,
      sourcePartition: j.partition, manifest: Buffer.from(JSON.stringify(manifest), "utf8"),
    });
    return { slot: j.slot, name: j.name, imageBytes, manifestFiles: manifest.files.length, excludedFiles, commit: info.commit };
  }

  /** Restores partition `partition` from the image in `slot`. */
  beginRestore(options: { slot: number; partition: number; verify?: boolean; full?: boolean }): void {
    this.idle();
    const s = this.validSlot(options.slot);
    const img = this.imageDevice(s.slot);
    const target = this.partition(options.partition);
    const guarded = new WriteGuard(target, 0, target.sectorCount);
    const hi = this.core.attach(img), ht = this.core.attach(guarded);
    this.start({ kind: "restore", handles: [hi, ht], slot: s.slot, partition: options.partition, factory: false, name: s.name, created: s.created, wrote: false,
      onFinish: () => this.finishCompare("restore", guarded.sectorsWritten * guarded.sectorSize) },
      () => this.core.exports.restoreBegin(hi, s.imageBytes / 512, ht, target.sectorSize, target.sectorCount, (options.verify === false ? 0 : 1) | (options.full ? 2 : 0)));
  }

  /** Checks every check of the image in `slot`; with `against`, compares that partition with it. */
  beginVerify(options: { slot: number; against?: number }): void {
    this.idle();
    const s = this.validSlot(options.slot);
    const img = this.imageDevice(s.slot);
    const hi = this.core.attach(img);
    const target = options.against === undefined ? undefined : this.partition(options.against);
    const ht = target ? this.core.attach(target) : 0xffffffff;
    this.start({ kind: "verify", handles: target ? [hi, ht] : [hi], slot: s.slot, partition: options.against ?? 0, factory: false, name: s.name, created: s.created, wrote: false,
      onFinish: () => this.finishCompare("verify", 0) },
      () => this.core.exports.verifyBegin(hi, s.imageBytes / 512, ht, target?.sectorSize ?? 0, target?.sectorCount ?? 0));
  }

  private finishCompare(kind: string, bytesWritten: number): Record<string, unknown> {
    const res = this.core.results();
    const v = comparison(this.core);
    if (!v.ok) throw new JobError(`${kind} found differences: ${describeMismatch(v)}`);
    return { slot: this.job!.slot, name: this.job!.name, clusters: res[Slot.clustersDone], bytesWritten, bytesRead: res[Slot.targetBytesRead] };
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
  cancellable(): boolean { return this.job !== undefined && !(this.job.kind === "restore" && this.job.wrote); }

  /** Stops the job. A cancelled backup leaves its slot invalid and every other image as it was. */
  cancel(): void { this.abandon(); }

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
    if (!this.job) return;
    if (this.job.kind === "backup") this.core.exports.setPatches(this.job.handles[0], 512, 0);
    for (const h of this.job.handles) this.core.detach(h);
    this.job = undefined;
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
