// Text for a character LCD: ASCII only, lines padded or cut to the panel's width, word wrap,
// a scrollable text view, a progress bar and the figures a progress screen shows.
// No Node API, no DOM: runs inside QuickJS.

/** Printable ASCII only: tabs become spaces, anything else outside 0x20-0x7e becomes "?". */
export function ascii(text: string): string {
  return text.replace(/\t/g, " ").replace(/[^\x20-\x7e]/g, "?");
}

/** Exactly `width` characters: cut, or padded with spaces on the right. */
export function fit(text: string, width: number): string {
  const clean = ascii(text);
  return clean.length >= width ? clean.slice(0, width) : clean + " ".repeat(width - clean.length);
}

/** `left` and `right` on one line of `width`, right-aligned; `left` is cut to make room. */
export function leftRight(left: string, right: string, width: number): string {
  const room = width - right.length - 1;
  if (room <= 0) return fit(right, width);
  const head = ascii(left).slice(0, room);
  return fit(head + " ".repeat(width - head.length - right.length) + right, width);
}

const BREAK_AFTER = "\\/-_.,:;=";

/** Cut a word longer than `width`, after a separator in its second half when there is one. */
function splitLongWord(word: string, width: number): string[] {
  const parts: string[] = [];
  let rest = word;
  while (rest.length > width) {
    let cut = width;
    for (let i = width - 1; i >= Math.ceil(width / 2); i--) {
      if (BREAK_AFTER.includes(rest[i])) {
        cut = i + 1;
        break;
      }
    }
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}

/** Word-wrap `text` to lines of at most `width`; "\n" starts a new line; words are only cut when longer than a line. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split(/\r?\n/)) {
    let line = "";
    for (const word of ascii(paragraph)
      .split(" ")
      .filter((w) => w.length > 0)) {
      for (const piece of word.length > width ? splitLongWord(word, width) : [word]) {
        if (line.length === 0) line = piece;
        else if (line.length + 1 + piece.length <= width) line += " " + piece;
        else {
          lines.push(line);
          line = piece;
        }
      }
    }
    lines.push(line);
  }
  return lines;
}

/**
 * Lines of text in a window of `height` rows that scrolls with up/down. When the text is longer
 * than the window, the last column shows "^" (more above) on the first row and "v" (more below)
 * on the last, where the line leaves room for it (text is never cut to draw a marker).
 */
export class TextView {
  private readonly lines: string[];
  private top = 0;

  constructor(
    paragraphs: string[],
    private readonly width: number,
    private readonly height: number,
  ) {
    this.lines = paragraphs.flatMap((p) => wrap(p, width));
  }

  get scrollable(): boolean {
    return this.lines.length > this.height;
  }

  /** Move the window by `delta` lines; it stops at the first and last line. */
  scroll(delta: number): void {
    const maxTop = Math.max(0, this.lines.length - this.height);
    this.top = Math.min(maxTop, Math.max(0, this.top + delta));
  }

  render(): string[] {
    const rows: string[] = [];
    for (let r = 0; r < this.height; r++) {
      const text = this.lines[this.top + r] ?? "";
      let mark = "";
      if (r === 0 && this.top > 0) mark = "^";
      if (r === this.height - 1 && this.top + this.height < this.lines.length) mark = "v";
      rows.push(mark && text.length <= this.width - 2 ? fit(text, this.width - 1) + mark : fit(text, this.width));
    }
    return rows;
  }
}

/** "[#####.....]" filling `width` characters, `fraction` in 0..1 (undefined: empty). */
export function bar(fraction: number | undefined, width: number): string {
  const inner = Math.max(0, width - 2);
  const filled = fraction === undefined ? 0 : Math.round(Math.min(1, Math.max(0, fraction)) * inner);
  return "[" + "#".repeat(filled) + ".".repeat(inner - filled) + "]";
}

/** "42%", or "--%" when the total is unknown; 100% only when every byte is done. */
export function percent(done: number, total: number): string {
  if (!(total > 0)) return "--%";
  return `${Math.min(100, Math.max(0, Math.floor((done * 100) / total)))}%`;
}

/** "12.3 MB/s" (MB = 10^6 bytes), "-- MB/s" when unknown. */
export function rateText(bytesPerSecond: number | undefined): string {
  if (bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond)) return "-- MB/s";
  const mbps = bytesPerSecond / 1e6;
  return `${mbps >= 100 ? Math.round(mbps) : mbps.toFixed(1)} MB/s`;
}

/** "1:05" or "2:03:04" (h:mm:ss), "--" when unknown. */
export function durationText(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.ceil(seconds);
  const two = (n: number) => (n < 10 ? "0" : "") + n;
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = s % 60;
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}
