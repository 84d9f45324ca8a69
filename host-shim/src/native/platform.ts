// The Node host's platform primitives for the portable operations (firmware-module/src/ops/platform.ts).
import * as crypto from "node:crypto";
import { provideSha256 } from "../../../firmware-module/src/ops/platform";

provideSha256(() => {
  const h = crypto.createHash("sha256");
  return { update: (b) => h.update(b), digest: () => h.digest("hex") };
});
