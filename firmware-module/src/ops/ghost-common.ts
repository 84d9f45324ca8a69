// What the ghost modules share (ghost.ts for FAT and the search, ghost-exfat.ts for exFAT): the
// error they throw and the extent they name. ghost.ts re-exports both.
import { ClusterbackError } from "./errors";

export class GhostError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "GhostError";
  }
}

/** Where a ghost image lies: partition sectors (whole clusters). */
export interface GhostExtent {
  startSector: number;
  sectors: number;
}

/** No run of free clusters is long enough for the ghost's file. */
export class GhostSpaceError extends GhostError {
  constructor(message: string) {
    super(message);
    this.name = "GhostSpaceError";
  }
}
