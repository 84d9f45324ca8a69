// The service menu: scripted key sessions against fake actions and a fake clock.
import t from "tap";
import { Key, MenuActions, MenuTask, ServiceMenu, TaskStep } from "../firmware-module/src/menu";
import { TextView, wrap } from "../firmware-module/src/panel";
import { listProfiles, loadProfile } from "../host-shim/src/native/load-profile";

const MB = 1e6;

interface FakeOptions {
  steps?: number;
  bytesPerStep?: number;
  failAt?: number;
  error?: string;
  result?: string[];
  cancellable?: (stepNo: number) => boolean;
  phase?: (stepNo: number) => string;
}

class FakeTask implements MenuTask {
  stepCalls = 0;
  cancelled = false;
  constructor(private readonly o: FakeOptions = {}) {}
  get total(): number {
    return (this.o.steps ?? 10) * (this.o.bytesPerStep ?? 10 * MB);
  }
  step(): TaskStep {
    this.stepCalls++;
    const n = this.stepCalls,
      steps = this.o.steps ?? 10;
    const progress = {
      phase: this.o.phase?.(n) ?? "copying",
      bytesDone: Math.min(n, steps) * (this.o.bytesPerStep ?? 10 * MB),
      bytesTotal: this.total,
    };
    if (this.cancelled) return { done: true, progress, error: "Cancelled. Nothing was changed." };
    if (this.o.failAt === n) return { done: true, progress, error: this.o.error ?? "boom" };
    if (n >= steps) return { done: true, progress, result: this.o.result ?? ["All done"] };
    return { done: false, progress };
  }
  cancel(): void {
    this.cancelled = true;
  }
  readonly cancellable = (): boolean => (this.o.cancellable ? this.o.cancellable(this.stepCalls) : true);
}

class FakeActions implements MenuActions {
  started: string[] = [];
  next: Partial<Record<string, FakeOptions>> = {};
  tasks: FakeTask[] = [];
  info: string[] = ["Slot 1: factory", '"Factory image"', "2024-05-01 12:00 48.0 MB", "fat32, 12288 clusters"];
  private make(name: string): MenuTask {
    this.started.push(name);
    const task = new FakeTask(this.next[name]);
    this.tasks.push(task);
    return task;
  }
  backupNow() {
    return this.make("backupNow");
  }
  restoreFactory() {
    return this.make("restoreFactory");
  }
  restoreLatest() {
    return this.make("restoreLatest");
  }
  verifyImages() {
    return this.make("verifyImages");
  }
  imageInfo() {
    return this.info;
  }
}

class WithWipe extends FakeActions {
  wipeFreeSpace() {
    return this.make("wipeFreeSpace");
  }
}

function setup(rows = 4, columns = 20, actions: FakeActions = new FakeActions()) {
  const clock = { ms: 0 };
  const menu = new ServiceMenu(actions, { rows, columns }, () => clock.ms);
  const keys = (...ks: Key[]) => {
    for (const k of ks) menu.key(k);
  };
  const screen = () => checked(menu.render(), rows, columns);
  const text = () => screen().join("\n");
  return { menu, actions, clock, keys, screen, text };
}

/** Every render: `rows` lines of `columns` printable ASCII characters. */
function checked(lines: string[], rows: number, columns: number): string[] {
  if (lines.length !== rows) throw new Error(`${lines.length} lines, want ${rows}`);
  for (const l of lines) {
    if (l.length !== columns || !/^[\x20-\x7e]*$/.test(l))
      throw new Error(`bad line ${JSON.stringify(l)} (want ${columns} ASCII characters)`);
  }
  return lines;
}

t.test("navigation stops at both ends", async (t) => {
  const { menu, keys, screen } = setup(4, 20);
  t.equal(menu.state, "menu");
  t.strictSame(menu.labels, ["Back up now", "Restore factory", "Restore latest", "Verify images", "Image info"]);
  t.strictSame(screen(), [
    "Service menu     1/5",
    ">Back up now        ",
    " Restore factory    ",
    " Restore latest    v",
  ]);
  keys("up");
  t.strictSame(screen()[1], ">Back up now        ", "up at the top stays on the first item");
  keys("down", "down", "down");
  t.strictSame(
    screen(),
    ["Service menu     4/5", " Restore factory   ^", " Restore latest     ", ">Verify images     v"],
    "scrolls to keep the cursor visible",
  );
  keys("down", "down", "down");
  t.strictSame(
    screen(),
    ["Service menu     5/5", " Restore latest    ^", " Verify images      ", ">Image info         "],
    "down at the bottom stays on the last item",
  );
  keys("up", "up", "up");
  t.strictSame(
    screen(),
    ["Service menu     2/5", ">Restore factory   ^", " Restore latest     ", " Verify images     v"],
    "scrolls back up",
  );
  t.strictSame(
    setup(4, 20, new WithWipe()).menu.labels.slice(-1),
    ["Wipe free space"],
    "Wipe free space when the action exists",
  );
});

t.test("2x16: no title, two items, markers where they fit", async (t) => {
  const { keys, screen } = setup(2, 16);
  t.strictSame(screen(), [">Back up now    ", " Restore factory"], "a 15-character label keeps its last letter");
  keys("down", "down", "down");
  t.strictSame(screen(), [" Restore latest ", ">Verify images v"]);
  keys("down");
  t.strictSame(screen(), [" Verify images ^", ">Image info     "]);
});

t.test("destructive items ask first; back cancels and starts nothing", async (t) => {
  for (const [downs, action, question] of [
    [0, "backupNow", "Back up now?"],
    [1, "restoreFactory", "Restore factory?"],
    [2, "restoreLatest", "Restore latest?"],
    [5, "wipeFreeSpace", "Wipe free space?"],
  ] as const) {
    const { menu, actions, keys, screen } = setup(4, 20, new WithWipe());
    for (let i = 0; i < downs; i++) keys("down");
    keys("ok");
    t.equal(menu.state, "confirm", `${action}: confirmation screen`);
    t.equal(screen()[0].trim(), question);
    t.equal(screen()[3].trim(), "OK=yes BACK=no");
    keys("up", "down");
    menu.tick();
    t.strictSame(actions.started, [], `${action}: nothing started while asking`);
    keys("back");
    t.equal(menu.state, "menu", `${action}: back returns to the menu`);
    t.strictSame(actions.started, [], `${action}: back started nothing`);
    keys("ok", "ok");
    t.equal(menu.state, "running", `${action}: ok, ok runs it`);
    t.strictSame(actions.started, [action]);
  }
  const { menu, actions, keys } = setup();
  keys("down", "down", "down", "ok");
  t.equal(menu.state, "running", "Verify images starts at once: it writes nothing");
  t.strictSame(actions.started, ["verifyImages"]);
});

t.test("confirmation text scrolls", async (t) => {
  const small = setup(2, 16);
  small.keys("down", "ok");
  t.strictSame(small.screen(), ["Restore factory?", "OK=yes BACK=no  "]);
  small.keys("down");
  t.strictSame(small.screen(), ["The system     v", "OK=yes BACK=no  "]);
  const { keys, screen } = setup(4, 20);
  keys("down", "ok");
  t.strictSame(screen(), [
    "Restore factory?    ",
    "The system partition",
    "goes back to the   v",
    "OK=yes BACK=no      ",
  ]);
  for (let i = 0; i < 5; i++) keys("down");
  t.strictSame(
    screen(),
    ["factory image.     ^", "Changes since then  ", "are lost.           ", "OK=yes BACK=no      "],
    "stops at the end",
  );
});

t.test("progress screen: percent, bar, MB/s and time left with a fake clock", async (t) => {
  const { menu, clock, keys, screen } = setup(4, 20);
  keys("down", "down", "down", "ok");
  t.strictSame(
    screen(),
    ["Verify           --%", "[..................]", "-- MB/s  -- left    ", "BACK=cancel         "],
    "before the first step nothing is known",
  );
  clock.ms += 300;
  menu.tick();
  t.strictSame(screen()[2], "-- MB/s  -- left    ", "no rate before half a second");
  clock.ms = 3000;
  menu.tick();
  menu.tick();
  t.strictSame(screen(), [
    "Verify           30%",
    "[#####.............]",
    "10.0 MB/s  0:07 left",
    "BACK=cancel         ",
  ]);
  clock.ms = 10000;
  menu.tick();
  t.strictSame(screen()[2], "1.4 MB/s  0:42 left ", "the rate covers the last five seconds (10 MB from 3 s to 10 s)");
  const big = setup(8, 40);
  big.keys("down", "down", "down", "ok");
  big.clock.ms = 1500;
  big.menu.tick();
  t.strictSame(
    big.screen(),
    [
      "Verify                               10%",
      "[####..................................]",
      "6.7 MB/s  0:14 left                     ",
      "copying                                 ",
      "                                        ",
      "                                        ",
      "                                        ",
      "BACK=cancel                             ",
    ],
    "8x40: phase shown, cancel hint at the bottom",
  );
  const slow = setup(4, 20);
  slow.actions.next.verifyImages = { steps: 100, bytesPerStep: 100 * MB };
  slow.keys("down", "down", "down", "ok");
  slow.clock.ms = 10000;
  slow.menu.tick();
  t.strictSame(slow.screen()[2], "10.0 MB/s 16:30 left", "one space when two do not fit");
  const slower = setup(4, 20);
  slower.actions.next.verifyImages = { steps: 1000, bytesPerStep: 100 * MB };
  slower.keys("down", "down", "down", "ok");
  slower.clock.ms = 10000;
  slower.menu.tick();
  t.strictSame(
    slower.screen(),
    ["Verify            0%", "2:46:30 left        ", "copying             ", "BACK=cancel         "],
    "hours: rate and time on two lines, taking turns with the bar",
  );
  slower.clock.ms = 12000;
  t.strictSame(slower.screen().slice(1, 3), ["[..................]", "10.0 MB/s           "]);
});

t.test("2x16 progress: the lines take turns", async (t) => {
  const { clock, menu, keys, screen } = setup(2, 16);
  keys("down", "down", "down", "ok");
  clock.ms = 1000;
  menu.tick();
  const seen = new Set<string>();
  for (let ms = 1000; ms < 12000; ms += 500) {
    clock.ms = ms;
    const s = screen();
    t.equal(s[0], "Verify       10%");
    seen.add(s[1].trim());
  }
  t.strictSame([...seen].sort(), ["0:09 left", "10.0 MB/s", "BACK=cancel", "[#.............]", "copying"]);
  keys("back");
  t.strictSame(screen(), ["Verify       10%", "Cancelling...   "], "a notice does not wait its turn");
});

t.test("cancel only when the task says it is safe", async (t) => {
  const { actions, menu, clock, keys, screen, text } = setup(4, 20);
  actions.next.restoreFactory = {
    steps: 10,
    cancellable: (n) => n < 3,
    phase: (n) => (n < 3 ? "checking" : "writing"),
  };
  keys("down", "ok", "ok");
  for (let i = 0; i < 3; i++) {
    clock.ms += 1000;
    menu.tick();
  }
  t.notMatch(text(), /BACK=cancel/, "no cancel hint once it cannot cancel");
  t.equal(screen()[3].trim(), "writing", "the phase takes the free row");
  keys("back");
  t.equal(screen()[3].trim(), "Cannot cancel now");
  t.notOk(actions.tasks[0].cancelled, "not cancelled");
  t.equal(menu.state, "running");
  clock.ms += 3001;
  t.notMatch(text(), /Cannot cancel/, "the notice goes after three seconds");
  while (menu.state === "running") {
    clock.ms += 1000;
    menu.tick();
  }
  t.equal(menu.state, "result", "runs to the end");
  t.strictSame(screen(), [
    "All done            ",
    "                    ",
    "                    ",
    "OK=menu             ",
  ]);
  const small = setup(2, 16);
  small.actions.next.backupNow = { cancellable: () => false };
  small.keys("ok", "ok", "back");
  t.strictSame(small.screen(), ["Backup       --%", "Can't cancel now"], "2x16 notice");

  const b = setup(4, 20);
  b.keys("ok", "ok");
  b.clock.ms = 1000;
  b.menu.tick();
  b.keys("back");
  t.ok(b.actions.tasks[0].cancelled, "a cancellable task is asked to cancel");
  t.equal(b.screen()[3].trim(), "Cancelling...");
  b.keys("back", "ok", "up");
  t.equal(b.menu.state, "running", "other keys do nothing while it stops");
  b.menu.tick();
  t.strictSame(b.screen(), [
    "Backup cancelled    ",
    "Cancelled. Nothing  ",
    "was changed.        ",
    "OK=menu             ",
  ]);
  t.equal(b.actions.tasks[0].stepCalls, 2, "stepped once per tick");
});

t.test("result and error screens", async (t) => {
  const { actions, menu, keys, screen } = setup(4, 20);
  actions.next.restoreLatest = { failAt: 2, error: "image slot 2 header checksum is 0x1234abcd; expected 0x99887766" };
  keys("down", "down", "ok", "ok");
  menu.tick();
  menu.tick();
  t.equal(menu.state, "result");
  t.strictSame(screen(), [
    "Restore failed      ",
    "image slot 2 header ",
    "checksum is        v",
    "OK=menu             ",
  ]);
  keys("down", "down", "down", "down");
  t.strictSame(
    screen(),
    ["checksum is        ^", "0x1234abcd; expected", "0x99887766          ", "OK=menu             "],
    "scrolls to the end, words whole",
  );
  keys("back");
  t.equal(menu.state, "menu");
  t.strictSame(screen()[3], ">Restore latest    v", "back to the item it came from");

  actions.next.backupNow = { failAt: 1, error: "Backup failed. The previous images are kept. disk full" };
  keys("up", "up", "ok", "ok");
  menu.tick();
  t.strictSame(
    screen().slice(0, 3),
    ["Backup failed. The  ", "previous images are ", "kept. disk full     "],
    "a message that names the failure is not repeated",
  );
  keys("ok");
  actions.next.backupNow = { steps: 2, result: ["Backup complete", "slot 2: 48.0 MB"] };
  keys("ok", "ok");
  menu.tick();
  menu.tick();
  t.strictSame(screen(), [
    "Backup complete     ",
    "slot 2: 48.0 MB     ",
    "                    ",
    "OK=menu             ",
  ]);
  actions.next.verifyImages = { steps: 1, result: [] };
  keys("ok", "down", "down", "down", "ok");
  menu.tick();
  t.strictSame(screen()[0], "Verify done         ", "a result with no lines");
});

t.test("a task that throws, on start or on a step", async (t) => {
  const actions = new FakeActions();
  actions.restoreFactory = () => {
    throw new Error("there is no factory image on this printer");
  };
  const { menu, keys, screen } = setup(4, 20, actions);
  keys("down", "ok", "ok");
  t.equal(menu.state, "result");
  t.strictSame(screen(), [
    "Restore failed      ",
    "there is no factory ",
    "image on this      v",
    "OK=menu             ",
  ]);
  keys("ok");
  actions.verifyImages = () => ({
    step: () => {
      throw new Error("device read error at LBA 2048");
    },
    cancel: () => undefined,
    cancellable: () => false,
  });
  keys("down", "down", "ok");
  menu.tick();
  t.strictSame(screen(), [
    "Verify failed       ",
    "device read error at",
    "LBA 2048            ",
    "OK=menu             ",
  ]);
});

t.test("info screen scrolls and returns", async (t) => {
  const { menu, keys, screen } = setup(2, 16);
  keys("down", "down", "down", "down", "ok");
  t.equal(menu.state, "info");
  t.strictSame(screen(), ["Slot 1: factory ", '"Factory image" '], "no marker where it would touch the text");
  for (let i = 0; i < 10; i++) keys("down");
  t.strictSame(screen(), ["fat32, 12288   ^", "clusters        "], "stops at the last line");
  keys("up");
  t.strictSame(screen(), ["48.0 MB        ^", "fat32, 12288   v"]);
  keys("ok");
  t.equal(menu.state, "menu");
  const thrower = new FakeActions();
  thrower.imageInfo = () => {
    throw new Error("no recovery partition");
  };
  const s = setup(4, 20, thrower);
  s.keys("down", "down", "down", "down", "ok");
  t.strictSame(s.screen(), [
    "Image info failed   ",
    "no recovery         ",
    "partition           ",
    "OK=menu             ",
  ]);
  s.keys("back");
  t.equal(s.menu.state, "menu");
});

t.test("every screen fits 2x16, 4x20 and 8x40, ASCII only, words kept whole", async (t) => {
  for (const [rows, columns] of [
    [2, 16],
    [4, 20],
    [8, 40],
    ...listProfiles().map((id) => {
      const p = loadProfile(id).panel;
      return [p.rows, p.columns];
    }),
  ]) {
    const s = setup(rows, columns, new WithWipe());
    s.actions.next.backupNow = {
      steps: 3,
      result: ["Größe: 48 MB ✓", "A very long result line that must wrap over several rows of the panel"],
    };
    s.actions.next.restoreFactory = {
      failAt: 2,
      error: "the image's commit record does not match its header (slot 1, sequence 7 vs 8)",
    };
    const session: Array<Key | "tick"> = [
      "ok",
      "up",
      "down",
      "ok",
      "tick",
      "back",
      "tick",
      "tick",
      "tick",
      "down",
      "up",
      "ok",
      "down",
      "ok",
      "down",
      "ok",
      "tick",
      "tick",
      "down",
      "down",
      "down",
      "back",
      "down",
      "down",
      "down",
      "ok",
      "down",
      "up",
      "back",
      "down",
      "ok",
      "back",
      "ok",
      "ok",
      "tick",
      "back",
      "tick",
      "ok",
    ];
    for (const k of session) {
      if (k === "tick") {
        s.clock.ms += 700;
        s.menu.tick();
      } else s.keys(k);
      t.doesNotThrow(() => s.screen(), `${rows}x${columns} after ${k} (${s.menu.state})`);
    }
  }
  t.strictSame(
    wrap("Restore failed: \\FIRMWARE\\SUBDIR\\MAIN.BIN unreadable", 16),
    ["Restore failed:", "\\FIRMWARE\\", "SUBDIR\\MAIN.BIN", "unreadable"],
    "long words break after a separator",
  );
  t.strictSame(
    wrap("abcdefghijklmnopqrstuvwxyz", 10),
    ["abcdefghij", "klmnopqrst", "uvwxyz"],
    "a word longer than a line is cut",
  );
  t.strictSame(wrap("one\ntwo three", 16), ["one", "two three"], "newlines start lines");
  t.strictSame(new TextView(["é ok"], 16, 1).render(), ["? ok            "], "non-ASCII becomes ?");
  t.throws(
    () => new ServiceMenu(new FakeActions(), { rows: 1, columns: 16 }, () => 0),
    /panel is 1x16; the service menu needs at least 2 rows of 16 columns/,
  );
  const idle = setup();
  idle.menu.tick();
  t.equal(idle.menu.state, "menu", "tick with no task does nothing");
});

t.test("a warning before a task is never left behind the scroll marker", async (t) => {
  const warning = "Factory image is replaced. OK?";
  class Warned extends FakeActions {
    backupWarning() {
      return warning;
    }
  }
  // 2x16: the question and the warning do not fit one row: OK first brings up the warning alone
  const small = setup(2, 16, new Warned());
  small.keys("ok");
  t.strictSame(small.screen(), ["Back up now?   v", "OK=yes BACK=no  "], "the question first");
  small.keys("ok");
  t.equal(small.menu.state, "confirm", "still asking");
  t.strictSame(small.screen(), ["Factory image is", "replaced. OK?   "], "the warning, whole, on both rows");
  t.strictSame(small.actions.started, [], "nothing started yet");
  small.keys("back");
  t.equal(small.menu.state, "menu", "back from the warning returns to the menu");
  t.strictSame(small.actions.started, [], "and starts nothing");
  small.keys("ok", "ok", "ok");
  t.equal(small.menu.state, "running", "ok on the warning starts it");
  t.strictSame(small.actions.started, ["backupNow"]);
  // 4x20 and 8x40: the warning fits under the question, above the key line
  const mid = setup(4, 20, new Warned());
  mid.keys("ok");
  t.strictSame(
    mid.screen(),
    ["Back up now?        ", "Factory image is    ", "replaced. OK?      v", "OK=yes BACK=no      "],
    "4x20: question and warning together",
  );
  mid.keys("ok");
  t.equal(mid.menu.state, "running", "one OK starts it");
  const big = setup(8, 40, new Warned());
  big.keys("ok");
  t.match(
    big.screen().slice(0, 2).join("|"),
    /^Back up now\? +\|Factory image is replaced\. OK\? +$/,
    "8x40: question and warning together",
  );
  // a warning longer than the rows above the key line gets its own screen with the keys under it
  class Long extends FakeActions {
    backupWarning() {
      return "The factory image is replaced by this backup and cannot be restored again afterwards.";
    }
  }
  const long = setup(4, 20, new Long());
  long.keys("ok", "ok");
  t.strictSame(
    long.screen(),
    ["The factory image is", "replaced by this    ", "backup and cannot be", "OK=yes BACK=no      "],
    "a long warning: its own screen, keys below",
  );
  long.keys("down", "down");
  t.strictSame(
    long.screen(),
    ["backup and cannot be", "restored again      ", "afterwards.         ", "OK=yes BACK=no      "],
    "and it scrolls to its end",
  );
  long.keys("ok");
  t.equal(long.menu.state, "running");
  // no warning: as before, two OKs; a warning that cannot be worked out is shown as a warning
  class None extends FakeActions {
    backupWarning() {
      return undefined;
    }
  }
  const none = setup(2, 16, new None());
  none.keys("ok", "ok");
  t.equal(none.menu.state, "running", "no warning: ok, ok runs it");
  class Broken extends FakeActions {
    backupWarning(): string {
      throw new Error("no images list");
    }
  }
  const broken = setup(2, 16, new Broken());
  broken.keys("ok", "ok");
  t.strictSame(
    broken.screen(),
    ["Backup: no      ", "images list     "],
    "the failure to check is shown before anything starts",
  );
  t.strictSame(broken.actions.started, []);
  t.equal(broken.menu.selected, "Back up now", "the selected item");
});

t.test("a fast job shows its rate after two steps, even within half a second", async (t) => {
  const { menu, clock, keys, screen } = setup(4, 20);
  keys("down", "down", "down", "ok");
  clock.ms = 200;
  menu.tick();
  t.strictSame(screen()[2], "-- MB/s  -- left    ", "one step in 0.2 s: no rate yet");
  clock.ms = 400;
  menu.tick();
  t.strictSame(screen()[2], "50.0 MB/s  0:02 left", "two steps: 20 MB in 0.4 s");
});
