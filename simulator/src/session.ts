// Scripted service-menu sessions: a technician's keys on the front panel of a simulated
// printer, run through the firmware in QuickJS. Each frame is what the panel showed after a key
// (or after the task the key started has run to its end).
import { Firmware } from "../../host-shim/src/quickjs-host";

export type SessionKey = "up" | "down" | "ok" | "back";
/** A key; "tick": one step of the running task; "wait": tick until the menu leaves its progress screen (at most `maxTicks`). */
export type SessionStep = SessionKey | "tick" | "wait";

export interface Frame { step: string; state: string; lines: string[] }

export function menuSession(fw: Firmware, script: SessionStep[], maxTicks = 10000): Frame[] {
  const frames: Frame[] = [];
  const push = (step: string, r: unknown) => { const f = r as { state: string; lines: string[] }; frames.push({ step, state: f.state, lines: f.lines }); return f; };
  push("open", fw.call("menuOpen"));
  for (const s of script) {
    if (s === "tick") { push(s, fw.call("menuTick")); continue; }
    if (s !== "wait") { push(s, fw.call("menuKey", s)); continue; }
    let f = fw.call("menuRender") as { state: string; lines: string[] };
    const progress: string[][] = [];
    for (let i = 0; f.state === "running"; i++) {
      if (i >= maxTicks) throw new Error(`the task did not end within ${maxTicks} ticks`);
      f = fw.call("menuTick") as { state: string; lines: string[] };
      if (f.state === "running") progress.push(f.lines);
    }
    if (progress.length) frames.push({ step: "progress", state: "running", lines: progress[Math.floor(progress.length / 2)] });
    push("wait", f);
  }
  return frames;
}

/** A frame as the panel shows it, boxed. */
export function showFrame(f: Frame): string {
  const w = f.lines[0]?.length ?? 0;
  return [`+${"-".repeat(w)}+  ${f.step}`, ...f.lines.map((l) => `|${l}|`), `+${"-".repeat(w)}+`].join("\n");
}
