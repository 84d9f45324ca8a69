// The Node host's platform primitives for the portable operations (firmware-module/src/ops/platform.ts).
import * as crypto from "node:crypto";
import { provideEd25519Verify, provideSha256 } from "../../../firmware-module/src/ops/platform";
import { hashSectors } from "./native-host";

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

// a raw 32-byte public key as the SPKI DER node:crypto takes (RFC 8410: a fixed 12-byte prefix)
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
provideEd25519Verify((publicKey, message, signature) => {
  const key = crypto.createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
    format: "der",
    type: "spki",
  });
  return signature.length === 64 && crypto.verify(null, message, key, signature);
});
