// Two rules of the core's source that no compiler checks (issue 13 items 2 and 4):
// - no import circle among as-core/assembly's modules (the file systems sit behind fs/filesystem.ts
//   and fs/probe.ts picks among them; none imports another, nor the dispatch);
// - no allocation per job: the core runs on the stub runtime, which never frees, so `new` may
//   appear only where it runs once: a module-level `const x = new ...` or a field initializer of
//   a class (whose one instance is itself module-level). test/core-memory.test.ts measures it.

import * as fs from "node:fs";
import * as path from "node:path";
import t from "tap";

const root = path.join(__dirname, "..", "as-core", "assembly");

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
    );
}

const files = sources(root);
const code = (file: string) =>
  fs
    .readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.replace(/\/\/.*$/, ""));

t.test("no import circle among the core's modules", async (t) => {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps: string[] = [];
    for (const m of fs.readFileSync(f, "utf8").matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"(\.{1,2}\/[^"]+)"/gm)) {
      const target = path.resolve(path.dirname(f), m[1]) + ".ts";
      if (fs.existsSync(target)) deps.push(target);
    }
    graph.set(f, deps);
  }
  t.ok(graph.size > 20, `${graph.size} modules`);
  const state = new Map<string, 1 | 2>(); // 1: on the path, 2: done
  const cycles: string[] = [];
  const visit = (f: string, trail: string[]): void => {
    state.set(f, 1);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 1)
        cycles.push([...trail.slice(trail.indexOf(d)), d].map((x) => path.relative(root, x)).join(" > "));
      else if (!state.has(d)) visit(d, [...trail, d]);
    }
    state.set(f, 2);
  };
  for (const f of files) if (!state.has(f)) visit(f, [f]);
  t.same(cycles, [], "no cycle");
});

t.test("`new` only where it runs once: a module-level const or a class field's initializer", async (t) => {
  const bad: string[] = [];
  let count = 0;
  for (const f of files) {
    code(f).forEach((line, i) => {
      if (!/\bnew\s+[A-Z]\w*\s*[(<]/.test(line)) return;
      count++;
      const moduleConst = /^(export\s+)?const\s+\w+(\s*:\s*\w+)?\s*=\s*new\s/.test(line);
      const fieldInit = /^ {2}\w+\s*:\s*\w+\s*=\s*new\s/.test(line);
      if (!moduleConst && !fieldInit) bad.push(`${path.relative(root, f)}:${i + 1}: ${line.trim()}`);
    });
  }
  t.ok(count > 10, `${count} uses of new`);
  t.same(bad, [], "none inside a function");
});
