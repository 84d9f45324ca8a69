// The Node host's platform primitives for the portable operations (firmware-module/src/ops/platform.ts).
import * as crypto from "node:crypto";
import { provideSha256 } from "../../../firmware-module/src/ops/platform";

provideSha256(() => {
  const h = crypto.createHash("sha256");
  let buffer: Uint8Array | undefined;
  return {
    update: (b) => h.update(b),
    updateSectors: (device, lba, sectors, bytes) => {
      const need = sectors * device.sectorSize;
      if (!buffer || buffer.length < need) buffer = new Uint8Array(need);
      device.read(lba, sectors, buffer, 0);
      h.update(buffer.subarray(0, bytes));
    },
    digest: () => h.digest("hex"),
  };
});
