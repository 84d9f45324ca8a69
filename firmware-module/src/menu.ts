// The service menu on the front panel: a state machine driven by four keys, drawn on a
// character LCD of any size from 2x16 to 8x40. Long jobs are MenuTasks stepped by tick(), one
// step per tick, so the firmware keeps control (watchdog, keys) between steps.
// No Node API, no DOM: runs inside QuickJS.
//
//   menu --ok--> [pin --ok x digits-->] confirm --ok--> running --done--> result --ok/back--> menu
//        \            \--back--> menu      \--back: cancel if the task allows it
//         \           \--ok (a warning not shown yet)--> confirm (the warning alone)
//         \--ok (no confirmation: Verify)--> running;   --ok (Image info)--> info --ok/back--> menu
//
// A confirmation can carry a warning (a ghost printer's backup replaces its factory image). The
// warning is never left behind a scroll marker: it shows under the question when both fit above
// the "OK=yes BACK=no" line; otherwise the first OK brings up a screen of the warning alone, and
// only a second OK starts the task.
//
// Up/down stop at the first and last item (no wrap-around), in lists and in scrolled text alike.
//
// With a service PIN (the profile's service.pin; pin.ts), backup, the restores and the wipe first
// ask for it, once per menu session: up/down change the digit, OK takes it, BACK takes back the
// last one (or leaves). The digits are wiped as soon as they are checked.

import type { MenuScreen } from "./host-api";
import { bar, durationText, fit, leftRight, percent, rateText, TextView, wrap } from "./panel";
import type { PinAnswer } from "./pin";

export type Key = "up" | "down" | "ok" | "back";
export interface TaskProgress {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
}
export interface TaskStep {
  done: boolean;
  progress: TaskProgress;
  result?: string[];
  error?: string;
}
export interface MenuTask {
  step(): TaskStep;
  cancel(): void;
  readonly cancellable: () => boolean;
}
export interface MenuActions {
  backupNow(): MenuTask;
  restoreFactory(): MenuTask;
  restoreLatest(): MenuTask;
  verifyImages(): MenuTask;
  imageInfo(): string[];
  wipeFreeSpace?(): MenuTask;
  /**
   * A consequence of "Back up now" the technician must see before it starts, or undefined: on a
   * printer that keeps one image (a ghost), the backup replaces the factory image. Keep it short:
   * on a 2x16 panel it must fit the two rows ("Factory image is replaced. OK?").
   */
  backupWarning?(): string | undefined;
  /** The service PIN's check (pin.ts PinGuard): present when the profile sets one. */
  pin?: { readonly digits: number; lockedMs(): number; check(digits: number[]): PinAnswer };
}
/** The states firmware.menu* report (MenuScreen.state, declared in firmware-module/contract/host-api.json). */
export type MenuState = MenuScreen["state"];

interface MenuItem {
  label: string; // the line in the menu
  title: string; // the progress screen's title
  noun: string; // "Restore" in "Restore failed"
  confirm?: string[]; // question, then details: asked before a destructive task
  warning?: () => string | undefined; // must be seen before the task starts (see the top)
  start?: () => MenuTask;
  info?: () => string[];
  guarded?: boolean; // asks for the service PIN first (when there is one)
}

/**
 * Rate is measured over the last RATE_WINDOW_MS, and shown once RATE_MIN_SPAN_MS have passed or
 * RATE_MIN_STEPS whole steps have been measured (a fast disk can finish a job in less than the
 * span: a rate over two steps of several MB is steady enough to show).
 */
const RATE_WINDOW_MS = 5000;
const RATE_MIN_SPAN_MS = 500;
const RATE_MIN_STEPS = 2;
/** How long "Cannot cancel now" stays up. */
const NOTICE_MS = 3000;
/** On panels too small for the whole progress screen, its lines take turns this long. */
const PAGE_MS = 2000;
const CANCEL_HINT = "BACK=cancel";
const MIN_ROWS = 2;
const MIN_COLUMNS = 16;

function itemsFor(actions: MenuActions): MenuItem[] {
  const items: MenuItem[] = [
    {
      label: "Back up now",
      title: "Backup",
      noun: "Backup",
      start: () => actions.backupNow(),
      confirm: ["Back up now?", "The new backup replaces the previous backup."],
      guarded: true,
      warning: actions.backupWarning ? () => actions.backupWarning!() : undefined,
    },
    {
      label: "Restore factory",
      title: "Factory restore",
      noun: "Restore",
      start: () => actions.restoreFactory(),
      guarded: true,
      confirm: [
        "Restore factory?",
        "The system partition goes back to the factory image. Changes since then are lost.",
      ],
    },
    {
      label: "Restore latest",
      title: "Restore latest",
      noun: "Restore",
      start: () => actions.restoreLatest(),
      confirm: ["Restore latest?", "The system partition goes back to the latest backup. Changes since then are lost."],
      guarded: true,
    },
    { label: "Verify images", title: "Verify", noun: "Verify", start: () => actions.verifyImages() },
    { label: "Image info", title: "Image info", noun: "Image info", info: () => actions.imageInfo() },
  ];
  const wipe = actions.wipeFreeSpace;
  if (wipe) {
    items.push({
      label: "Wipe free space",
      title: "Wipe free space",
      noun: "Wipe",
      start: () => wipe.call(actions),
      confirm: ["Wipe free space?", "Unused space is overwritten: deleted files can no longer be recovered."],
      guarded: true,
    });
  }
  return items;
}

/** Throughput over a sliding window; restarts when the phase changes or the byte count goes back. */
class RateMeter {
  private samples: Array<[number, number]> = [];
  private phase: string | undefined;

  reset(ms: number): void {
    this.samples = [[ms, 0]];
    this.phase = undefined;
  }

  add(ms: number, bytes: number, phase: string): void {
    const last = this.samples[this.samples.length - 1];
    const restarted = (this.phase !== undefined && phase !== this.phase) || (last !== undefined && bytes < last[1]);
    if (restarted) this.samples = [];
    this.phase = phase;
    this.samples.push([ms, bytes]);
    while (this.samples.length > 2 && this.samples[1][0] <= ms - RATE_WINDOW_MS) this.samples.shift();
  }

  /** Bytes per second, or undefined until the window spans RATE_MIN_SPAN_MS or RATE_MIN_STEPS steps. */
  bytesPerSecond(): number | undefined {
    if (this.samples.length < 2) return undefined;
    const [t0, b0] = this.samples[0];
    const [t1, b1] = this.samples[this.samples.length - 1];
    if (t1 <= t0) return undefined;
    const steps = this.samples.length - 1;
    return t1 - t0 < RATE_MIN_SPAN_MS && steps < RATE_MIN_STEPS ? undefined : ((b1 - b0) * 1000) / (t1 - t0);
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class ServiceMenu {
  private mode: MenuState = "menu";
  private readonly items: MenuItem[];
  private readonly rows: number;
  private readonly columns: number;
  private cursor = 0;
  private top = 0; // first item shown
  private view: TextView | undefined; // the confirm, result or info text
  private warning: string | undefined; // confirm: a warning still to show on its own screen
  private warningShown = false; // confirm: the warning's own screen is up
  private warningKeys = true; // ... with the "OK=yes BACK=no" line under it
  private task: MenuTask | undefined;
  private progress: TaskProgress = { phase: "", bytesDone: 0, bytesTotal: 0 };
  private readonly meter = new RateMeter();
  private cancelRequested = false;
  private noticeUntilMs = -Infinity;
  private unlocked = false; // the PIN was given in this session
  private pinDigits: number[] = [];
  private pinDigit = 0;
  private pinMessage: string | undefined;

  constructor(
    private readonly actions: MenuActions,
    panel: { rows: number; columns: number },
    private readonly now: () => number,
  ) {
    this.rows = Math.floor(panel.rows);
    this.columns = Math.floor(panel.columns);
    if (!(this.rows >= MIN_ROWS && this.columns >= MIN_COLUMNS)) {
      throw new RangeError(
        `panel is ${panel.rows}x${panel.columns}; the service menu needs at least ${MIN_ROWS} rows of ${MIN_COLUMNS} columns`,
      );
    }
    this.items = itemsFor(actions);
  }

  get state(): MenuState {
    return this.mode;
  }

  /** The menu's item labels, in order. */
  get labels(): string[] {
    return this.items.map((i) => i.label);
  }

  /** The label of the item the cursor is on (the task's item while it asks, runs or reports). */
  get selected(): string {
    return this.items[this.cursor].label;
  }

  key(k: Key): void {
    switch (this.mode) {
      case "menu":
        return this.menuKey(k);
      case "confirm":
        if (k === "ok") return this.warning !== undefined ? this.showWarning() : this.start();
        if (k === "back") return this.toMenu();
        return this.view?.scroll(k === "up" ? -1 : 1);
      case "running":
        return k === "back" ? this.requestCancel() : undefined;
      case "pin":
        return this.pinKey(k);
      case "result":
      case "info":
        if (k === "ok" || k === "back") return this.toMenu();
        return this.view?.scroll(k === "up" ? -1 : 1);
    }
  }

  /** One step of the running task, if there is one. */
  tick(): void {
    if (this.mode !== "running" || !this.task) return;
    let step: TaskStep;
    try {
      step = this.task.step();
    } catch (e) {
      return this.finish({ done: true, progress: this.progress, error: messageOf(e) });
    }
    this.progress = step.progress;
    this.meter.add(this.now(), step.progress.bytesDone, step.progress.phase);
    if (step.done) this.finish(step);
  }

  /** Exactly `rows` lines of exactly `columns` printable ASCII characters. */
  render(): string[] {
    let lines: string[];
    switch (this.mode) {
      case "menu":
        lines = this.renderMenu();
        break;
      case "confirm":
        lines = this.warningShown && !this.warningKeys ? this.viewLines() : [...this.viewLines(), "OK=yes BACK=no"];
        break;
      case "running":
        lines = this.renderProgress();
        break;
      case "pin":
        lines = this.renderPin();
        break;
      default:
        lines = this.rows >= 4 ? [...this.viewLines(), "OK=menu"] : this.viewLines();
    }
    const out: string[] = [];
    for (let r = 0; r < this.rows; r++) out.push(fit(lines[r] ?? "", this.columns));
    return out;
  }

  // ------------------------------------------------------------ menu

  private listRows(): number {
    return this.rows >= 4 ? this.rows - 1 : this.rows;
  }

  private menuKey(k: Key): void {
    if (k === "up" || k === "down") {
      this.cursor = Math.min(this.items.length - 1, Math.max(0, this.cursor + (k === "up" ? -1 : 1)));
      if (this.cursor < this.top) this.top = this.cursor;
      if (this.cursor >= this.top + this.listRows()) this.top = this.cursor - this.listRows() + 1;
      return;
    }
    if (k !== "ok") return;
    const item = this.items[this.cursor];
    if (item.info) return this.showInfo(item);
    if (item.guarded && this.actions.pin && !this.unlocked) return this.askPin();
    this.proceed(item);
  }

  private proceed(item: MenuItem): void {
    if (item.confirm) return this.ask(item, item.confirm);
    this.start();
  }

  // ------------------------------------------------------------ the service PIN

  private askPin(): void {
    this.clearPin();
    this.pinMessage = undefined;
    this.mode = "pin";
  }

  private clearPin(): void {
    this.pinDigits.fill(0);
    this.pinDigits = [];
    this.pinDigit = 0;
  }

  private pinKey(k: Key): void {
    const pin = this.actions.pin!;
    if (k === "back") {
      if (this.pinDigits.length === 0) return this.toMenu();
      this.pinDigits[this.pinDigits.length - 1] = 0;
      this.pinDigits.pop();
      return;
    }
    if (pin.lockedMs() > 0) return; // locked: only BACK
    if (k === "up" || k === "down") {
      this.pinDigit = (this.pinDigit + (k === "up" ? 1 : 9)) % 10;
      return;
    }
    this.pinDigits.push(this.pinDigit);
    this.pinDigit = 0;
    if (this.pinDigits.length < pin.digits) return;
    const answer = pin.check(this.pinDigits); // wipes the digits
    this.clearPin();
    if (answer.ok) {
      this.unlocked = true;
      this.pinMessage = undefined;
      return this.proceed(this.current());
    }
    const wrong = `Wrong PIN, ${answer.triesLeft} left`;
    this.pinMessage =
      answer.lockedMs > 0 ? undefined : wrong.length <= this.columns ? wrong : `Wrong, ${answer.triesLeft} left`;
  }

  private renderPin(): string[] {
    const pin = this.actions.pin!;
    const locked = pin.lockedMs();
    const entry = `PIN ${"*".repeat(this.pinDigits.length)}${this.pinDigits.length < pin.digits ? String(this.pinDigit) : ""}${"_".repeat(Math.max(0, pin.digits - this.pinDigits.length - 1))}`;
    const fits = (long: string, short: string) => (long.length <= this.columns ? long : short);
    const sec = Math.ceil(locked / 1000);
    const status = locked > 0 ? fits(`Locked: wait ${sec} s`, `Locked ${sec}s`) : (this.pinMessage ?? "Service PIN");
    const keys = locked > 0 ? "BACK=menu" : "UP/DN OK BACK";
    if (this.rows === 2) return [status, locked > 0 ? keys : entry];
    if (this.rows === 3) return [status, entry, keys];
    return [status, "", entry, ...Array(this.rows - 4).fill(""), keys];
  }

  /**
   * The confirmation: the question, the warning if there is one, then the details. When the
   * question and the warning do not both fit above the key line, the warning waits for its own
   * screen (showWarning), which the first OK brings up.
   */
  private ask(item: MenuItem, confirm: string[]): void {
    let warning: string | undefined;
    try {
      warning = item.warning?.();
    } catch (e) {
      warning = `${item.noun}: ${messageOf(e)}`; // fail towards asking more, not less
    }
    const [question, ...details] = confirm;
    const fits =
      warning !== undefined &&
      wrap(question, this.columns).length + wrap(warning, this.columns).length <= this.rows - 1;
    this.view = new TextView(fits ? [question, warning!, ...details] : confirm, this.columns, this.rows - 1);
    this.warning = fits ? undefined : warning;
    this.warningShown = false;
    this.mode = "confirm";
  }

  /**
   * The warning alone: its lines, and "OK=yes BACK=no" on the bottom row when there is room
   * below them; a warning that fills the panel exactly (two rows on a 2x16) goes without it, so
   * it ends in its own question ("... OK?"); a longer one scrolls above the key line.
   */
  private showWarning(): void {
    const text = this.warning!;
    const lines = wrap(text, this.columns).length;
    this.warningKeys = lines !== this.rows;
    this.view = new TextView([text], this.columns, this.warningKeys ? this.rows - 1 : this.rows);
    this.warning = undefined;
    this.warningShown = true;
  }

  private renderMenu(): string[] {
    const lines: string[] = [];
    if (this.rows >= 4) lines.push(leftRight("Service menu", `${this.cursor + 1}/${this.items.length}`, this.columns));
    const n = this.listRows();
    const scrolls = this.items.length > n;
    for (let r = 0; r < n; r++) {
      const i = this.top + r;
      const item = this.items[i];
      if (!item) {
        lines.push("");
        continue;
      }
      const text = (i === this.cursor ? ">" : " ") + item.label;
      // a label is never cut to make room for a scroll marker
      if (!scrolls || text.length > this.columns - 2) {
        lines.push(text);
        continue;
      }
      let mark = " ";
      if (r === 0 && this.top > 0) mark = "^";
      if (r === n - 1 && i < this.items.length - 1) mark = "v";
      lines.push(fit(text, this.columns - 1) + mark);
    }
    return lines;
  }

  private showInfo(item: MenuItem): void {
    let paragraphs: string[];
    try {
      paragraphs = item.info ? item.info() : [];
      if (paragraphs.length === 0) paragraphs = ["No information."];
    } catch (e) {
      paragraphs = [`${item.noun} failed`, messageOf(e)];
    }
    this.view = new TextView(paragraphs, this.columns, this.textRows());
    this.mode = "info";
  }

  private toMenu(): void {
    this.clearPin();
    this.mode = "menu";
    this.view = undefined;
    this.task = undefined;
    this.warning = undefined;
    this.warningShown = false;
  }

  private textRows(): number {
    return this.rows >= 4 ? this.rows - 1 : this.rows;
  }

  private viewLines(): string[] {
    return this.view ? this.view.render() : [];
  }

  // ------------------------------------------------------------ task

  private current(): MenuItem {
    return this.items[this.cursor];
  }

  private start(): void {
    const item = this.current();
    this.progress = { phase: "", bytesDone: 0, bytesTotal: 0 };
    this.warning = undefined;
    this.warningShown = false;
    this.cancelRequested = false;
    this.noticeUntilMs = -Infinity;
    this.meter.reset(this.now());
    try {
      this.task = item.start ? item.start() : undefined;
    } catch (e) {
      return this.finish({ done: true, progress: this.progress, error: messageOf(e) });
    }
    this.view = undefined;
    this.mode = "running";
  }

  private requestCancel(): void {
    if (!this.task || this.cancelRequested) return;
    let allowed = false;
    try {
      allowed = this.task.cancellable();
    } catch {
      allowed = false;
    }
    if (allowed) {
      this.task.cancel();
      this.cancelRequested = true;
    } else {
      this.noticeUntilMs = this.now() + NOTICE_MS;
    }
  }

  private finish(step: TaskStep): void {
    const item = this.current();
    let paragraphs: string[];
    if (step.error !== undefined) {
      const header = `${item.noun} ${this.cancelRequested ? "cancelled" : "failed"}`;
      const repeats = step.error.toLowerCase().startsWith(header.toLowerCase());
      paragraphs = repeats ? [step.error] : [header, step.error];
    } else {
      paragraphs = step.result && step.result.length > 0 ? step.result : [`${item.noun} done`];
    }
    this.task = undefined;
    this.view = new TextView(paragraphs, this.columns, this.textRows());
    this.mode = "result";
  }

  /** The line at the bottom of the progress screen: a notice, "BACK=cancel", or nothing. */
  private cancelLine(): string | undefined {
    if (this.cancelRequested) return "Cancelling...";
    if (this.now() < this.noticeUntilMs) return this.columns >= 17 ? "Cannot cancel now" : "Can't cancel now";
    let allowed = false;
    try {
      allowed = this.task?.cancellable() ?? false;
    } catch {
      allowed = false;
    }
    return allowed ? CANCEL_HINT : undefined;
  }

  /** Rate and time left on one line if it fits, else on two. */
  private speedLines(): string[] {
    const rate = this.meter.bytesPerSecond();
    const { bytesDone, bytesTotal } = this.progress;
    const secondsLeft =
      rate !== undefined && rate > 0 && bytesTotal > 0 ? Math.max(0, bytesTotal - bytesDone) / rate : undefined;
    const speed = rateText(rate),
      left = `${durationText(secondsLeft)} left`;
    for (const gap of ["  ", " "])
      if (speed.length + gap.length + left.length <= this.columns) return [speed + gap + left];
    return [speed, left];
  }

  /**
   * Title and percent on top; the cancel line at the bottom; between them the bar, rate, time
   * left and phase. The phase is left out if that makes the rest fit; otherwise the lines take
   * turns, PAGE_MS each.
   */
  private renderProgress(): string[] {
    const { phase, bytesDone, bytesTotal } = this.progress;
    const head = leftRight(this.current().title, percent(bytesDone, bytesTotal), this.columns);
    const fraction = bytesTotal > 0 ? bytesDone / bytesTotal : undefined;
    const cancel = this.cancelLine();
    // a notice always shows; on two rows the "BACK=cancel" hint takes turns with the rest
    const footFixed = cancel !== undefined && (this.rows >= 3 || cancel !== CANCEL_HINT);
    const room = this.rows - 1 - (footFixed ? 1 : 0);
    const core = [bar(fraction, this.columns), ...this.speedLines()];
    const full = phase ? [...core, phase] : core;
    let body = footFixed || cancel === undefined ? full : [...full, cancel];
    if (body.length > room && core.length <= room) body = core;
    if (room <= 0) body = [];
    else if (body.length > room) {
      const pages = Math.ceil(body.length / room);
      const page = Math.floor(this.now() / PAGE_MS) % pages;
      body = body.slice(page * room, page * room + room);
    }
    const lines = [head, ...body];
    while (lines.length < this.rows - (footFixed ? 1 : 0)) lines.push("");
    if (footFixed) lines.push(cancel);
    return lines;
  }
}
