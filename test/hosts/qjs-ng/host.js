// A second native host for the firmware bundle, written as a printer maker would: from
// docs/host-api.md (the 21 host functions, their values, errors and limits) and docs/core-abi.md
// (the wasm core's imports and exports) alone, in plain JavaScript, on QuickJS-ng (the
// quickjs-emscripten build of it) instead of the QuickJS the Node host uses. It imports nothing
// from the project's sources: node:fs for the disk (a raw image file), node:crypto for SHA-256.
// test/second-host.test.ts runs the same scripts through it and through the Node host and
// requires byte-identical disks and equal results. README.md says how to run it.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const crypto = require("node:crypto");
const { newQuickJSWASMModuleFromVariant } = require("quickjs-emscripten-core");

const ROOT = path.join(__dirname, "..", "..", "..");
// docs/host-api.md section 2 (API limits) and docs/core-abi.md section 5 (DeviceCode)
const DEV_READ_MAX_BYTES = 131072;
const CORE_COPY_MAX_BYTES = 65536;
const SHA256_OPEN_MAX = 8;
const CODE = { io: 1, range: 2, guard: 3, readonly: 4, short: 5, closed: 6 };
// each function's argument types (sections 1 and 3), to convert QuickJS values; the others take none
const PARAMS = Object.fromEntries(
  (
    "log:string progress:string devRead:int,f64,int devWrite:int,f64,int,bytes devFlush:int " +
    "coreCall:string,f64[] coreRead:int,int coreWrite:int,bytes sha256Update:int,bytes " +
    "sha256Sectors:int,int,f64,int,f64 sha256End:int ed25519Verify:bytes,bytes,bytes deviceSign:bytes pbkdf2Sha256:bytes,bytes,int,int"
  )
    .split(" ")
    .map((s) => [s.split(":")[0], s.split(":")[1].split(",")]),
);

/** An error as the API throws it: a name, a sentence, and a device error's NativeError fields. */
function fail(name, message, fields = {}) {
  const e = new Error(message);
  e.name = name;
  return Object.assign(e, fields);
}
const deviceError = (code, message) => fail("DeviceError", message, { code });

let engine; // QuickJS-ng, compiled once per process
let coreModule; // core-portable.wasm, compiled once per process

/**
 * Starts a printer's firmware: opens the disk, instantiates the core, creates a QuickJS-ng
 * runtime with the profile's limits, installs `host` and evaluates the bundle.
 * options: disk (image file path), profile (object), now () => ms, heapBytes, stackBytes,
 * name (the disk's name for messages), log, onProgress, shouldCancel, bundle, core (wasm path),
 * powerCutAfterWrites (a test's power cut: after that many disk writes, every read, write and
 * flush fails), sampleHeap (record the runtime's peak "memory used" at every host call).
 */
async function createHost(options) {
  engine ??= await newQuickJSWASMModuleFromVariant(require("@jitl/quickjs-ng-wasmfile-release-sync"));
  const t0 = performance.now();
  const profile = options.profile;
  const metrics = { coldStartMs: undefined, heapPeak: 0, hostCalls: 0, diskWrites: 0 };
  const profileText = JSON.stringify(profile);

  // --- the disk: the one descriptor, for the firmware and the core alike ---
  const fd = fs.openSync(options.disk, "r+");
  const diskSectorSize = options.sectorSize ?? profile.disk.sectorBytes;
  let powerOn = true;
  const power = () => {
    if (!powerOn) throw fail("PowerCutError", `${diskName}: the power is off (test)`, { code: CODE.io });
  };
  const diskName = options.name ?? options.disk;
  const disk = {
    handle: 1,
    name: diskName,
    sectorSize: diskSectorSize,
    sectorCount: Math.floor(fs.fstatSync(fd).size / diskSectorSize),
    read(lba, count, dst) {
      power();
      metrics.coldStartMs ??= performance.now() - t0;
      const want = count * this.sectorSize;
      const got = fs.readSync(fd, dst, 0, want, lba * this.sectorSize);
      if (got !== want) throw deviceError(CODE.short, `${this.name}: read ${got} of ${want} bytes at LBA ${lba}`);
    },
    write(lba, count, src) {
      if (metrics.diskWrites === options.powerCutAfterWrites) powerOn = false;
      power();
      const want = count * this.sectorSize;
      const put = fs.writeSync(fd, src, 0, want, lba * this.sectorSize);
      if (put !== want) throw deviceError(CODE.short, `${this.name}: wrote ${put} of ${want} bytes at LBA ${lba}`);
      metrics.diskWrites++;
    },
    flush() {
      power();
      fs.fsyncSync(fd);
    },
  };

  const device = (handle) => {
    if (handle !== disk.handle) throw deviceError(CODE.closed, `descriptor ${handle} is not the disk's`);
    return disk;
  };
  const inRange = (d, lba, count, op) => {
    if (!(Number.isInteger(lba) && Number.isInteger(count) && lba >= 0 && count >= 0 && lba + count <= d.sectorCount))
      throw deviceError(CODE.range, `${d.name}: ${op} of ${count} sectors at LBA ${lba} is outside the device`);
  };
  /** Checked sector I/O on any descriptor: src/dst are exactly count * sectorSize bytes. */
  const readAt = (d, lba, count, dst) => {
    inRange(d, lba, count, "read");
    if (count > 0) d.read(lba, count, dst);
  };
  const writeAt = (d, lba, count, src) => {
    inRange(d, lba, count, "write");
    if (count > 0) d.write(lba, count, src);
  };

  // --- the wasm core (docs/core-abi.md): the portable build, its memory created here ---
  const wasm = options.core ?? path.join(ROOT, "as-core", "build", "core-portable.wasm");
  coreModule ??= new WebAssembly.Module(fs.readFileSync(wasm));
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 64 });
  let lastDeviceError = null;
  const nativeError = (e) => {
    const n = { name: e.name, message: e.message, code: e.code };
    for (const k of ["device", "op", "lba", "requestLba", "sectorCount"]) if (e[k] !== undefined) n[k] = e[k];
    return n;
  };
  /** A dev.* import: 0, or the negated DeviceCode with the error kept for coreDeviceError. */
  const devImport = (f) => {
    try {
      f();
      return 0;
    } catch (e) {
      if (typeof e.code !== "number") throw e;
      lastDeviceError = nativeError(e);
      return -e.code;
    }
  };
  const mem = (ptr, len) => new Uint8Array(memory.buffer, ptr, len);
  const text = (ptr) =>
    ptr ? Buffer.from(memory.buffer, ptr, new Uint32Array(memory.buffer, ptr - 4, 1)[0]).toString("utf16le") : "?";
  const core = new WebAssembly.Instance(coreModule, {
    env: {
      memory,
      abort(msg, file, line, column) {
        throw fail("CoreTrap", `core abort: ${text(msg)} at ${text(file)}:${line}:${column}`);
      },
    },
    dev: {
      read: (h, lba, n, ptr) => devImport(() => readAt(device(h), lba, n, mem(ptr, n * device(h).sectorSize))),
      write: (h, lba, n, ptr) => devImport(() => writeAt(device(h), lba, n, mem(ptr, n * device(h).sectorSize))),
      flush: (h) => devImport(() => device(h).flush()),
    },
  }).exports;
  core.init();
  const memCheck = (ptr, len) => {
    if (!(ptr >= 0 && len >= 0 && ptr + len <= memory.buffer.byteLength && len <= CORE_COPY_MAX_BYTES))
      throw fail("RangeError", `core memory ${ptr}..${ptr + len} is outside the memory or over ${CORE_COPY_MAX_BYTES}`);
  };

  // --- SHA-256, Ed25519 ---
  const deviceKey = options.deviceKey ? crypto.createPrivateKey(options.deviceKey) : undefined;
  const hashes = new Map();
  const hash = (id) => {
    const h = hashes.get(id);
    if (!h) throw fail("UsageError", `no SHA-256 hash ${id} is open`);
    return h;
  };

  // --- the 21 functions (section 3), in the order of section 1 ---
  const native = {
    log: (message) => options.log?.(message),
    now: () => options.now(),
    profile: () => profileText,
    progress: (json) => options.onProgress?.(JSON.parse(json)),
    shouldCancel: () => !!options.shouldCancel?.(),
    disk: () => JSON.stringify(disk, ["handle", "name", "sectorSize", "sectorCount"]),
    devRead(handle, lba, count) {
      const d = device(handle);
      if (count * d.sectorSize > DEV_READ_MAX_BYTES)
        throw deviceError(CODE.range, `devRead of ${count} sectors is over ${DEV_READ_MAX_BYTES} bytes`);
      const out = new Uint8Array(count * d.sectorSize);
      readAt(d, lba, count, out);
      return out;
    },
    devWrite(handle, lba, count, data) {
      const d = device(handle);
      if (data.byteLength !== count * d.sectorSize)
        throw deviceError(CODE.range, `devWrite: ${data.byteLength} bytes for ${count} sectors of ${d.sectorSize}`);
      writeAt(d, lba, count, data);
    },
    devFlush: (handle) => device(handle).flush(),
    coreCall(name, args) {
      lastDeviceError = null;
      const f = core[name];
      if (typeof f !== "function" || name === "init") throw fail("UsageError", `the core has no export ${name}`);
      if (args.length !== f.length) throw fail("UsageError", `${name} takes ${f.length} arguments, not ${args.length}`);
      try {
        return f(...args) ?? 0;
      } catch (e) {
        throw fail("CoreTrap", `the core trapped in ${name}: ${e.message}`);
      }
    },
    coreRead(ptr, length) {
      memCheck(ptr, length);
      return mem(ptr, length).slice();
    },
    coreWrite(ptr, data) {
      memCheck(ptr, data.byteLength);
      mem(ptr, data.byteLength).set(data);
    },
    coreDeviceError() {
      const e = lastDeviceError;
      lastDeviceError = null;
      return JSON.stringify(e);
    },
    sha256Begin() {
      if (hashes.size >= SHA256_OPEN_MAX) throw fail("UsageError", `${SHA256_OPEN_MAX} SHA-256 hashes are open`);
      let id = 1;
      while (hashes.has(id)) id++;
      hashes.set(id, crypto.createHash("sha256"));
      return id;
    },
    sha256Update: (id, data) => void hash(id).update(data),
    sha256Sectors(id, handle, lba, sectors, bytes) {
      const h = hash(id);
      const d = device(handle);
      if (bytes > sectors * d.sectorSize) throw fail("UsageError", `${bytes} bytes are more than ${sectors} sectors`);
      const chunk = Math.max(1, Math.floor((1 << 20) / d.sectorSize));
      for (let done = 0; done < sectors && bytes > 0; done += chunk) {
        const n = Math.min(chunk, sectors - done);
        const b = new Uint8Array(n * d.sectorSize);
        readAt(d, lba + done, n, b);
        h.update(b.subarray(0, Math.min(bytes, b.length)));
        bytes -= b.length;
      }
    },
    sha256End(id) {
      const digest = hash(id).digest("hex");
      hashes.delete(id);
      return digest;
    },
    ed25519Verify(publicKey, message, signature) {
      if (publicKey.byteLength !== 32 || signature.byteLength !== 64) return false;
      // the raw key as SPKI DER (RFC 8410: a fixed 12-byte prefix)
      const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(publicKey)]);
      const key = crypto.createPublicKey({ key: der, format: "der", type: "spki" });
      return crypto.verify(null, Buffer.from(message), key, Buffer.from(signature));
    },
    // the printer's own key (options.deviceKey, a PEM private key): its raw public half, its signatures
    devicePublicKey: () =>
      deviceKey
        ? crypto.createPublicKey(deviceKey).export({ format: "der", type: "spki" }).subarray(12)
        : new Uint8Array(0),
    pbkdf2Sha256(password, salt, iterations, length) {
      if (!(iterations >= 1 && length >= 1 && length <= 64)) throw fail("UsageError", "pbkdf2Sha256: bad arguments");
      return crypto.pbkdf2Sync(Buffer.from(password), Buffer.from(salt), iterations, length, "sha256");
    },
    deviceSign(message) {
      if (!deviceKey) throw fail("UsageError", "this host has no device key");
      return crypto.sign(null, Buffer.from(message), deviceKey);
    },
  };

  // --- QuickJS-ng: the runtime, the global `host`, the bundle ---
  const runtime = engine.newRuntime();
  runtime.setMemoryLimit(options.heapBytes ?? profile.budgets.quickjsHeapBytes);
  runtime.setMaxStackSize(options.stackBytes ?? profile.budgets.quickjsStackBytes);
  const ctx = runtime.newContext();
  const sampleHeap = () => {
    // "memory used  <count>  <bytes>": the runtime's memory_used_size (dumping allocates nothing in it)
    const m = /memory used\s+\d+\s+(\d+)/.exec(runtime.dumpMemoryUsage());
    if (m) metrics.heapPeak = Math.max(metrics.heapPeak, Number(m[1]));
  };
  const toNative = (h, type) => {
    if (type === "int" || type === "f64") return ctx.getNumber(h);
    if (type === "string") return ctx.getString(h);
    if (type === "f64[]") return ctx.dump(h);
    const view = ctx.getArrayBuffer(h);
    const bytes = view.value.slice();
    view.dispose();
    return bytes;
  };
  const toQuickJS = (v) => {
    if (v === undefined) return undefined;
    if (typeof v === "number") return ctx.newNumber(v);
    if (typeof v === "boolean") return v ? ctx.true : ctx.false;
    if (typeof v === "string") return ctx.newString(v);
    return ctx.newArrayBuffer(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  };
  const errorHandle = (e) => {
    const h = ctx.newError({ name: e.name || "Error", message: e.message });
    for (const [k, v] of Object.entries(nativeError(e))) {
      if (k === "name" || k === "message" || v === undefined) continue;
      const value = typeof v === "number" ? ctx.newNumber(v) : ctx.newString(String(v));
      ctx.setProp(h, k, value);
      value.dispose();
    }
    return h;
  };
  const hostObject = ctx.newObject();
  for (const name of Object.keys(native)) {
    const types = PARAMS[name] ?? [];
    const f = ctx.newFunction(name, (...args) => {
      metrics.hostCalls++;
      if (options.sampleHeap) sampleHeap();
      try {
        return toQuickJS(native[name](...types.map((type, i) => toNative(args[i] ?? ctx.undefined, type))));
      } catch (e) {
        return { error: errorHandle(e) };
      }
    });
    ctx.setProp(hostObject, name, f);
    f.dispose();
  }
  ctx.setProp(ctx.global, "host", hostObject);
  hostObject.dispose();
  const bundle = fs.readFileSync(options.bundle ?? path.join(ROOT, "dist", "firmware", "firmware.js"), "utf8");
  ctx.unwrapResult(ctx.evalCode(bundle, "firmware.js", { type: "global" })).dispose();
  if (options.sampleHeap) sampleHeap();

  let disposed = false;
  return {
    metrics,
    /** Calls firmware.<name> with each argument as a JSON string; returns the parsed result or throws. */
    call(name, ...args) {
      if (disposed) throw new Error(`firmware.${name}: the host was disposed`);
      const fw = ctx.getProp(ctx.global, "firmware");
      const f = ctx.getProp(fw, name);
      const handles = args.map((a) => ctx.newString(JSON.stringify(a ?? null)));
      try {
        if (ctx.typeof(f) !== "function") throw new Error(`the firmware has no function ${name}`);
        const r = ctx.callFunction(f, fw, ...handles);
        if (options.sampleHeap) sampleHeap();
        if (r.error) {
          const e = ctx.dump(r.error);
          r.error.dispose();
          throw new Error(`firmware.${name} failed: ${e?.name ?? "Error"}: ${e?.message ?? e}`);
        }
        const out = ctx.typeof(r.value) === "string" ? JSON.parse(ctx.getString(r.value)) : undefined;
        r.value.dispose();
        return out;
      } finally {
        for (const h of handles) h.dispose();
        f.dispose();
        fw.dispose();
      }
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      ctx.dispose();
      runtime.dispose();
      fs.closeSync(fd);
    },
  };
}

module.exports = { createHost };
