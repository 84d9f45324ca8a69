// scanMagic (core-abi.json): a backwards search of a device for a 512-byte unit that starts with
// one of two 8-byte magics, the ghost image's search (docs/image-format.md 12.3) without the
// partition's bytes leaving the core.
import { E_DEVICE, E_SCAN_RANGE, IO_BYTES, SCAN_MAGIC_BYTES, SLOT_MAGIC_AT } from "./abi";
import { fail } from "./errors";
import { devRead } from "./io";
import { buf, setResult } from "./mem";

export function scanMagic(dev: u32, sectorBytes: u32, stopByte: f64, endByte: f64): i32 {
  const ok =
    sectorBytes >= 512 &&
    sectorBytes <= 4096 &&
    (sectorBytes & (sectorBytes - 1)) == 0 &&
    stopByte >= 0 &&
    stopByte <= endByte &&
    endByte <= 9007199254740991 &&
    stopByte % 512 == 0 &&
    endByte % 512 == 0;
  if (!ok) return fail(E_SCAN_RANGE, stopByte, endByte, sectorBytes, 0);
  const a = load<u64>(buf.params),
    b = load<u64>(buf.params + SCAN_MAGIC_BYTES);
  const ss = <f64>sectorBytes;
  const most = <f64>Math.floor(<f64>IO_BYTES / ss);
  let end = endByte;
  while (end > stopByte) {
    // the device sectors covering [max(stopByte, end - most sectors), end)
    const lastLba = Math.ceil(end / ss);
    const firstLba = Math.max(Math.floor(stopByte / ss), lastLba - most);
    const n = <u32>(lastLba - firstLba);
    const r = devRead(dev, firstLba, n, buf.io);
    if (r < 0) return fail(E_DEVICE, -r, dev, firstLba, n);
    const base = firstLba * ss;
    const from = Math.max(stopByte, base);
    for (let at = end - 512; at >= from; at -= 512) {
      const m = load<u64>(buf.io + <usize>(at - base));
      if (m == a || (b != 0 && m == b)) {
        setResult(SLOT_MAGIC_AT, at);
        return 1;
      }
    }
    end = from;
  }
  return 0;
}
