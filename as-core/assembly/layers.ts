// Layers: devices the core builds over the host's (LayerKind in core-abi.json). A printer's
// native side implements sector I/O on whole devices and nothing else; a partition window, the
// write guard, a backup source's read-failure trap and a 512-byte view of a 4Kn disk are the
// core's, so that no host has to write them. Every device call of the core goes through
// devRead, devWrite and devFlush here: a handle below LAYER_FIRST goes to the host's import, a
// layer's is resolved down to one. Nothing here allocates: the table is fixed, and a partial
// sector of a 512-byte view goes through one bounce buffer.
import {
  DEV_CLOSED as CLOSED,
  E_DEVICE,
  E_LAYER,
  DEV_GUARD as GUARD,
  DEV_IO as IO,
  IO_BYTES,
  LAYER_FIRST,
  LAYERS_MAX,
  LK_GUARD,
  LK_SECTORS512,
  LK_TRAP,
  LK_WINDOW,
  LS_FAIL_COUNT,
  LS_FAIL_LBA,
  LS_READ,
  LS_WRITTEN,
  LW_BUSY,
  LW_FULL,
  LW_KIND,
  LW_NOT_OPEN,
  LW_PARENT,
  LW_SIZE,
  DEV_RANGE as RANGE,
} from "./abi";
import * as host from "./dev";
import { fail } from "./errors";
import { buf } from "./mem";

const kind = new StaticArray<u32>(LAYERS_MAX); // 0: free
const parent = new StaticArray<u32>(LAYERS_MAX);
const children = new StaticArray<u32>(LAYERS_MAX); // layers open over this one
const argA = new StaticArray<f64>(LAYERS_MAX);
const argB = new StaticArray<f64>(LAYERS_MAX);
const argC = new StaticArray<f64>(LAYERS_MAX);
const argD = new StaticArray<f64>(LAYERS_MAX);
const stat0 = new StaticArray<f64>(LAYERS_MAX); // GUARD: read; TRAP: failed LBA
const stat1 = new StaticArray<f64>(LAYERS_MAX); // GUARD: written; TRAP: failed count

/** The table index of an open layer, or -1. */
function slotOf(h: u32): i32 {
  if (h < LAYER_FIRST || h - LAYER_FIRST >= LAYERS_MAX) return -1;
  const i = <i32>(h - LAYER_FIRST);
  return kind[i] == 0 ? -1 : i;
}

function whole(v: f64): bool {
  return v >= 0 && v <= 9007199254740991 && Math.floor(v) == v;
}

export function layerOpen(k: u32, over: u32, a: f64, b: f64, c: f64, d: f64): i32 {
  if (k < LK_WINDOW || k > LK_SECTORS512) return fail(E_LAYER, LW_KIND, 0, k, k);
  if (over == 0 || (over >= LAYER_FIRST && slotOf(over) < 0)) return fail(E_LAYER, LW_PARENT, 0, k, over);
  const sizes =
    (k != LK_SECTORS512 || (a >= 512 && a <= 4096 && a % 512 == 0)) && whole(a) && whole(b) && whole(c) && whole(d);
  if (!sizes) return fail(E_LAYER, LW_SIZE, 0, k, a);
  for (let i = 0; i < <i32>LAYERS_MAX; i++) {
    if (kind[i] != 0) continue;
    kind[i] = k;
    parent[i] = over;
    children[i] = 0;
    argA[i] = a;
    argB[i] = b;
    argC[i] = c;
    argD[i] = d;
    stat0[i] = 0;
    stat1[i] = 0;
    const p = slotOf(over);
    if (p >= 0) children[p]++;
    return <i32>LAYER_FIRST + i;
  }
  return fail(E_LAYER, LW_FULL, 0, k, LAYERS_MAX);
}

export function layerClose(h: u32): i32 {
  const i = slotOf(h);
  if (i < 0) return fail(E_LAYER, LW_NOT_OPEN, h, 0, h);
  if (children[i] > 0) return fail(E_LAYER, LW_BUSY, h, kind[i], children[i]);
  const p = slotOf(parent[i]);
  if (p >= 0) children[p]--;
  kind[i] = 0;
  return 0;
}

export function layerStat(h: u32, s: u32): f64 {
  const i = slotOf(h);
  if (i < 0) return -1;
  if (s == LS_READ || s == LS_FAIL_LBA) return stat0[i];
  if (s == LS_WRITTEN || s == LS_FAIL_COUNT) return stat1[i];
  return -1;
}

export function devRead(h: u32, lba: f64, n: u32, ptr: usize): i32 {
  if (h < LAYER_FIRST) return host.read(h, lba, n, ptr);
  const i = slotOf(h);
  if (i < 0) return -CLOSED;
  const k = kind[i];
  if (k == LK_WINDOW) return lba + n > argB[i] ? -RANGE : devRead(parent[i], lba + argA[i], n, ptr);
  if (k == LK_SECTORS512) return view512(i, false, lba, n, ptr);
  const r = devRead(parent[i], lba, n, ptr);
  if (k == LK_GUARD && r == 0) stat0[i] += n;
  if (k == LK_TRAP && r == -IO) {
    stat0[i] = lba;
    stat1[i] = n;
  }
  return r;
}

export function devWrite(h: u32, lba: f64, n: u32, ptr: usize): i32 {
  if (h < LAYER_FIRST) return host.write(h, lba, n, ptr);
  const i = slotOf(h);
  if (i < 0) return -CLOSED;
  const k = kind[i];
  if (k == LK_WINDOW) return lba + n > argB[i] ? -RANGE : devWrite(parent[i], lba + argA[i], n, ptr);
  if (k == LK_SECTORS512) return view512(i, true, lba, n, ptr);
  if (k == LK_GUARD) {
    const outside = lba < argA[i] || lba + n > argA[i] + argB[i];
    const inHole = argD[i] > 0 && lba < argC[i] + argD[i] && lba + n > argC[i];
    if (outside || inHole) return -GUARD;
    const r = devWrite(parent[i], lba, n, ptr);
    if (r == 0) stat1[i] += n;
    return r;
  }
  return devWrite(parent[i], lba, n, ptr);
}

export function devFlush(h: u32): i32 {
  if (h < LAYER_FIRST) return host.flush(h);
  const i = slotOf(h);
  return i < 0 ? -CLOSED : devFlush(parent[i]);
}

/** A SECTORS512 layer's read or write: whole parent sectors straight, partial ones through the bounce buffer. */
function view512(i: i32, write: bool, lba: f64, n: u32, ptr: usize): i32 {
  const ratio = <u32>argA[i] / 512;
  const p = parent[i];
  if (lba + n > argB[i] * ratio) return -RANGE; // refused whole, before any I/O
  let at = lba,
    left = n,
    mem = ptr;
  while (left > 0) {
    const sector = Math.floor(at / ratio);
    const skip = <u32>(at - sector * ratio); // 512-byte sectors before `at` in that parent sector
    let step: u32;
    let r: i32;
    if (skip == 0 && left >= ratio) {
      const count = left / ratio;
      r = write ? devWrite(p, sector, count, mem) : devRead(p, sector, count, mem);
      step = count * ratio;
    } else {
      step = min(ratio - skip, left);
      r = devRead(p, sector, 1, buf.bounce);
      if (r == 0 && write) {
        memory.copy(buf.bounce + skip * 512, mem, step * 512);
        r = devWrite(p, sector, 1, buf.bounce);
      } else if (r == 0) memory.copy(mem, buf.bounce + skip * 512, step * 512);
    }
    if (r < 0) return r;
    at += step;
    left -= step;
    mem += step * 512;
  }
  return 0;
}

/** sectorCopy (core-abi.json): count sectors from src to dst through io, in runs of at most IO_BYTES. */
export function sectorCopy(src: u32, srcLba: f64, dst: u32, dstLba: f64, count: f64, sectorBytes: u32): i32 {
  if (sectorBytes < 512 || sectorBytes > 4096 || (sectorBytes & (sectorBytes - 1)) != 0 || !whole(count))
    return fail(E_LAYER, LW_SIZE, 0, 0, sectorBytes);
  const most = <f64>(IO_BYTES / sectorBytes);
  for (let done: f64 = 0; done < count; ) {
    const n = <u32>Math.min(most, count - done);
    let r = devRead(src, srcLba + done, n, buf.io);
    if (r < 0) return fail(E_DEVICE, -r, src, srcLba + done, n);
    r = devWrite(dst, dstLba + done, n, buf.io);
    if (r < 0) return fail(E_DEVICE, -r, dst, dstLba + done, n);
    done += n;
  }
  return 0;
}
