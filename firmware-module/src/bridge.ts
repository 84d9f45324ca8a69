// The portable operations (ops/) over the native host API (docs/host-api.md): the disk as a
// BlockDevice whose sectors cross as ArrayBuffers, the wasm core as an ops Core whose exports
// and memory copies are host calls, and SHA-256 as the host's primitive. In Node the same
// operations run over JS devices and a WebAssembly instance (host-shim/src/native/core.ts);
// here every device the operations hand to the core becomes a chain of native descriptors
// (window, write guard, read-failure trap, 512-byte view), so that the core's bulk I/O stays
// native and cluster data never enters QuickJS.
import { DEV_READ_MAX_BYTES, type HostApi } from "./host-api";
import { CoreCode, CoreExports, EXPORTS } from "./ops/abi";
import { Core } from "./ops/core";
import { BlockDevice, PartitionView, ReadFailure, ReadFailureTrap, WriteGuard } from "./ops/devices";
import { BadSectorError, ClusterbackError, DeviceError, WriteGuardError } from "./ops/errors";
import { provideSha256, SectorRun, Sha256 } from "./ops/platform";
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
  handle: number;
  /** Handles opened for this chain, innermost first (closed in reverse). */
  layers: number[];
}

/**
 * Opens native layers for `d` (a composition of the ops' devices over a HostDevice) and returns
 * the outermost descriptor. A WriteGuard's counters and a ReadFailureTrap's last failure are
 * read from the native layer while it is open, and kept when it closes.
 */
function openChain(host: HostApi, d: BlockDevice, layers: number[]): number {
  const open = (parent: number, spec: Record<string, unknown>): number => {
    const h = call(() => host.devOpen(JSON.stringify({ parent, ...spec })));
    layers.push(h);
    return h;
  };
  if (d instanceof HostDevice) return d.handle;
  if (d instanceof PartitionView)
    return open(openChain(host, d.parent, layers), {
      kind: "window",
      start: d.startLba,
      count: d.sectorCount,
      name: d.name,
    });
  if (d instanceof SectorAdapter) return open(openChain(host, d.inner, layers), { kind: "sectors512" });
  if (d instanceof WriteGuard) {
    const h = open(openChain(host, d.inner, layers), {
      kind: "guard",
      first: d.firstLba,
      sectors: d.extentSectors,
      ...(d.hole ? { holeStart: d.hole.startSector, holeSectors: d.hole.sectors } : {}),
    });
    mirrorGuard(host, d, h);
    return h;
  }
  if (d instanceof ReadFailureTrap) {
    const h = open(openChain(host, d.inner, layers), { kind: "trap" });
    mirrorTrap(host, d, h);
    return h;
  }
  throw new ClusterbackError(
    `${d.name}: this device cannot be given to the core through the host API (a window, write guard, read-failure trap or 512-byte view of the disk can)`,
  );
}

interface Stats {
  sectorsRead: number;
  sectorsWritten: number;
  lastFailure?: NativeError & { lba: number; sectorCount: number };
}
/** A mirrored layer's last stats, taken just before it closes (then the getters read them). */
const beforeClose = new Map<number, () => void>();

/** A native layer's stats while it is open, and its last ones after it closed. */
function statsOf(host: HostApi, h: number): () => Stats {
  let last: Stats | undefined;
  beforeClose.set(h, () => {
    last = JSON.parse(host.devStats(h)) as Stats;
  });
  return () => last ?? (JSON.parse(host.devStats(h)) as Stats);
}

/** The guard's counters: what it let through in JS plus what the native layer counted. */
function mirrorGuard(host: HostApi, g: WriteGuard, h: number): void {
  const stats = statsOf(host, h);
  // the guard's own `+=` reads then sets: the set keeps the native count the read just took
  const mirror = (key: "sectorsRead" | "sectorsWritten") => {
    let js = g[key],
      native = 0;
    Object.defineProperty(g, key, {
      configurable: true,
      get: () => {
        native = stats()[key];
        return js + native;
      },
      set: (v: number) => {
        js = v - native;
      },
    });
  };
  mirror("sectorsRead");
  mirror("sectorsWritten");
}

function mirrorTrap(host: HostApi, t: ReadFailureTrap, h: number): void {
  const stats = statsOf(host, h);
  Object.defineProperty(t, "lastFailure", {
    configurable: true,
    get: (): ReadFailure | undefined => {
      const f = stats().lastFailure;
      return f && { lba: f.lba, sectorCount: f.sectorCount, error: fromNative(f) as DeviceError };
    },
  });
}

/** Closes layers outermost first. */
function closeLayers(host: HostApi, layers: number[]): void {
  for (const l of layers.slice().reverse()) {
    beforeClose.get(l)?.();
    beforeClose.delete(l);
    call(() => host.devClose(l));
  }
}

/** The wasm core behind the host API: exports are host.coreCall, memory is copied in and out. */
export class HostCore extends Core {
  readonly exports: CoreExports;
  private readonly chains = new Map<number, Opened>();

  constructor(private readonly host: HostApi) {
    super();
    const ex: Record<string, (...args: number[]) => number> = {};
    for (const name of EXPORTS) ex[name] = (...args: number[]) => call(() => host.coreCall(name, args));
    this.exports = ex as unknown as CoreExports;
  }

  attach(d: BlockDevice): number {
    const layers: number[] = [];
    try {
      const handle = openChain(this.host, d, layers);
      this.chains.set(handle, { handle, layers });
      return handle;
    } catch (e) {
      closeLayers(this.host, layers);
      throw e;
    }
  }

  detach(h: number): void {
    const c = this.chains.get(h);
    if (!c) return;
    this.chains.delete(h);
    closeLayers(this.host, c.layers);
  }

  protected readMemory(ptr: number, length: number): Uint8Array {
    return new Uint8Array(call(() => this.host.coreRead(ptr, length)));
  }
  protected writeMemory(ptr: number, bytes: Uint8Array): void {
    call(() => this.host.coreWrite(ptr, bufferOf(bytes)));
  }

  /** The native side keeps the device error behind the core's E_DEVICE (host.coreDeviceError). */
  check(r: number): number {
    if (r >= 0) return r;
    if (this.exports.failureCode() === CoreCode.E_DEVICE) {
      const e = JSON.parse(this.host.coreDeviceError()) as NativeError | null;
      if (e) throw fromNative(e);
    }
    return super.check(r);
  }
}

/** SHA-256 by the host: bytes cross as ArrayBuffers; sectors are hashed natively from a descriptor. */
export function provideHostSha256(host: HostApi): void {
  provideSha256((): Sha256 => {
    const id = call(() => host.sha256Begin());
    return {
      update(bytes: Uint8Array) {
        call(() => host.sha256Update(id, bufferOf(bytes)));
      },
      updateSectors(device: BlockDevice, runs: SectorRun[]) {
        const layers: number[] = [];
        try {
          const h = openChain(host, device, layers);
          for (const r of runs) call(() => host.sha256Sectors(id, h, r.lba, r.sectors, r.bytes));
        } finally {
          closeLayers(host, layers);
        }
      },
      digest() {
        return call(() => host.sha256End(id));
      },
    };
  });
}
