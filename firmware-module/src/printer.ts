// The printer as the firmware sees it: the portable operations' PrinterHost (ops/printer-host.ts:
// the image store, the ghost, health, the step-driven jobs), built once over the native host API
// (bridge.ts: the disk, the wasm core, SHA-256) and the layout the device profile gives.
import { HostCore, hostDisk, provideHostSha256 } from "./bridge";
import { theHost } from "./host";
import { LayoutProfile, PrinterHost, printerLayout } from "./ops/printer-host";

let printer: PrinterHost | undefined;

/** The printer's operations (built on first use: the partition table is read then). */
export function thePrinter(): PrinterHost {
  if (!printer) {
    const host = theHost();
    provideHostSha256(host);
    const profile = JSON.parse(host.profile()) as LayoutProfile;
    printer = new PrinterHost(new HostCore(host), hostDisk(host), printerLayout(profile), () => host.now());
  }
  return printer;
}
