// The core's three imports, module "dev" (AssemblyScript names an ambient function's import
// after the file that declares it: dev.read, dev.write, dev.flush). The host moves whole runs of
// sectors between a device and wasm memory; LBAs cross as f64, exact below 2^53 sectors.
// Results: 0 = ok, < 0 = a device result code (errors.ts).
export declare function read(dev: u32, lba: f64, sectorCount: u32, ptr: usize): i32;
export declare function write(dev: u32, lba: f64, sectorCount: u32, ptr: usize): i32;
export declare function flush(dev: u32): i32;
