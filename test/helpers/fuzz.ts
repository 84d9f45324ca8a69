// Shared settings and checks of the fuzz properties (test/fuzz.test.ts), built on fast-check:
// how many cases each property runs, the seed that makes a failure reproduce, the rule that
// every rejection is a named error, a device that turns a runaway reader into a failure
// instead of a hang, and in-place mutations that are undone after each case.
//
//   FUZZ_RUNS=<n>   base number of cases; each property runs n x its weight (default below)
//   FUZZ_SEED=<n>   seed of the first property (the others use seed + their index)
//   FUZZ_ONLY=<s>   run only the properties whose name contains s
//
// A failure prints the property, its seed and fast-check's path: rerun with the same FUZZ_SEED
// and FUZZ_RUNS (and FUZZ_ONLY) to get the same counterexample.
import fc from "fast-check";
import { Core } from "../../host-shim/src/native/core";
import { BlockDevice, DeviceWrapper } from "../../host-shim/src/native/devices";

/** Base cases per property weight 1; the weights in fuzz.test.ts add up to about 5.5, so a normal run makes 110,000. */
export const DEFAULT_FUZZ_RUNS = 20000;
export const DEFAULT_FUZZ_SEED = 0x5eed_c1b;

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, not ${JSON.stringify(raw)}`);
  return n;
}

export const fuzzRuns = envInt("FUZZ_RUNS", DEFAULT_FUZZ_RUNS);
export const fuzzSeed = envInt("FUZZ_SEED", DEFAULT_FUZZ_SEED);
export const fuzzOnly = process.env.FUZZ_ONLY ?? "";

/** Cases a property of this weight runs (at least 1). */
export function runsFor(weight: number): number {
  return Math.max(1, Math.round(fuzzRuns * weight));
}

/** A property found something: not a product error, but the test's verdict on one. */
export class FuzzViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FuzzViolation";
  }
}

/** Errors the product may reject an input with: each an Error subclass that sets its own name. */
export const NAMED_ERRORS = [
  "CoreError",
  "ImageError",
  "VolumeError",
  "DeviceError",
  "WriteGuardError",
  "BadSectorError",
  "SourceReadError",
  "UsageError",
  "FatReadError",
  "StoreError",
  "CancelledError",
  "JobError",
  "PartitionEntryError",
] as const;
export type ErrorName = (typeof NAMED_ERRORS)[number];

/**
 * Checks that `e`, something the product threw, is a named rejection: an Error subclass whose
 * name is one of `allowed`, with a message, and for a core error a known code name (E_...).
 * A TypeError or RangeError from our own code, a wasm trap (RuntimeError), a core abort (a
 * bare ClusterbackError "wasm core aborted") or a budget overrun (a hang) all fail here.
 * Returns the error, typed, for further checks.
 */
export function namedError(e: unknown, allowed: readonly ErrorName[] = NAMED_ERRORS): Error & { codeName?: string } {
  if (!(e instanceof Error)) throw new FuzzViolation(`threw a non-Error: ${String(e)}`);
  if (e instanceof FuzzViolation) throw e;
  const what = `${e.name}: ${e.message}`;
  if (e instanceof BudgetExceeded) throw new FuzzViolation(`runaway (a hang, bounded): ${e.message}`);
  if (!(allowed as readonly string[]).includes(e.name)) {
    throw new FuzzViolation(`unnamed or unexpected error (allowed: ${allowed.join(", ")}): ${what}\n${e.stack ?? ""}`);
  }
  if (e.message.trim() === "") throw new FuzzViolation(`${e.name} without a message`);
  const codeName = (e as { codeName?: unknown }).codeName;
  if (e.name === "CoreError" || e.name === "ImageError" || e.name === "VolumeError") {
    if (typeof codeName !== "string" || !/^E_[A-Z][A-Z0-9_]*$/.test(codeName))
      throw new FuzzViolation(`core error without a known code name (${String(codeName)}): ${what}`);
  }
  return e as Error & { codeName?: string };
}

/** Runs `fn`; returns undefined when it completes, else its error after `namedError` accepted it. */
export function rejection(fn: () => void, allowed?: readonly ErrorName[]): (Error & { codeName?: string }) | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return namedError(e, allowed);
  }
}

/** Thrown by BudgetDevice when a reader reads far more than the volume holds: a loop that would hang. */
export class BudgetExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BudgetExceeded";
  }
}

/**
 * A device that passes reads through until `maxSectors` have been read in total, then throws
 * BudgetExceeded (which no product code catches: only DeviceError is caught). Writes always
 * throw BudgetExceeded: the readers under test must never write.
 */
export class BudgetDevice extends DeviceWrapper {
  sectorsRead = 0;
  constructor(
    inner: BlockDevice,
    readonly maxSectors: number,
  ) {
    super(inner);
  }
  read(lba: number, sectorCount: number, dst: Uint8Array, dstOffset: number): void {
    this.sectorsRead += sectorCount;
    if (this.sectorsRead > this.maxSectors)
      throw new BudgetExceeded(`${this.sectorsRead} sectors read, budget ${this.maxSectors}`);
    this.inner.read(lba, sectorCount, dst, dstOffset);
  }
  write(lba: number): void {
    throw new BudgetExceeded(`a reader wrote LBA ${lba}`);
  }
}

/** Fails a case that took longer than `ms`: a near-hang that still ended. */
export function timed<T>(what: string, ms: number, fn: () => T): T {
  const t0 = performance.now();
  const out = fn();
  const took = performance.now() - t0;
  if (took > ms) throw new FuzzViolation(`${what} took ${took.toFixed(0)} ms (limit ${ms} ms): a near-hang`);
  return out;
}

// ---- byte mutations, applied in place and undone ----

/** One change: write `bytes` at `offset` (clipped to the buffer). */
export interface Poke {
  offset: number;
  bytes: Uint8Array;
}

/** Applies pokes to `buf` in place; undo() puts the original bytes back (in reverse order). */
export class Patch {
  private readonly saved: Array<{ offset: number; bytes: Uint8Array }> = [];
  constructor(readonly buf: Uint8Array) {}
  poke(offset: number, bytes: Uint8Array | number[]): void {
    const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    if (offset < 0 || offset >= this.buf.length) return;
    const n = Math.min(b.length, this.buf.length - offset);
    this.saved.push({ offset, bytes: this.buf.slice(offset, offset + n) });
    this.buf.set(b.subarray(0, n), offset);
  }
  u16(offset: number, v: number): void {
    this.poke(offset, le(v, 2));
  }
  u32(offset: number, v: number): void {
    this.poke(offset, le(v, 4));
  }
  undo(): void {
    for (let i = this.saved.length - 1; i >= 0; i--) this.buf.set(this.saved[i].bytes, this.saved[i].offset);
    this.saved.length = 0;
  }
}

export function le(v: number, width: number): Uint8Array {
  const b = new Uint8Array(width);
  for (let i = 0; i < width; i++) b[i] = Math.floor(v / 2 ** (8 * i)) & 0xff;
  return b;
}
export function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}

/** The CBH-64 check of a record of at most 512 bytes, with the 8-byte check field at `at` taken as zero. */
export function recordCheck(core: Core, record: Uint8Array, at: number, seed: number): bigint {
  const copy = Uint8Array.from(record);
  copy.fill(0, at, at + 8);
  return BigInt("0x" + core.checkOf(copy, seed));
}

// ---- arbitraries ----

/** u32 values that tend to find edges: 0, 1, powers of two and their neighbours, all ones, and anything. */
export const edgeU32: fc.Arbitrary<number> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      0,
      1,
      2,
      3,
      0x7f,
      0x80,
      0xff,
      0x100,
      0x1ff,
      0x200,
      0xfff,
      0x1000,
      0x7fff,
      0x8000,
      0xffff,
      0x10000,
      0x7fffffff,
      0x80000000,
      0xfffffffe,
      0xffffffff,
    ),
  },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 31 }).map((k) => 2 ** k) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 4096 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);

/**
 * A position in [0, 1), spread evenly: fast-check's own doubles and integers lean towards their
 * edges, which would put most byte changes on the first byte of whatever they change.
 */
export const fraction: fc.Arbitrary<number> = fc
  .noBias(fc.integer({ min: 0, max: 2 ** 30 - 1 }))
  .map((i) => i / 2 ** 30);

/** Random byte changes: each a position (as a fraction of the range) and 1..8 bytes. */
export function bytePokes(maxCount = 6): fc.Arbitrary<Array<{ at: number; bytes: Uint8Array }>> {
  return fc.array(fc.record({ at: fraction, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }), {
    minLength: 1,
    maxLength: maxCount,
  });
}

// ---- running properties and counting cases ----

/** How the cases of each property ended (accepted, or which named error), to show how deep they reach. */
export const outcomes = new Map<string, Map<string, number>>();
export function note(property: string, outcome: string): void {
  const m = outcomes.get(property) ?? new Map<string, number>();
  outcomes.set(property, m.set(outcome, (m.get(outcome) ?? 0) + 1));
}
/** An error's short label: its core code name, else its class name. */
export function label(e: (Error & { codeName?: string }) | undefined, ok = "accepted"): string {
  if (!e) return ok;
  return e.codeName === undefined ? e.name : e.codeName.startsWith("E_") ? e.codeName : `${e.name} ${e.codeName}`;
}
export function outcomeSummary(property: string): string {
  const m = outcomes.get(property);
  if (!m) return "";
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}

export interface FuzzTally {
  cases: number;
  ms: number;
  perProperty: Array<{ name: string; cases: number; ms: number }>;
}
export const tally: FuzzTally = { cases: 0, ms: 0, perProperty: [] };

/** What a property's run found, for the test to assert. */
export interface PropertyOutcome {
  failed: boolean;
  message: string;
  cases: number;
  ms: number;
}

/**
 * Runs one property with `runsFor(weight)` cases, seeded from FUZZ_SEED plus `index`, and adds
 * it to the tally. A failure's message carries fast-check's counterexample, the seed, the path,
 * and the command that reruns it.
 */
export function runProperty<Ts extends [unknown, ...unknown[]]>(
  index: number,
  name: string,
  weight: number,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => void,
): PropertyOutcome {
  const numRuns = runsFor(weight);
  const seed = fuzzSeed + index;
  const t0 = performance.now();
  const property = fc.property(
    ...(arbitraries as unknown as [fc.Arbitrary<unknown>]),
    predicate as (...a: unknown[]) => void,
  );
  const details = fc.check(property, { numRuns, seed });
  const ms = performance.now() - t0;
  tally.cases += details.numRuns;
  tally.ms += ms;
  tally.perProperty.push({ name, cases: details.numRuns, ms });
  const timing = `${details.numRuns} cases in ${(ms / 1000).toFixed(1)} s, seed ${seed}`;
  if (!details.failed) return { failed: false, message: `${name}: ${timing}`, cases: details.numRuns, ms };
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const rerun = `FUZZ_SEED=${fuzzSeed} FUZZ_RUNS=${fuzzRuns} FUZZ_ONLY="${name}" npx tap test/fuzz.test.ts`;
  return {
    failed: true,
    cases: details.numRuns,
    ms,
    message: `${name}: ${timing} (${details.numShrinks} shrinks)\n${error}\ncounterexample: ${fc.stringify(details.counterexample)}\nreproduce: ${rerun} (property seed ${seed}, path ${details.counterexamplePath})`,
  };
}
