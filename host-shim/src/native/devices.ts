// The Node host's devices in one place, for the command line, the simulator and the tests: the
// portable ones (ops/devices.ts: RAM, window, write guard, read-failure trap), the printer's disk
// file (disk-file.ts) and the command line's file devices (file-device.ts).
export * from "../../../firmware-module/src/ops/devices";
export { DiskFile } from "./disk-file";
export { createSparseFile, FileDevice, FileDeviceOptions, FileWriteQueue, sysBlockDir } from "./file-device";
