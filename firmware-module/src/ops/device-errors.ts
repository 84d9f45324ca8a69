// The errors a device and the native host raise (FatFs DRESULT style): the small part of
// errors.ts that the native side of the host API needs, kept apart so that a port reads only
// this. errors.ts re-exports all of it, beside the errors only the portable side raises.
import { DeviceCode } from "./abi";

/** Device result codes, returned (negated) to the wasm core by the device imports (DeviceCode in the contract). */
export { DeviceCode };
export type DeviceCodeValue = (typeof DeviceCode)[keyof typeof DeviceCode];
/** The device codes' names by number, upper-case (for messages). */
export const deviceCodeNames: Record<number, string> = Object.fromEntries(
  Object.entries(DeviceCode).map(([k, v]) => [v, k.toUpperCase()]),
);

export class ClusterbackError extends Error {
  constructor(message: string) {
    super(message);
    // keep instanceof working whatever the compile target (ES5 breaks Error subclasses)
    Object.setPrototypeOf(this, new.target.prototype);
    this.name = "ClusterbackError";
  }
}

export class DeviceError extends ClusterbackError {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "DeviceError";
    this.code = code;
  }
  get codeName(): string {
    return deviceCodeNames[this.code] ?? `code ${this.code}`;
  }
}

export class UsageError extends ClusterbackError {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A read or write touched a bad sector: the whole request failed, nothing of a write reached the medium. */
export class BadSectorError extends DeviceError {
  constructor(
    readonly device: string,
    readonly op: "read" | "write",
    /** The first bad LBA in the request (this device's LBAs). */
    readonly lba: number,
    /** The request: its first LBA and length. */
    readonly requestLba: number,
    readonly sectorCount: number,
  ) {
    super(
      DeviceCode.io,
      `${device}: ${op} error at LBA ${lba} (bad sector; ${op} of ${sectorCount} sectors at LBA ${requestLba})`,
    );
    this.name = "BadSectorError";
  }
}
