// The firmware module's entry: bundled by esbuild into dist/firmware/firmware.js as an ES2020
// script that defines the global `firmware`. The host calls these functions with JSON string
// arguments and gets JSON strings back; inside, they use only the injected `host`.
import * as api from "./api";
import { boot as bootFlow, Layout, layoutOf } from "./boot";
import { theHost } from "./host";
import { Key, MenuActions, MenuTask, ServiceMenu, TaskStep } from "./menu";
import { PinGuard, PinSpec } from "./pin";
import { serviceActions } from "./service";

interface PanelProfile {
  partitions: Array<{ role: string }>;
  panel: { rows: number; columns: number };
  imageLocation?: { kind: string };
  service?: { pin: PinSpec };
}

function profile(): PanelProfile {
  return JSON.parse(theHost().profile());
}
function layout(): Layout {
  return layoutOf(profile());
}
function arg<T>(json: string | undefined): T {
  return (json ? JSON.parse(json) : {}) as T;
}
const out = (v: unknown): string => JSON.stringify(v === undefined ? null : v);

let menu: ServiceMenu | undefined;
/** The PIN's check and its count of wrong PINs: one for the firmware's life, whatever menus open and close. */
let pinGuard: PinGuard | undefined;
function thePin(p: PanelProfile): PinGuard | undefined {
  if (!p.service) return undefined;
  const h = theHost();
  pinGuard ??= new PinGuard(
    p.service.pin,
    (password, salt, iterations) => {
      const secret = password.slice(); // the host's copy; wiped as soon as it returns
      try {
        return new Uint8Array(h.pbkdf2Sha256(secret.buffer, salt.slice().buffer, iterations, 32));
      } finally {
        secret.fill(0);
      }
    },
    () => h.now(),
  );
  return pinGuard;
}

/** Boot-time check and repair of the system partition. */
export function boot(): string {
  return out(bootFlow(layout().system));
}

export function backup(json?: string): string {
  const o = arg<{ partition?: number; slot?: number; factory?: boolean; name?: string }>(json);
  return out(api.backup({ ...o, partition: o.partition ?? layout().system }));
}
export function restore(json?: string): string {
  const o = arg<{ image: number; partition?: number; verify?: boolean; full?: boolean }>(json);
  return out(api.restore({ ...o, partition: o.partition ?? layout().system }));
}
export function verify(json?: string): string {
  return out(api.verify(arg<{ image: number; against?: number }>(json)));
}
export function listImages(): string {
  return out(api.listImages());
}
export function health(json?: string): string {
  return out(api.health(arg<{ partition?: number }>(json).partition ?? layout().system));
}

/** The service menu on the front panel: open it, feed it keys and ticks, render it. */
export function menuOpen(): string {
  const p = profile();
  const actions: MenuActions = { ...serviceActions(layout(), p.imageLocation?.kind === "ghost"), pin: thePin(p) };
  menu = new ServiceMenu(actions, p.panel, () => theHost().now());
  return menuRender();
}
function theMenu(): ServiceMenu {
  if (!menu) throw new Error("the service menu is not open (call menuOpen first)");
  return menu;
}
export function menuKey(key: string): string {
  const k = JSON.parse(key) as Key;
  if (!["up", "down", "ok", "back"].includes(k)) throw new Error(`unknown key "${k}" (up, down, ok, back)`);
  theMenu().key(k);
  return menuRender();
}
export function menuTick(): string {
  theMenu().tick();
  return menuRender();
}
/** The panel's lines, the menu's state, and the item the cursor is on. */
export function menuRender(): string {
  const m = theMenu();
  return out({ state: m.state, lines: m.render(), selected: m.selected });
}

export type { MenuTask, TaskStep };
