// Unreadable clusters (docs/image-format.md, section 5.1): a backup run with "record unreadable"
// stores a cluster that the source could not read as zeros, with its check inverted, and sets
// header flag bit 1. The rule lives here so that backup (which makes the mark) and restore and
// verify (which recognise it) apply the same one.

import { DEV_IO } from "../abi";
import { isZero } from "../io";

export { SLOT_UNREADABLE_COUNT, SLOT_UNREADABLE_FIRST, SLOT_UNREADABLE_LIST, UNREADABLE_LISTED } from "../abi";

// Header H_Flags bit 1: the image may hold clusters marked unreadable (section 2, section 5.1).
export const FLAG_UNREADABLE: u32 = 2;

// The device result of an I/O error, as the dev.* imports return it (DeviceCode IO, negated). Only this code makes a cluster "unreadable"; any other device result
// (range, closed, short read, write guard) fails the job as before.
export const IO_ERROR: i32 = -DEV_IO;

// The unreadable results (SLOT_UNREADABLE_*) list what a backup in record mode met.

// The stored check of an unreadable cluster, from the CBH-32 of the zero-filled cluster with
// the cluster's own seed: its bitwise NOT. A good cluster's stored check equals the computed one.
export function unreadableCheck(zeroCheck: u32): u32 {
  return ~zeroCheck;
}

// True when a stored check is the unreadable mark for data whose CBH-32 is `computed`.
// (A good cluster has stored == computed; any other value is damage.)
export function isUnreadable(stored: u32, computed: u32): bool {
  return stored == ~computed;
}

// The whole reader's rule of section 5.1: the image has flag bit 1, the stored check is the
// NOT of the computed one, and the cluster's bytes are all zero. Only worth calling when
// stored != computed (a failed check), so the byte scan runs only on that path.
export function isUnreadableCluster(imageFlags: u32, stored: u32, computed: u32, data: usize, clusterBytes: u32): bool {
  return (imageFlags & FLAG_UNREADABLE) != 0 && isUnreadable(stored, computed) && isZero(data, clusterBytes);
}
