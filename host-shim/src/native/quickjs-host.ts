// Runs the firmware module (dist/firmware/firmware.js, one ES2020 file) in a bare QuickJS
// context and injects the host API into it: the same small set of functions a printer's C code
// would give its QuickJS. Arguments and results cross as numbers and JSON strings, once per
// call and once per job step; cluster data never enters QuickJS (it moves between the disk and
// the wasm core's memory, see printer-host.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten";
import { ClusterbackError } from "../../../firmware-module/src/ops/errors";
import { PrinterHost } from "../../../firmware-module/src/ops/printer-host";
import { findPackageRoot } from "./core";

/** Loads the QuickJS engine (once per process; quickjs-engine.ts says how it is compiled). */
export { EngineLoadOptions, loadQuickJS } from "./quickjs-engine";

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
  /** The bundle to run (default dist/firmware/firmware.js). */
  bundle?: string;
}

export function bundlePath(): string {
  return path.join(findPackageRoot(), "dist", "firmware", "firmware.js");
}

/** One printer's firmware: a QuickJS runtime and context with the module loaded. Dispose it. */
export class Firmware {
  readonly runtime: QuickJSRuntime;
  readonly context: QuickJSContext;
  private disposed = false;
  private hostCalls = 0;

  constructor(
    engine: QuickJSWASMModule,
    readonly printer: PrinterHost,
    readonly options: FirmwareOptions,
  ) {
    this.runtime = engine.newRuntime();
    this.runtime.setMemoryLimit(options.heapBytes);
    this.runtime.setMaxStackSize(options.stackBytes);
    this.context = this.runtime.newContext();
    try {
      this.installHost();
      const file = options.bundle ?? bundlePath();
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
      p = this.printer;
    const host = ctx.newObject();
    const fn = (name: string, impl: (...args: QuickJSHandle[]) => unknown) => {
      const f = ctx.newFunction(name, (...args) => {
        this.hostCalls++;
        try {
          const out = impl(...args);
          if (out === undefined) return undefined;
          if (typeof out === "number") return ctx.newNumber(out);
          if (typeof out === "boolean") return out ? ctx.true : ctx.false;
          return ctx.newString(typeof out === "string" ? out : JSON.stringify(out));
        } catch (e) {
          const err = e as Error;
          return { error: ctx.newError({ name: err.name || "Error", message: err.message }) };
        }
      });
      ctx.setProp(host, name, f);
      f.dispose();
    };
    const str = (h: QuickJSHandle) => ctx.getString(h);
    const num = (h: QuickJSHandle) => ctx.getNumber(h);
    const json = (h: QuickJSHandle | undefined) => (h === undefined ? {} : JSON.parse(ctx.getString(h)));
    fn("log", (m) => {
      (this.options.log ?? (() => undefined))(str(m));
    });
    fn("now", () => p.now());
    fn("profile", () => JSON.stringify(this.options.profile));
    fn("partitions", () => p.table);
    fn("listImages", () => p.listImages());
    fn("health", (n) => p.health(num(n)));
    fn("begin", (kind, params) => {
      const k = str(kind),
        o = json(params);
      if (k === "backup") return p.beginBackup(o);
      if (k === "restore") {
        p.beginRestore(o);
        return {};
      }
      if (k === "verify") {
        p.beginVerify(o);
        return {};
      }
      throw new FirmwareError(`unknown job kind "${k}" (backup, restore or verify)`);
    });
    fn("step", (budget) => p.step(num(budget)));
    fn("finish", () => p.finish());
    fn("cancellable", () => p.cancellable());
    fn("cancel", () => {
      p.cancel();
    });
    fn("progress", (j) => {
      this.options.onProgress?.(JSON.parse(str(j)));
    });
    fn("shouldCancel", () => this.options.shouldCancel?.() ?? false);
    ctx.setProp(ctx.global, "host", host);
    host.dispose();
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

  /** Evaluates an expression in the firmware's context and returns its dumped value (tests). */
  evaluate(code: string): unknown {
    const h = this.context.unwrapResult(this.context.evalCode(code, "probe.js", { type: "global" }));
    try {
      return this.context.dump(h);
    } finally {
      h.dispose();
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
    this.context.dispose();
    this.runtime.dispose();
  }
}
