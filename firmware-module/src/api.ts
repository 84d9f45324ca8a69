// The firmware API (the patent's figure 8): backup, restore, listImages, verify and health,
// each with progress and cancel. Every job is a Task that the caller steps: one host call per
// step, each step moving about BUDGET bytes inside the host and the wasm core.
import {
  BackupParams,
  BackupResult,
  BeginResult,
  CompareResult,
  HealthReport,
  StepResult as HostStep,
  ImageEntry,
  JobResult,
  PartitionTable,
  RestoreParams,
  theHost,
  VerifyParams,
} from "./host";
import { thePrinter } from "./printer";

export type { HealthProblem, HealthReport, ImageEntry } from "./host";

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
export interface StepResult<R extends JobResult = JobResult> {
  done: boolean;
  progress: Progress;
  result?: R;
  error?: string;
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
export class Task<R extends JobResult = JobResult> {
  private finished = false;
  private last: Progress = { phase: "starting", bytesDone: 0, bytesTotal: 0 };
  readonly started: BeginResult;

  constructor(
    readonly kind: R["kind"],
    params: BackupParams | RestoreParams | VerifyParams,
    readonly budget = BUDGET,
  ) {
    const p = thePrinter();
    if (kind === "backup") this.started = p.beginBackup(params as BackupParams);
    else {
      if (kind === "restore") p.beginRestore(params as RestoreParams);
      else p.beginVerify(params as VerifyParams);
      this.started = {};
    }
  }

  get progress(): Progress {
    return this.last;
  }

  step(): StepResult<R> {
    if (this.finished) return { done: true, progress: this.last };
    const p = thePrinter();
    let s: HostStep;
    try {
      s = p.step(this.budget) as HostStep;
    } catch (e) {
      this.finished = true;
      return { done: true, progress: this.last, error: (e as Error).message };
    }
    this.last = { phase: s.phase, bytesDone: s.bytesDone, bytesTotal: s.bytesTotal };
    if (!s.done) return { done: false, progress: this.last };
    this.finished = true;
    try {
      return { done: true, progress: this.last, result: p.finish() as unknown as R };
    } catch (e) {
      return { done: true, progress: this.last, error: (e as Error).message };
    }
  }

  cancellable(): boolean {
    return !this.finished && thePrinter().cancellable();
  }

  cancel(): boolean {
    if (this.finished || !thePrinter().cancellable()) return false;
    thePrinter().cancel();
    this.finished = true;
    return true;
  }

  get done(): boolean {
    return this.finished;
  }
}

/** Runs a task to its end: progress after every step, cancel polled between steps. */
export function run<R extends JobResult>(task: Task<R>, options: RunOptions = {}): R {
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
    if (s.done && s.result) return s.result;
    if (s.done) throw new Error(`the ${task.kind} ended without a result`);
    if ((options.shouldCancel?.() || h.shouldCancel()) && task.cancel()) throw new CancelledError(task.kind);
  }
}

export function partitions(): PartitionTable {
  return thePrinter().table;
}

export function listImages(): ImageEntry[] {
  return thePrinter().listImages() as ImageEntry[];
}

export function health(partition: number): HealthReport {
  return thePrinter().health(partition) as HealthReport;
}

export function startBackup(
  o: { partition: number; slot?: number; factory?: boolean; name?: string },
  budget = BUDGET,
): Task<BackupResult> {
  return new Task<BackupResult>("backup", o, budget);
}
export function startRestore(
  o: { image: number; partition: number; verify?: boolean; full?: boolean },
  budget = BUDGET,
): Task<CompareResult> {
  return new Task<CompareResult>(
    "restore",
    { slot: o.image, partition: o.partition, verify: o.verify, full: o.full },
    budget,
  );
}
export function startVerify(o: { image: number; against?: number }, budget = BUDGET): Task<CompareResult> {
  return new Task<CompareResult>("verify", { slot: o.image, against: o.against }, budget);
}

export function backup(
  o: { partition: number; slot?: number; factory?: boolean; name?: string },
  r?: RunOptions,
): BackupResult {
  return run(startBackup(o), r);
}
export function restore(
  o: { image: number; partition: number; verify?: boolean; full?: boolean },
  r?: RunOptions,
): CompareResult {
  return run(startRestore(o), r);
}
export function verify(o: { image: number; against?: number }, r?: RunOptions): CompareResult {
  return run(startVerify(o), r);
}
