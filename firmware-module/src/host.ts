// The host API the printer's native side injects into QuickJS as the global `host`
// (host-shim/src/native/quickjs-host.ts implements it over Node; a printer implements it in C).
// Its functions and the shapes of their JSON are declared in firmware-module/contract/host-api.json
// and generated into host-api.ts; docs/host-api.md is the integrator's reference.
import type { HostApi } from "./host-api";

export type * from "./host-api";

declare const host: HostApi;

export function theHost(): HostApi {
  if (typeof host === "undefined") throw new Error("the firmware module needs the host API (global host)");
  return host;
}
