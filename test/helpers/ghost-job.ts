// A ghost backup as the power-cut tests run it (ghost, ghost-exfat and ghost-ntfs): the job of
// backupGhost on a device that a FaultDevice may cut off; "cut" when it was.

import * as api from "../../host-shim/src/cli/api";
import { Core } from "../../host-shim/src/native/core";
import { FileDevice } from "../../host-shim/src/native/devices";
import { FaultDevice, PowerCutError } from "../../host-shim/src/native/fault-device";

export function ghostJob(core: Core, dev: FaultDevice | FileDevice): "done" | "cut" {
  try {
    const job = new api.GhostBackupJob(core, dev, dev.name, { created: new Date(Date.UTC(2026, 1, 2)) });
    job.begin();
    try {
      core.run({});
    } catch (e) {
      job.abandon();
      throw e;
    }
    job.finish();
    return "done";
  } catch (e) {
    if (dev instanceof FaultDevice && dev.powerCut) return "cut";
    if (e instanceof PowerCutError) return "cut";
    throw e;
  }
}
