// Deterministic "firmware-like" file trees for the simulated printer disk: firmware images,
// fonts, forms, configuration, the embedded web UI and logs, with mixed content (random,
// text, mostly-zero). The same seed and size always give the same names, sizes and bytes.

export interface ContentFile {
  /** Backslash path from the root, e.g. "\\FIRMWARE\\MAIN.BIN". */
  path: string;
  size: number;
  /** The printer does not boot without it (firmware images, settings.xml). */
  critical: boolean;
  /** The file's bytes, made on demand (the same bytes on every call). */
  data(): Uint8Array;
}

/** splitmix32: a small seeded PRNG of uint32 values (no dependency, same sequence everywhere). */
export function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** FNV-1a of a string: mixes a path into a seed. */
function hashString(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

type Kind = "firmware" | "font" | "form" | "xml" | "text" | "web" | "log";

function fillRandom(out: Uint8Array, from: number, to: number, next: () => number): void {
  for (let i = from; i < to; i += 4) {
    const v = next();
    for (let k = 0; k < 4 && i + k < to; k++) out[i + k] = (v >>> (8 * k)) & 0xff;
  }
}

/** Firmware image: a header, random code, and a zero-padded tail (as a flash image has). */
function firmwareBytes(size: number, next: () => number, name: string): Uint8Array {
  const out = new Uint8Array(size);
  const header = new TextEncoder().encode(`FWIMG1\0${name}\0v4.2.${next() % 100}\0`);
  out.set(header.subarray(0, Math.min(size, header.length)));
  const codeEnd = Math.floor(size * 0.85);
  fillRandom(out, Math.min(header.length, size), codeEnd, next);
  return out;
}

/** Mostly zero with scattered random blocks (forms, font tables with empty glyph ranges). */
function sparseBytes(size: number, next: () => number, density: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 4096) {
    if (next() % 100 < density) fillRandom(out, at, Math.min(size, at + 1024 + (next() % 3072)), next);
  }
  return out;
}

const WORDS = [
  "tray",
  "duplex",
  "toner",
  "cyan",
  "magenta",
  "yellow",
  "black",
  "fuser",
  "drum",
  "page",
  "job",
  "queue",
  "sleep",
  "network",
  "dhcp",
  "ready",
  "warming",
  "paper",
  "jam",
  "cover",
  "open",
  "letter",
  "a4",
];

function textBytes(size: number, next: () => number, kind: Kind): Uint8Array {
  const lines: string[] = [];
  let length = 0;
  const word = () => WORDS[next() % WORDS.length];
  for (let n = 0; length < size; n++) {
    let line: string;
    if (kind === "xml") line = `  <setting id="${word()}.${n}" value="${next() % 1000}"/>`;
    else if (kind === "log")
      line = `2026-01-01T00:${String(n % 60).padStart(2, "0")}:00Z ${word()} ${word()} status=${next() % 8}`;
    else if (kind === "web")
      line = `function ${word()}${n}(){return document.getElementById("${word()}").value;} /* ${word()} */`;
    else line = `${word()}_${n} = ${word()} ${next() % 10000}`;
    lines.push(line);
    length += line.length + 1;
  }
  const text = new TextEncoder().encode(lines.join("\n") + "\n");
  return text.subarray(0, size);
}

function makeData(kind: Kind, size: number, seed: number, name: string): Uint8Array {
  const next = splitmix32(seed);
  switch (kind) {
    case "firmware":
      return firmwareBytes(size, next, name);
    case "font":
      return sparseBytes(size, next, 70);
    case "form":
      return sparseBytes(size, next, 15);
    default:
      return textBytes(size, next, kind);
  }
}

interface Spec {
  path: string;
  kind: Kind;
  share: number;
  min: number;
  critical?: boolean;
}

const FONT_NAMES = [
  "Helvetica Bold Oblique.ttf",
  "Helvetica Narrow.ttf",
  "Times New Roman Italic.ttf",
  "Courier Prime Code.ttf",
  "Letter Gothic 12 Pitch.ttf",
  "Albertus Extra Bold.ttf",
];

/** The tree's files, each with a share of the byte budget and a minimum size. */
function specs(): Spec[] {
  const s: Spec[] = [
    { path: "\\FIRMWARE\\MAIN.BIN", kind: "firmware", share: 0.34, min: 8192, critical: true },
    { path: "\\FIRMWARE\\BOOT.BIN", kind: "firmware", share: 0.03, min: 2048, critical: true },
    { path: "\\FIRMWARE\\ENGINE.BIN", kind: "firmware", share: 0.12, min: 4096, critical: true },
    { path: "\\FIRMWARE\\Engine Calibration Table.dat", kind: "form", share: 0.02, min: 1024 },
  ];
  for (const name of FONT_NAMES) s.push({ path: `\\FONTS\\${name}`, kind: "font", share: 0.045, min: 2048 });
  for (const name of ["INVOICE.FRM", "Shipping Label 4x6.frm", "letterhead.frm", "BLANK.FRM"]) {
    s.push({ path: `\\FORMS\\${name}`, kind: "form", share: 0.025, min: 1024 });
  }
  s.push({ path: "\\CONFIG\\settings.xml", kind: "xml", share: 0.003, min: 600, critical: true });
  s.push({ path: "\\CONFIG\\network.xml", kind: "xml", share: 0.002, min: 400 });
  s.push({ path: "\\CONFIG\\TRAYS.CFG", kind: "text", share: 0.001, min: 200 });
  s.push({ path: "\\CONFIG\\Color Profiles\\sRGB default.icc", kind: "form", share: 0.01, min: 1024 });
  for (const name of ["index.html", "status.html", "style.css", "app.js", "jquery-ui.min.js"]) {
    s.push({ path: `\\WEB\\${name}`, kind: "web", share: 0.012, min: 512 });
  }
  s.push({ path: "\\WEB\\images\\logo.png", kind: "form", share: 0.006, min: 512 });
  for (const name of ["EVENTS.LOG", "jobs 2025-12.log", "ERRORS.LOG"])
    s.push({ path: `\\LOG\\${name}`, kind: "log", share: 0.02, min: 256 });
  return s;
}

/**
 * A deterministic firmware-like tree whose sizes sum to `totalBytes` (or to the sum of the
 * minimum sizes, about 50 KiB, when totalBytes is smaller). Paths use "\\" separators.
 */
export function firmwareTree(seed: number, totalBytes: number): ContentFile[] {
  const list = specs();
  const shareSum = list.reduce((a, s) => a + s.share, 0);
  const sizes = list.map((s) => Math.max(s.min, Math.floor((totalBytes * s.share) / shareSum)));
  const total = sizes.reduce((a, b) => a + b, 0);
  // the main firmware image absorbs the rounding so the sizes add up to totalBytes
  if (total < totalBytes) sizes[0] += totalBytes - total;
  else if (total > totalBytes) sizes[0] = Math.max(list[0].min, sizes[0] - (total - totalBytes));
  return list.map((s, i) => {
    const fileSeed = hashString(s.path, seed);
    const name = s.path.slice(s.path.lastIndexOf("\\") + 1);
    return {
      path: s.path,
      size: sizes[i],
      critical: s.critical ?? false,
      data: () => makeData(s.kind, sizes[i], fileSeed, name),
    };
  });
}

/** The directories a tree's files live in, parents before children ("\\FIRMWARE", ...). */
export function treeDirectories(files: { path: string }[]): string[] {
  const out = new Set<string>();
  for (const f of files) {
    const parts = f.path.split(/[\\/]/).filter((p) => p.length > 0);
    for (let i = 1; i < parts.length; i++) out.add("\\" + parts.slice(0, i).join("\\"));
  }
  return [...out].sort((a, b) => a.split("\\").length - b.split("\\").length || (a < b ? -1 : a > b ? 1 : 0));
}
