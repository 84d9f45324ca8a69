// The Node host's platform primitives for the portable operations (firmware-module/src/ops/platform.ts).
import * as crypto from "node:crypto";
import { provideEd25519Verify, provideSha256 } from "../../../firmware-module/src/ops/platform";
import { ed25519VerifyRaw, hashSectors } from "./native-host";

provideSha256(() => {
  const h = crypto.createHash("sha256");
  let buffer: Uint8Array = new Uint8Array(0);
  return {
    update: (b) => h.update(b),
    updateSectors: (device, runs) => {
      for (const r of runs) buffer = hashSectors(h, device, r, buffer);
    },
    digest: () => h.digest("hex"),
  };
});

provideEd25519Verify(ed25519VerifyRaw);
