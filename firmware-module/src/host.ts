// The host API the printer's native side injects into QuickJS as the global `host`
// (host-shim/src/quickjs-host.ts implements it over Node; a printer implements it in C).
// Arguments and results are numbers and JSON strings: nothing here carries cluster data.

export interface HostApi {
  log(message: string): void;
  /** Milliseconds since 1970. */
  now(): number;
  /** The device profile (JSON). */
  profile(): string;
  /** The disk's partition table (JSON: { scheme, sectorSize, partitions: [{ number, type, startLba, sectorCount }] }). */
  partitions(): string;
  /** Valid images, newest first (JSON array of slot entries with the image header's information). */
  listImages(): string;
  /** The health report of a FAT partition (JSON), against the newest image's manifest. */
  health(partition: number): string;
  /** Starts a job: "backup" { partition, slot?, factory?, name? } | "restore" { slot, partition, verify? } | "verify" { slot, against? }. */
  begin(kind: string, paramsJson: string): string;
  /** Runs the job for about `budgetBytes` of I/O; JSON { done, phase, bytesDone, bytesTotal }. */
  step(budgetBytes: number): string;
  /** After the last step: the job's result (JSON); throws when the job found a problem. */
  finish(): string;
  /** Whether cancelling now is safe (a restore that has begun writing is not). */
  cancellable(): boolean;
  cancel(): void;
  /** Progress for whoever watches (the panel, the demo): JSON. */
  progress(json: string): void;
  /** The host's own cancel request (a key, a watchdog), polled between steps. */
  shouldCancel(): boolean;
}

declare const host: HostApi;

export function theHost(): HostApi {
  if (typeof host === "undefined") throw new Error("the firmware module needs the host API (global host)");
  return host;
}
