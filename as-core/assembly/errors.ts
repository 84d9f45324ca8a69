// Core result codes (FatFs FRESULT style). Each failure records one code and up to four
// numeric values; the host turns them into a message that names those values
// (firmware-module/src/ops/errors.ts words them; docs/core-abi.md lists them).
//
// Device result codes are negative numbers returned by the imports; a failing device call
// is reported as E_DEVICE with the device's code, handle, LBA and sector count.

export const OK: i32 = 0;
// The codes (E_*) and the values each carries are declared in as-core/contract/core-abi.json;
// abi.ts holds them, re-exported here for the core's `import * as E from "./errors"`.
export * from "./abi";

export class Failure {
  code: i32 = 0;
  v0: f64 = 0;
  v1: f64 = 0;
  v2: f64 = 0;
  v3: f64 = 0;
}

export const failure = new Failure();

// Records a failure and returns its negated code, so that callers can `return fail(...)`.
export function fail(code: i32, v0: f64 = 0, v1: f64 = 0, v2: f64 = 0, v3: f64 = 0): i32 {
  failure.code = code;
  failure.v0 = v0;
  failure.v1 = v1;
  failure.v2 = v2;
  failure.v3 = v3;
  return -code;
}
