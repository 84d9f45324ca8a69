// The firmware API (the patent's figure 8): backup, restore, listImages, verify and health,
// each with progress and cancel. Every job is a Task that the caller steps: one host call per
// step, each step moving about BUDGET bytes inside the host and the wasm core.
import { theHost } from "./host";

/** Bytes of I/O per step: one host call moves this much inside the host and the wasm core. */
export const BUDGET = 64 * 1024 * 1024;
/** The service menu's step: smaller, so that the panel's progress moves several times a second. */
export const PANEL_BUDGET = 16 * 1024 * 1024;
/** Progress goes to the host at most this often (a panel refresh), and at the end. */
const PROGRESS_MS = 100;

export interface Progress {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
}
export interface StepResult {
  done: boolean;
  progress: Progress;
  result?: Record<string, unknown>;
  error?: string;
}

export interface ImageEntry {
  slot: number;
  state: string;
  kind: "factory" | "backup";
  commit: number;
  imageBytes: number;
  created: number;
  name: string;
  sourcePartition: number;
  manifestBytes: number;
  headerCheck?: string;
  error?: string;
  image?: { fsType: string; imageClusters: number; clusterBytes: number; created: string; partitionSectors: number };
}
export interface HealthProblem {
  kind: string;
  severity: "fatal" | "minor";
  detail: string;
  path?: string;
}
export interface HealthReport {
  ok: boolean;
  restoreNeeded: boolean;
  problems: HealthProblem[];
  files: number;
  manifestFiles: number;
  /** An interrupted restore's mark: which image it was restoring. */
  restoreInProgress?: { headerCheck: string; name: string; created: string };
}

export interface RunOptions {
  onProgress?: (p: Progress) => void;
  shouldCancel?: () => boolean;
}

export class CancelledError extends Error {
  constructor(what: string) {
    super(`${what} cancelled`);
    this.name = "CancelledError";
  }
}

/** A running job. step() until done; cancel() when cancellable(). */
export class Task {
  private finished = false;
  private last: Progress = { phase: "starting", bytesDone: 0, bytesTotal: 0 };
  readonly started: Record<string, unknown>;

  constructor(
    readonly kind: "backup" | "restore" | "verify",
    params: Record<string, unknown>,
    readonly budget = BUDGET,
  ) {
    this.started = JSON.parse(theHost().begin(kind, JSON.stringify(params)));
  }

  get progress(): Progress {
    return this.last;
  }

  step(): StepResult {
    if (this.finished) return { done: true, progress: this.last };
    const h = theHost();
    let s: { done: boolean; phase: string; bytesDone: number; bytesTotal: number };
    try {
      s = JSON.parse(h.step(this.budget));
    } catch (e) {
      this.finished = true;
      return { done: true, progress: this.last, error: (e as Error).message };
    }
    this.last = { phase: s.phase, bytesDone: s.bytesDone, bytesTotal: s.bytesTotal };
    if (!s.done) return { done: false, progress: this.last };
    this.finished = true;
    try {
      return { done: true, progress: this.last, result: JSON.parse(h.finish()) };
    } catch (e) {
      return { done: true, progress: this.last, error: (e as Error).message };
    }
  }

  cancellable(): boolean {
    return !this.finished && theHost().cancellable();
  }

  cancel(): boolean {
    if (this.finished || !theHost().cancellable()) return false;
    theHost().cancel();
    this.finished = true;
    return true;
  }

  get done(): boolean {
    return this.finished;
  }
}

/** Runs a task to its end: progress after every step, cancel polled between steps. */
export function run(task: Task, options: RunOptions = {}): Record<string, unknown> {
  const h = theHost();
  let shown = 0;
  if ((options.shouldCancel?.() || h.shouldCancel()) && task.cancel()) throw new CancelledError(task.kind);
  for (;;) {
    const s = task.step();
    options.onProgress?.(s.progress);
    const now = h.now();
    if (s.done || now - shown >= PROGRESS_MS) {
      shown = now;
      h.progress(JSON.stringify({ kind: task.kind, ...s.progress }));
    }
    if (s.error !== undefined) throw new Error(s.error);
    if (s.done) return s.result ?? {};
    if ((options.shouldCancel?.() || h.shouldCancel()) && task.cancel()) throw new CancelledError(task.kind);
  }
}

export function partitions(): {
  scheme: string;
  sectorSize: number;
  partitions: Array<{ number: number; startLba: number; sectorCount: number }>;
} {
  return JSON.parse(theHost().partitions());
}

export function listImages(): ImageEntry[] {
  return JSON.parse(theHost().listImages());
}

export function health(partition: number): HealthReport {
  return JSON.parse(theHost().health(partition));
}

export function startBackup(
  o: { partition: number; slot?: number; factory?: boolean; name?: string },
  budget = BUDGET,
): Task {
  return new Task("backup", o, budget);
}
export function startRestore(
  o: { image: number; partition: number; verify?: boolean; full?: boolean },
  budget = BUDGET,
): Task {
  return new Task("restore", { slot: o.image, partition: o.partition, verify: o.verify, full: o.full }, budget);
}
export function startVerify(o: { image: number; against?: number }, budget = BUDGET): Task {
  return new Task("verify", { slot: o.image, against: o.against }, budget);
}

export function backup(
  o: { partition: number; slot?: number; factory?: boolean; name?: string },
  r?: RunOptions,
): Record<string, unknown> {
  return run(startBackup(o), r);
}
export function restore(
  o: { image: number; partition: number; verify?: boolean; full?: boolean },
  r?: RunOptions,
): Record<string, unknown> {
  return run(startRestore(o), r);
}
export function verify(o: { image: number; against?: number }, r?: RunOptions): Record<string, unknown> {
  return run(startVerify(o), r);
}
