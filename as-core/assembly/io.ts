// Device I/O, and little-endian load/store helpers.
//
// The core does no I/O of its own: every byte comes and goes through the host's three imports
// (dev.ts), reached through the core's layers (layers.ts), one call per run of sectors (never
// one sector at a time). LBAs cross as f64, exact for
// any disk below 2^53 sectors. Results: 0 = ok, < 0 = a device result code (see errors.ts).

export { devFlush, devRead, devWrite } from "./layers";

// Little-endian helpers. wasm memory is little-endian by definition, so these are plain
// unaligned loads; they exist so that every on-disk read names its width.
export function ld8(p: usize): u32 {
  return <u32>load<u8>(p);
}
export function ld16(p: usize): u32 {
  return <u32>load<u16>(p);
}
export function ld32(p: usize): u32 {
  return load<u32>(p);
}
export function ld64(p: usize): u64 {
  return load<u64>(p);
}
export function st16(p: usize, v: u32): void {
  store<u16>(p, <u16>v);
}
export function st32(p: usize, v: u32): void {
  store<u32>(p, v);
}
export function st64(p: usize, v: u64): void {
  store<u64>(p, v);
}

export function zero(p: usize, n: usize): void {
  memory.fill(p, 0, n);
}

export function isZero(p: usize, n: usize): bool {
  for (let i: usize = 0; i < n; i++) if (load<u8>(p + i) != 0) return false;
  return true;
}

export function isPow2(v: u32): bool {
  return v != 0 && (v & (v - 1)) == 0;
}
