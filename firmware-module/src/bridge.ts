// The portable operations (ops/) over the native host API (docs/host-api.md): the disk as a
// BlockDevice whose sectors cross as ArrayBuffers, the wasm core as an ops Core whose exports
// and memory copies are host calls, and SHA-256 as the host's primitive. In Node the same
// operations run over JS devices and a WebAssembly instance (host-shim/src/native/core.ts);
// here every device the operations hand to the core becomes a chain of the core's own layers
// (window, write guard, read-failure trap, 512-byte view: layerOpen) over the disk's descriptor,
// so that the core's bulk I/O stays native, cluster data never enters QuickJS, and the host
// implements sector I/O on the disk and nothing more.
import { DEV_READ_MAX_BYTES, type HostApi } from "./host-api";
import { CoreCode, CoreExports, DeviceCode, EXPORTS, LayerKind, LayerStat } from "./ops/abi";
import { Core } from "./ops/core";
import { BlockDevice, PartitionView, ReadFailure, ReadFailureTrap, WriteGuard } from "./ops/devices";
import { BadSectorError, ClusterbackError, DeviceError, WriteGuardError } from "./ops/errors";
import { provideDeviceSigner, provideEd25519Verify, provideSha256, SectorRun, Sha256 } from "./ops/platform";
import { SectorAdapter } from "./ops/sector-adapter";

/** What a native error carries besides name and message (host-api.md, section 2). */
interface NativeError {
  name?: string;
  message?: string;
  code?: number;
  device?: string;
  op?: "read" | "write";
  lba?: number;
  requestLba?: number;
  sectorCount?: number;
}

/** The ops' error for a native one: device errors keep their code (and a bad sector its LBAs). */
export function fromNative(e: unknown): Error {
  if (e instanceof ClusterbackError) return e;
  const n = (e ?? {}) as NativeError;
  const message = n.message ?? String(e);
  if (n.name === "BadSectorError" && n.lba !== undefined)
    return new BadSectorError(n.device ?? "?", n.op ?? "read", n.lba, n.requestLba ?? n.lba, n.sectorCount ?? 1);
  if (n.name === "WriteGuardError") return new WriteGuardError(message);
  if (typeof n.code === "number") {
    const d = new DeviceError(n.code, message);
    if (n.name) d.name = n.name;
    return d;
  }
  const c = new ClusterbackError(message);
  if (n.name) c.name = n.name;
  return c;
}

/** The bytes of a view as an ArrayBuffer for the host: its own buffer when the view spans all of it, else a copy. */
function bufferOf(view: Uint8Array): ArrayBuffer {
  const b = view.buffer as ArrayBuffer;
  return view.byteOffset === 0 && view.byteLength === b.byteLength ? b : (view.slice().buffer as ArrayBuffer);
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}

/** A native descriptor as a BlockDevice (the disk, or a layer the core was given). */
export class HostDevice implements BlockDevice {
  constructor(
    private readonly host: HostApi,
    readonly handle: number,
    readonly name: string,
    readonly sectorSize: number,
    readonly sectorCount: number,
  ) {}
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    const most = Math.max(1, Math.floor(DEV_READ_MAX_BYTES / this.sectorSize));
    let done = 0;
    do {
      const n = Math.min(most, sectorCount - done);
      const b = call(() => this.host.devRead(this.handle, lba + done, n));
      dst.set(new Uint8Array(b), dstOffset + done * this.sectorSize);
      done += n;
    } while (done < sectorCount);
  }
  write(lba: number, sectorCount: number, src: Uint8Array, srcOffset: number): void {
    const bytes = bufferOf(src.subarray(srcOffset, srcOffset + sectorCount * this.sectorSize));
    call(() => this.host.devWrite(this.handle, lba, sectorCount, bytes));
  }
  flush(): void {
    call(() => this.host.devFlush(this.handle));
  }
  close(): void {
    /* the disk stays open for the firmware's life; layers are closed by their owner */
  }
}

/** The disk the host opened for the firmware (host.disk()). */
export function hostDisk(host: HostApi): HostDevice {
  const d = JSON.parse(host.disk()) as { handle: number; name: string; sectorSize: number; sectorCount: number };
  return new HostDevice(host, d.handle, d.name, d.sectorSize, d.sectorCount);
}

interface Opened {
  /** The device given to the core. */
  device: BlockDevice;
  /** Layers opened for it, innermost first (closed in reverse). */
  layers: number[];
}

/** A mirrored layer's last figures, taken just before it closes (then the getters read them). */
const beforeClose = new Map<number, () => void>();

/** The wasm core behind the host API: exports are host.coreCall, memory is copied in and out. */
export class HostCore extends Core {
  readonly exports: CoreExports;
  private readonly chains = new Map<number, Opened>();
  /** The error check() threw for the core's last E_DEVICE (a read-failure trap's error). */
  private lastDeviceFailure: DeviceError | undefined;

  constructor(private readonly host: HostApi) {
    super();
    const ex: Record<string, (...args: number[]) => number> = {};
    for (const name of EXPORTS) ex[name] = (...args: number[]) => call(() => host.coreCall(name, args));
    this.exports = ex as unknown as CoreExports;
  }

  /**
   * Gives `d` (a composition of the ops' devices over the disk) to the core: each window, write
   * guard, read-failure trap and 512-byte view becomes one of the core's layers (LayerKind),
   * innermost first; the outermost one's handle is returned.
   */
  attach(d: BlockDevice): number {
    const layers: number[] = [];
    try {
      const handle = this.openChain(d, layers);
      if (layers.length > 0) this.chains.set(handle, { device: d, layers });
      return handle;
    } catch (e) {
      this.closeLayers(layers);
      throw e;
    }
  }

  detach(h: number): void {
    const c = this.chains.get(h);
    if (!c) return;
    this.chains.delete(h);
    this.closeLayers(c.layers);
  }

  private openChain(d: BlockDevice, layers: number[]): number {
    const open = (kind: number, inner: BlockDevice, a = 0, b = 0, c = 0, e = 0): number => {
      const h = this.check(this.exports.layerOpen(kind, this.openChain(inner, layers), a, b, c, e));
      layers.push(h);
      return h;
    };
    if (d instanceof HostDevice) return d.handle;
    if (d instanceof PartitionView) return open(LayerKind.window, d.parent, d.startLba, d.sectorCount);
    if (d instanceof SectorAdapter) return open(LayerKind.sectors512, d.inner, d.inner.sectorSize, d.inner.sectorCount);
    if (d instanceof WriteGuard) {
      const h = open(LayerKind.guard, d.inner, d.firstLba, d.extentSectors, d.hole?.startSector, d.hole?.sectors);
      this.mirrorGuard(d, h);
      return h;
    }
    if (d instanceof ReadFailureTrap) {
      const h = open(LayerKind.trap, d.inner);
      this.mirrorTrap(d, h);
      return h;
    }
    throw new ClusterbackError(
      `${d.name}: this device cannot be given to the core (a window, write guard, read-failure trap or 512-byte view of the disk can)`,
    );
  }

  /** A layer's figures (LayerStat) while it is open, and its last ones after it closed. */
  private statsOf(h: number): () => number[] {
    const read = () => [0, 1, 2, 3].map((s) => this.exports.layerStat(h, s));
    let last: number[] | undefined;
    beforeClose.set(h, () => {
      last = read();
    });
    return () => last ?? read();
  }

  /** The guard's counters: what it let through in JS plus what the core's layer counted. */
  private mirrorGuard(g: WriteGuard, h: number): void {
    const stats = this.statsOf(h);
    // the guard's own `+=` reads then sets: the set keeps the core's count the read just took
    const mirror = (key: "sectorsRead" | "sectorsWritten", stat: number) => {
      let js = g[key],
        native = 0;
      Object.defineProperty(g, key, {
        configurable: true,
        get: () => {
          native = stats()[stat];
          return js + native;
        },
        set: (v: number) => {
          js = v - native;
        },
      });
    };
    mirror("sectorsRead", LayerStat.read);
    mirror("sectorsWritten", LayerStat.written);
  }

  /** The trap's last failure: the core's layer's LBA and count, with the error check() threw for it. */
  private mirrorTrap(t: ReadFailureTrap, h: number): void {
    const stats = this.statsOf(h);
    Object.defineProperty(t, "lastFailure", {
      configurable: true,
      get: (): ReadFailure | undefined => {
        const s = stats(),
          lba = s[LayerStat.failLba],
          count = s[LayerStat.failCount];
        if (!(count > 0)) return undefined;
        const e =
          this.lastDeviceFailure ??
          new DeviceError(DeviceCode.io, `${t.name}: read error at LBA ${lba} (${count} sectors)`);
        // a bad sector named by the host, in a request of the same size: the exact sector
        if (e instanceof BadSectorError && e.sectorCount === count)
          return { lba: lba + (e.lba - e.requestLba), sectorCount: 1, error: e };
        return { lba, sectorCount: count, error: e };
      },
    });
  }

  /** Closes layers outermost first. */
  private closeLayers(layers: number[]): void {
    for (const l of layers.slice().reverse()) {
      beforeClose.get(l)?.();
      beforeClose.delete(l);
      this.check(this.exports.layerClose(l));
    }
  }

  protected readMemory(ptr: number, length: number): Uint8Array {
    return new Uint8Array(call(() => this.host.coreRead(ptr, length)));
  }
  protected writeMemory(ptr: number, bytes: Uint8Array): void {
    call(() => this.host.coreWrite(ptr, bufferOf(bytes)));
  }

  /**
   * The native side keeps the device error behind the core's E_DEVICE (host.coreDeviceError);
   * a refusal of the core's write guard layer is thrown as the guard's WriteGuardError.
   */
  check(r: number): number {
    if (r >= 0) return r;
    if (this.exports.failureCode() === CoreCode.E_DEVICE) {
      const n = JSON.parse(this.host.coreDeviceError()) as NativeError | null;
      const [code, dev, lba, count] = [0, 1, 2, 3].map((i) => this.exports.failureValue(i));
      const guard = code === DeviceCode.guard ? guardOf(this.chains.get(dev)?.device) : undefined;
      const e = n ? fromNative(n) : guard?.refusal(lba, count);
      if (e) {
        this.lastDeviceFailure = e as DeviceError;
        throw e;
      }
    }
    return super.check(r);
  }
}

/** The outermost write guard of a device given to the core. */
function guardOf(d: BlockDevice | undefined): WriteGuard | undefined {
  while (d && !(d instanceof WriteGuard)) {
    if (d instanceof PartitionView) d = d.parent;
    else if (d instanceof SectorAdapter || d instanceof ReadFailureTrap) d = d.inner;
    else return undefined;
  }
  return d;
}

/** How many of `d`'s sectors make one disk sector (a 512-byte view of a 4Kn disk: 8; else 1). */
function viewRatio(d: BlockDevice): number {
  let ratio = 1;
  for (;;) {
    if (d instanceof PartitionView) d = d.parent;
    else if (d instanceof WriteGuard || d instanceof ReadFailureTrap) d = d.inner;
    else if (d instanceof SectorAdapter) {
      ratio *= d.inner.sectorSize / d.sectorSize;
      d = d.inner;
    } else return ratio;
  }
}

/**
 * `sectors` sectors of `d` at `lba` as sectors of the disk (the device under every window, guard,
 * trap and 512-byte view), or undefined when a 512-byte view splits a disk sector.
 */
function onDisk(
  d: BlockDevice,
  lba: number,
  sectors: number,
): { disk: HostDevice; lba: number; sectors: number } | undefined {
  for (;;) {
    if (d instanceof HostDevice) return { disk: d, lba, sectors };
    if (d instanceof PartitionView) {
      lba += d.startLba;
      d = d.parent;
    } else if (d instanceof WriteGuard || d instanceof ReadFailureTrap) d = d.inner;
    else if (d instanceof SectorAdapter) {
      const ratio = d.inner.sectorSize / d.sectorSize;
      if (lba % ratio !== 0 || sectors % ratio !== 0) return undefined;
      lba /= ratio;
      sectors /= ratio;
      d = d.inner;
    } else return undefined;
  }
}

/** SHA-256 by the host: bytes cross as ArrayBuffers; sectors are hashed natively from a descriptor. Ed25519 verification by the host too. */
export function provideHostSha256(host: HostApi): void {
  provideEd25519Verify((k, m, s) => call(() => host.ed25519Verify(bufferOf(k), bufferOf(m), bufferOf(s))));
  const deviceKey = new Uint8Array(call(() => host.devicePublicKey()));
  provideDeviceSigner(
    deviceKey.length === 32
      ? { publicKey: deviceKey, sign: (m) => new Uint8Array(call(() => host.deviceSign(bufferOf(m)))) }
      : undefined,
  );
  provideSha256((): Sha256 => {
    const id = call(() => host.sha256Begin());
    return {
      update(bytes: Uint8Array) {
        call(() => host.sha256Update(id, bufferOf(bytes)));
      },
      updateSectors(device: BlockDevice, runs: SectorRun[]) {
        // one host call per stretch of the disk: runs that continue one another (a contiguous file
        // is handed out in 1 MiB pieces) are joined, the host reads in its own chunks
        let pending: { handle: number; lba: number; sectors: number; bytes: number } | undefined;
        const flush = () => {
          const p = pending;
          if (p) call(() => host.sha256Sectors(id, p.handle, p.lba, p.sectors, p.bytes));
          pending = undefined;
        };
        // a 512-byte view of a 4Kn disk may split disk sectors at a run's ends: those few sectors
        // are read here, the rest is hashed natively
        const ratio = viewRatio(device);
        const piece = (lba: number, sectors: number, bytes: number) => {
          const at = onDisk(device, lba, sectors);
          if (at) {
            const whole = bytes === sectors * device.sectorSize;
            const p = pending;
            if (p && p.handle === at.disk.handle && p.lba + p.sectors === at.lba) {
              p.sectors += at.sectors;
              p.bytes += bytes;
            } else {
              flush();
              pending = { handle: at.disk.handle, lba: at.lba, sectors: at.sectors, bytes };
            }
            if (!whole) flush(); // a short piece ends the stretch: what follows must not be read past it
            return;
          }
          flush();
          const b = new Uint8Array(sectors * device.sectorSize);
          device.read(lba, sectors, b, 0);
          this.update(b.subarray(0, bytes));
        };
        for (const r of runs) {
          const head = Math.min(r.sectors, (ratio - (r.lba % ratio)) % ratio);
          const mid = Math.floor((r.sectors - head) / ratio) * ratio;
          let left = r.bytes;
          for (const [lba, n] of [
            [r.lba, head],
            [r.lba + head, mid],
            [r.lba + head + mid, r.sectors - head - mid],
          ]) {
            const take = Math.min(left, n * device.sectorSize);
            if (n > 0 && take > 0) piece(lba, n, take);
            left -= take;
          }
        }
        flush();
      },
      digest() {
        return call(() => host.sha256End(id));
      },
    };
  });
}
