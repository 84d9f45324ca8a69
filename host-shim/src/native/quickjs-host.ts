// Runs the firmware module (dist/firmware/firmware.js, one ES2020 file) in a bare QuickJS
// context and installs the native host API into it as the global `host`: the same functions a
// printer's C code gives its QuickJS (firmware-module/contract/host-api.json; NativeHost in
// native-host.ts implements them over Node). Values cross as the declaration types them: numbers,
// JSON strings, and ArrayBuffers for sectors and core memory. Cluster data never enters QuickJS:
// the core moves it between the disk and its own memory through the descriptors it is given.
import type { KeyObject } from "node:crypto";
import * as fs from "node:fs";
import { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten";
import { HOST_FUNCTIONS, HOST_SIGNATURES } from "../../../firmware-module/src/host-api";
import type { BlockDevice } from "../../../firmware-module/src/ops/block-device";
import { ClusterbackError } from "../../../firmware-module/src/ops/device-errors";
import { NativeHost } from "./native-host";
import type { NativeCore } from "./wasm-core";

/** What the firmware runs on: the wasm core, the disk, and the printer's clock. */
export interface PrinterHardware {
  /** The wasm core instance (WasmCore, or the CLI's Core over one). */
  core: NativeCore;
  disk: BlockDevice;
  now: () => number;
}

export class FirmwareError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "FirmwareError";
  }
}

export interface FirmwareOptions {
  /** The device profile, as JSON-able data: the firmware reads it with host.profile(). */
  profile: unknown;
  /** QuickJS heap limit in bytes (the profile's quickjsHeapBytes). */
  heapBytes: number;
  /** QuickJS stack limit in bytes. */
  stackBytes: number;
  /** Called with each progress report the firmware sends (once per step). */
  onProgress?: (p: unknown) => void;
  /** Polled by the firmware between steps. */
  shouldCancel?: () => boolean;
  log?: (line: string) => void;
  /** The bundle to run (core-files.ts bundlePath() gives the one npm run build makes). */
  bundle: string;
  /** The printer's own Ed25519 key (a private KeyObject): the firmware signs its backups with it (deviceSign). */
  deviceKey?: KeyObject;
}

/** One printer's firmware: a QuickJS runtime and context with the module loaded. Dispose it. */
export class Firmware {
  readonly runtime: QuickJSRuntime;
  readonly context: QuickJSContext;
  readonly native: NativeHost;
  private disposed = false;
  private hostCalls = 0;

  constructor(
    engine: QuickJSWASMModule,
    readonly hardware: PrinterHardware,
    readonly options: FirmwareOptions,
  ) {
    this.native = new NativeHost(hardware.core, hardware.disk, { ...options, now: hardware.now });
    this.runtime = engine.newRuntime();
    // in this emscripten build the limit counts 8 bytes per allocation (no malloc_usable_size), not
    // bytes: the bench samples the heap itself (docs/bench-firmware.md); a native QuickJS counts bytes
    this.runtime.setMemoryLimit(options.heapBytes);
    this.runtime.setMaxStackSize(options.stackBytes);
    this.context = this.runtime.newContext();
    try {
      this.installHost();
      const file = options.bundle;
      if (!fs.existsSync(file)) throw new FirmwareError(`firmware bundle ${file} is missing (run npm run build)`);
      this.context
        .unwrapResult(this.context.evalCode(fs.readFileSync(file, "utf8"), "firmware.js", { type: "global" }))
        .dispose();
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Host calls made by the firmware so far (the boundary is crossed once per step, not per cluster). */
  get calls(): number {
    return this.hostCalls;
  }

  private installHost(): void {
    const ctx = this.context,
      n = this.native as unknown as Record<string, (...args: unknown[]) => unknown>;
    const host = ctx.newObject();
    const toJs = (h: QuickJSHandle, type: string): unknown => {
      if (type === "int" || type === "f64") return ctx.getNumber(h);
      if (type === "bytes") {
        const view = ctx.getArrayBuffer(h);
        try {
          return view.value.slice();
        } finally {
          view.dispose();
        }
      }
      if (type === "f64[]") return ctx.dump(h) as number[];
      return ctx.getString(h);
    };
    for (const name of HOST_FUNCTIONS) {
      const sig = HOST_SIGNATURES[name];
      // looked up at each call, so that a probe may wrap NativeHost's methods (test/bench/firmware-bench.js)
      const impl = (...args: unknown[]) => n[name].apply(this.native, args);
      const f = ctx.newFunction(name, (...args) => {
        this.hostCalls++;
        try {
          const out = impl(...sig.params.map((t, i) => toJs(args[i] ?? ctx.undefined, t)));
          switch (sig.result) {
            case "void":
              return undefined;
            case "int":
            case "f64":
              return ctx.newNumber(out as number);
            case "bool":
              return out ? ctx.true : ctx.false;
            case "bytes": {
              // newArrayBuffer copies into QuickJS: a view that spans its buffer goes as it is
              const b = out as Uint8Array;
              const whole = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength;
              return ctx.newArrayBuffer(whole ? b.buffer : b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
            }
            default:
              return ctx.newString(out as string);
          }
        } catch (e) {
          return { error: this.errorHandle(e as Error) };
        }
      });
      ctx.setProp(host, name, f);
      f.dispose();
    }
    ctx.setProp(ctx.global, "host", host);
    host.dispose();
  }

  /** An Error for QuickJS: name and message, and a device error's code and sectors (NativeError). */
  private errorHandle(e: Error): QuickJSHandle {
    const ctx = this.context;
    const h = ctx.newError({ name: e.name || "Error", message: e.message });
    const extra = e as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(extra)) {
      if (!["code", "lba", "requestLba", "sectorCount", "device", "op"].includes(k)) continue;
      const value = typeof v === "number" ? ctx.newNumber(v) : typeof v === "string" ? ctx.newString(v) : undefined;
      if (!value) continue;
      ctx.setProp(h, k, value);
      value.dispose();
    }
    return h;
  }

  /** Calls firmware.<name>(...args) with JSON-able arguments; returns its (JSON-decoded) result. */
  call(name: string, ...args: unknown[]): unknown {
    if (this.disposed) throw new FirmwareError(`firmware.${name}: the firmware was disposed`);
    const ctx = this.context;
    const fw = ctx.getProp(ctx.global, "firmware");
    const f = ctx.getProp(fw, name);
    try {
      if (ctx.typeof(f) !== "function") throw new FirmwareError(`the firmware module has no function ${name}`);
      const argHandles = args.map((a) => ctx.newString(JSON.stringify(a ?? null)));
      const result = ctx.callFunction(f, fw, ...argHandles);
      argHandles.forEach((h) => h.dispose());
      if (result.error) {
        const e = ctx.dump(result.error) as { name?: string; message?: string } | string;
        result.error.dispose();
        const msg = typeof e === "object" && e ? `${e.name ?? "Error"}: ${e.message}` : String(e);
        throw new FirmwareError(`firmware.${name} failed: ${msg}`);
      }
      const text = ctx.typeof(result.value) === "string" ? ctx.getString(result.value) : undefined;
      result.value.dispose();
      return text === undefined ? undefined : JSON.parse(text);
    } finally {
      f.dispose();
      fw.dispose();
    }
  }

  /** Bytes the QuickJS runtime has allocated now. */
  heapUsed(): number {
    const usage = this.runtime.computeMemoryUsage();
    try {
      const u = this.context.dump(usage) as { memory_used_size?: number; malloc_size?: number };
      return u.malloc_size ?? u.memory_used_size ?? 0;
    } finally {
      usage.dispose();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.native.close();
    this.context.dispose();
    this.runtime.dispose();
  }
}
