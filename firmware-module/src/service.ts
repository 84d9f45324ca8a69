// What the service menu's items do: each destructive or long item is a MenuTask over the
// firmware API's Tasks, with results and errors in words a technician understands.
import * as api from "./api";
import { Layout } from "./boot";
import type { JobResult } from "./host";
import { MenuActions, MenuTask, TaskStep } from "./menu";

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
function when(sec: number): string {
  const d = new Date(sec * 1000);
  return Number.isFinite(d.getTime()) ? d.toISOString().slice(0, 16).replace("T", " ") : "date unknown";
}

/** One firmware Task of a Sequence, with the lines its result gives and the line its failure gives. */
interface Stage<R extends JobResult> {
  start(): api.Task<R>;
  done(r: R): string[];
  failed(msg: string): string;
}
/** A Stage typed by its task's result (R is inferred from start). */
function stage<R extends JobResult>(s: Stage<R>): Stage<JobResult> {
  return s;
}

/** A MenuTask that runs a list of firmware Tasks one after the other. */
class Sequence implements MenuTask {
  private index = 0;
  private current: api.Task | undefined;
  private readonly lines: string[] = [];
  private failed: string | undefined;

  constructor(private readonly steps: Array<Stage<JobResult>>) {}

  step(): TaskStep {
    if (this.failed !== undefined) return { done: true, progress: this.progress(), error: this.failed };
    if (this.index >= this.steps.length) return { done: true, progress: this.progress(), result: this.lines };
    const s = this.steps[this.index];
    try {
      this.current ??= s.start();
    } catch (e) {
      this.failed = s.failed((e as Error).message);
      return { done: true, progress: this.progress(), error: this.failed };
    }
    const r = this.current.step();
    if (!r.done) return { done: false, progress: r.progress };
    if (r.error !== undefined) {
      this.failed = s.failed(r.error);
      return { done: true, progress: r.progress, error: this.failed };
    }
    if (r.result) this.lines.push(...s.done(r.result));
    this.index++;
    this.current = undefined;
    const last = this.index >= this.steps.length;
    return last ? { done: true, progress: r.progress, result: this.lines } : { done: false, progress: r.progress };
  }

  private progress(): api.Progress {
    return this.current?.progress ?? { phase: "", bytesDone: 0, bytesTotal: 0 };
  }
  cancel(): void {
    this.current?.cancel();
    this.failed ??= "Cancelled. Nothing was changed.";
  }
  readonly cancellable = (): boolean => this.current === undefined || this.current.cancellable();
}

function images(system: number): api.ImageEntry[] {
  return api.listImages().filter((i) => i.sourcePartition === system && !i.error);
}

/** What a backup from the menu would replace that the technician must be told of first. */
export const GHOST_FACTORY_WARNING = "Factory image is replaced. OK?";

/**
 * The menu's actions on the system partition. `oneImage`: the printer keeps a single image (a
 * ghost file in the system partition), so a backup replaces whatever image it holds.
 */
export function serviceActions(layout: Layout, oneImage = false): MenuActions {
  const sys = layout.system;
  const restoreFrom = (pick: () => api.ImageEntry | undefined, what: string): MenuTask => {
    const img = pick();
    return new Sequence([
      stage({
        start: () => {
          if (!img) throw new Error(`there is no ${what} image on this printer`);
          return api.startRestore({ image: img.slot, partition: sys }, api.PANEL_BUDGET);
        },
        done: (r) => [
          `Restored from ${img!.kind} image`,
          `"${img!.name}"`,
          `${mb(r.bytesWritten)} written`,
          "Read back: OK",
        ],
        failed: (m) => `Restore failed. ${m}`,
      }),
    ]);
  };
  return {
    backupNow: () =>
      new Sequence([
        stage({
          start: () => api.startBackup({ partition: sys }, api.PANEL_BUDGET),
          done: (r) => [
            "Backup complete",
            `slot ${r.slot}: ${mb(r.imageBytes)}`,
            `${r.manifestFiles} files in manifest`,
          ],
          failed: (m) => `Backup failed. The previous images are kept. ${m}`,
        }),
      ]),
    // on a one-image printer the first backup replaces the factory image: say so before it starts
    backupWarning: () =>
      oneImage && images(sys).some((i) => i.kind === "factory") ? GHOST_FACTORY_WARNING : undefined,
    restoreFactory: () => restoreFrom(() => images(sys).find((i) => i.kind === "factory"), "factory"),
    restoreLatest: () => restoreFrom(() => images(sys)[0], "saved"),
    verifyImages: () => {
      const list = api.listImages();
      if (list.length === 0)
        return new Sequence([
          stage({
            start: (): api.Task => {
              throw new Error("there are no images to verify");
            },
            done: () => [],
            failed: (m) => m,
          }),
        ]);
      return new Sequence(
        list.map((i) =>
          stage({
            start: () => api.startVerify({ image: i.slot }, api.PANEL_BUDGET),
            done: () => [`${i.kind} "${i.name}": OK`],
            failed: (m: string) => `Image "${i.name}" (slot ${i.slot}) is damaged: ${m}`,
          }),
        ),
      );
    },
    imageInfo: () => {
      const list = api.listImages();
      if (list.length === 0) return ["No images stored."];
      return list.flatMap((i) => [
        `Slot ${i.slot}: ${i.kind}`,
        `"${i.name}"`,
        `${when(i.created)} ${mb(i.imageBytes)}`,
        i.error ? `UNREADABLE: ${i.error}` : `${i.image?.fsType ?? "?"}, ${i.image?.imageClusters ?? "?"} clusters`,
      ]);
    },
  };
}
