// traceChain's fast path for contiguous stretches (ChainRules.contiguous) against the plain
// one-lookup-per-cluster walk: on random FATs full of long contiguous runs, loops that close inside
// a run or onto its start, bad marks, free and out-of-range links, and limits that cut a run, both
// must report the same runs, counts, truncation and fault (Brent's bookkeeping moves as in the
// one-step walk, so a loop is found at the same step, and a limit cuts at the same cluster).
import fc from "fast-check";
import t from "tap";
import { ChainRules, traceChain } from "../firmware-module/src/ops/fat-dir";

const EOC = 0x0ffffff8,
  BAD = 0x0ffffff7;

/** A FAT of `n` entries built from stretches: each a run of consecutive clusters, then a jump. */
const fatArb = fc
  .record({
    n: fc.integer({ min: 8, max: 300 }),
    stretches: fc.array(
      fc.record({
        start: fc.nat(),
        length: fc.integer({ min: 1, max: 60 }),
        end: fc.oneof(
          fc.constant(EOC),
          fc.constant(BAD),
          fc.constant(0),
          fc.nat({ max: 400 }), // a jump anywhere: back into the chain (a loop), forward, or past the volume
        ),
      }),
      { minLength: 1, maxLength: 12 },
    ),
    first: fc.nat(),
    limit: fc.integer({ min: 1, max: 400 }),
  })
  .map(({ n, stretches, first, limit }) => {
    const fat = new Array<number>(n).fill(0);
    for (const s of stretches) {
      const start = 2 + (s.start % (n - 2));
      for (let c = start; c < Math.min(n - 1, start + s.length - 1); c++) fat[c] = c + 1;
      fat[Math.min(n - 1, start + s.length - 1)] = s.end;
    }
    return { fat, maxCluster: n - 1, first: 2 + (first % (n - 2)), limit };
  });

function run(fat: number[], maxCluster: number, first: number, limit: number, fast: boolean) {
  const rules: ChainRules = { next: (c) => fat[c], maxCluster, eocMin: EOC, badMark: BAD };
  if (fast)
    rules.contiguous = (c, max) => {
      let k = 0;
      while (k < max && c + k < maxCluster && fat[c + k] === c + k + 1) k++;
      return k;
    };
  const runs: Array<[number, number]> = [];
  const trace = traceChain(rules, first, limit, (s, l) => runs.push([s, l]));
  return { runs, trace };
}

t.test("the contiguous fast path traces exactly what the plain walk traces", (t) => {
  fc.assert(
    fc.property(fatArb, ({ fat, maxCluster, first, limit }) => {
      const plain = run(fat, maxCluster, first, limit, false),
        fast = run(fat, maxCluster, first, limit, true);
      return JSON.stringify(fast) === JSON.stringify(plain);
    }),
    { numRuns: 3000, seed: 14 },
  );
  t.pass("3000 random FATs");
  t.end();
});

t.test("a loop that closes inside a long stretch is found, not run through", (t) => {
  const fat = new Array<number>(200).fill(0);
  for (let c = 10; c < 150; c++) fat[c] = c + 1;
  fat[150] = 40; // 10 .. 150, then back to 40
  const r = run(fat, 199, 10, 198, true);
  t.equal(r.trace.fault?.kind, "loop");
  t.equal(r.trace.fault?.uniqueClusters, 141, "141 distinct clusters (10..150)");
  t.same(r, run(fat, 199, 10, 198, false), "the same runs and fault as the plain walk");
  t.end();
});
