// The Node host's platform primitives for the portable operations (firmware-module/src/ops/platform.ts).
import * as crypto from "node:crypto";
import { provideSha256 } from "../../../firmware-module/src/ops/platform";

const CHUNK_BYTES = 1024 * 1024; // read at a time

provideSha256(() => {
  const h = crypto.createHash("sha256");
  let buffer: Uint8Array | undefined;
  return {
    update: (b) => h.update(b),
    updateSectors: (device, runs) => {
      const chunk = Math.max(1, Math.floor(CHUNK_BYTES / device.sectorSize));
      buffer ??= new Uint8Array(chunk * device.sectorSize);
      for (const { lba, sectors, bytes } of runs) {
        let left = bytes;
        for (let done = 0; done < sectors && left > 0; done += chunk) {
          const n = Math.min(chunk, sectors - done);
          device.read(lba + done, n, buffer, 0);
          h.update(buffer.subarray(0, Math.min(left, n * device.sectorSize)));
          left -= n * device.sectorSize;
        }
      }
    },
    digest: () => h.digest("hex"),
  };
});
