// Scripted service-menu sessions: a technician's keys on the front panel of a simulated
// printer, run through the firmware in QuickJS. Each frame is what the panel showed after a key
// (or after one step of the task the key started, or after the task has run to its end).
import { Firmware } from "../../host-shim/src/native/quickjs-host";

export type SessionKey = "up" | "down" | "ok" | "back";
/** A key; "tick": one step of the running task; "wait": tick until the menu leaves its progress screen (at most `maxTicks`). */
export type SessionStep = SessionKey | "tick" | "wait";

export interface Frame {
  /** What led to this frame: "open", a key, "tick", "progress" (a step during a "wait"), or "wait" (the task's end). */
  step: string;
  state: string;
  lines: string[];
  /** The menu item the cursor is on (the one a task belongs to while it asks, runs or reports). */
  selected?: string;
  /** For "progress" frames: which step of the task it followed (1 = the first). */
  tick?: number;
}

interface Rendered {
  state: string;
  lines: string[];
  selected?: string;
}

/**
 * Runs `script` against the firmware's menu. A "wait" records a "progress" frame after every
 * step of the task while it runs, then a "wait" frame with the screen it ends on. `onFrame`
 * sees each frame as it is made (while the menu is still in that state).
 */
export function menuSession(
  fw: Firmware,
  script: SessionStep[],
  maxTicks = 10000,
  onFrame?: (f: Frame) => void,
): Frame[] {
  const frames: Frame[] = [];
  const push = (step: string, r: unknown, tick?: number) => {
    const f = r as Rendered;
    const frame: Frame = {
      step,
      state: f.state,
      lines: f.lines,
      selected: f.selected,
      ...(tick !== undefined ? { tick } : {}),
    };
    frames.push(frame);
    onFrame?.(frame);
    return f;
  };
  push("open", fw.call("menuOpen"));
  for (const s of script) {
    if (s === "tick") {
      push(s, fw.call("menuTick"));
      continue;
    }
    if (s !== "wait") {
      push(s, fw.call("menuKey", s));
      continue;
    }
    let f = fw.call("menuRender") as Rendered;
    for (let i = 1; f.state === "running"; i++) {
      if (i > maxTicks) throw new Error(`the task did not end within ${maxTicks} ticks`);
      f = fw.call("menuTick") as Rendered;
      if (f.state === "running") push("progress", f, i);
    }
    push("wait", f);
  }
  return frames;
}

/**
 * What a frame shows, in words, given the frame before it: the key pressed and what it selected
 * or started ('"down": "Verify images" selected', '"ok" on "Back up now": asks first').
 */
export function caption(f: Frame, prev?: Frame): string {
  const item = f.selected ? `"${f.selected}"` : "the item";
  if (f.step === "open") return `the service menu opens: ${item} selected`;
  if (f.step === "progress") return `${item} running, after step ${f.tick ?? "?"}`;
  if (f.step === "wait" || f.step === "tick") {
    if (f.state === "running") return `${item} running, after one more step`;
    return f.state === "result" ? `${item} has ended: its result` : `${item}: the task has ended`;
  }
  if (f.state === prev?.state && (f.state === "result" || f.state === "info") && (f.step === "up" || f.step === "down"))
    return `"${f.step}": the text scrolls`;
  const key = `"${f.step}"`;
  const from = prev?.state;
  switch (f.state) {
    case "menu":
      if (from && from !== "menu") return `${key}: back to the menu, ${item} selected`;
      return `${key}: ${item} selected`;
    case "confirm":
      if (from === "confirm")
        return f.step === "ok" ? `${key}: the warning, before anything starts` : `${key}: the confirmation scrolls`;
      return `${key} on ${item}: it asks first`;
    case "running":
      if (from === "running") return f.step === "back" ? `${key}: cancel asked for` : `${key}: ${item} keeps running`;
      return `${key}: ${item} starts`;
    case "result":
      return `${key}: ${item} has ended: its result`;
    case "info":
      return `${key} on ${item}: its information`;
    default:
      return `${key}: ${f.state}`;
  }
}

/** A frame as the panel shows it, boxed. */
export function showFrame(f: Frame): string {
  const w = f.lines[0]?.length ?? 0;
  return [`+${"-".repeat(w)}+  ${f.step}`, ...f.lines.map((l) => `|${l}|`), `+${"-".repeat(w)}+`].join("\n");
}
