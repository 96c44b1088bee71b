/**
 * A one-line progress bar on stderr for long work (layer apply, export, unpack): bytes, entries,
 * rate, and a bar when the total is known. Drawn only when stderr is a terminal and --json is not
 * given; otherwise every call is free. Hand-written (a carriage return and one line) rather than a
 * package: the progress-bar packages bring string-width and its dependencies into a systems
 * library's runtime and the command's start time, for one line of text.
 */
import { dockerSize } from './docker-format.js';
import { stdio } from './output.js';

export interface ProgressSample {
  bytes: number;
  entries?: number;
  /** The total bytes, when known (a file of known size): draws a bar. */
  total?: number;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

export function humanBytes(n: number): string {
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)} ${UNITS[i]}`;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream | undefined;
  private readonly started = performance.now();
  private last = 0;
  private drawn = false;
  private readonly label: string;

  constructor(label: string, options: { json?: boolean } = {}) {
    this.label = label;
    this.stream = process.stderr.isTTY && !options.json && process.env.TERM !== 'dumb' ? stdio('stderr') : undefined;
  }

  /** Redraws at most ten times a second. */
  update(sample: ProgressSample): void {
    if (!this.stream) return;
    const now = performance.now();
    if (now - this.last < 100) return;
    this.last = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? `${humanBytes(sample.bytes / seconds)}/s` : '';
    const parts = [this.label];
    if (sample.total) {
      const width = 24;
      const done = Math.min(width, Math.round((sample.bytes / sample.total) * width));
      parts.push(`[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${Math.min(100, Math.floor((sample.bytes / sample.total) * 100))}%`);
    }
    parts.push(humanBytes(sample.bytes));
    if (sample.entries !== undefined) parts.push(`${sample.entries} entries`);
    if (rate) parts.push(rate);
    const columns = this.stream.columns || 80;
    this.stream.write(`\r${parts.join('  ').slice(0, columns - 1)}\x1b[K`);
    this.drawn = true;
  }

  /** Clears the line, so what is printed next starts clean. */
  done(): void {
    if (this.stream && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

let current: AbortController | undefined;
function onSignal(): void {
  release();
  current?.abort();
}

function release(): void {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

/**
 * A signal that the first Ctrl-C (or SIGTERM) aborts while the work runs: it stops cleanly (what
 * was half-written is removed); a second one ends the process as the signal would. `release()`
 * when the work is done, so a later Ctrl-C (the next line of `ovl batch`, say) is the process's
 * again. One listener at a time however many commands a batch runs.
 */
export function interruptible(): { signal: AbortSignal; release(): void } {
  current = new AbortController();
  release();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { signal: current.signal, release };
}

/**
 * Docker's per-layer progress (docker load, docker pull): one line per layer, `ID: STATUS`, with
 * a bar and `1.2MB/5.1MB` while it loads. On a terminal (stdout, as docker) the lines are redrawn
 * in place, at most ten times a second; otherwise each layer gets one plain line when it is
 * settled ("Already exists", "Load complete"), and no progress. Nothing at all with --json.
 */
export class LayerBoard {
  private readonly tty: NodeJS.WriteStream | undefined;
  private readonly plain: ((line: string) => void) | undefined;
  private readonly lines: Array<{ id: string; text: string }> = [];
  private drawnLines = 0;
  private last = 0;
  private finished = false;

  /** `plain`: where the plain lines go without a terminal (out()). */
  constructor(options: { json?: boolean; plain?: (line: string) => void } = {}) {
    const tty = !options.json && process.stdout.isTTY && process.env.TERM !== 'dumb';
    this.tty = tty ? stdio('stdout') : undefined;
    this.plain = tty || options.json ? undefined : options.plain;
  }

  /**
   * The layer `id`'s line says `status` now. `settled`: its last word (printed without a
   * terminal too); `bytes`/`total` draw docker's bar on a terminal.
   */
  set(id: string, status: string, options: { settled?: boolean; bytes?: number; total?: number } = {}): void {
    if (this.finished) return;
    let line = this.lines.find((l) => l.id === id);
    const isNew = line === undefined;
    if (!line) this.lines.push((line = { id, text: '' }));
    if (this.tty) {
      line.text = `${id}: ${status}${options.bytes !== undefined ? bar(options.bytes, options.total, this.tty.columns || 80) : ''}`;
      const now = performance.now();
      if (!isNew && !options.settled && now - this.last < 100) return;
      this.last = now;
      this.draw();
    } else if (options.settled && line.text !== status) {
      line.text = status;
      this.plain?.(`${id}: ${status}`);
    }
  }

  private draw(): void {
    const s = this.tty!;
    const width = (s.columns || 80) - 1;
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const l of this.lines) text += `\r${[...l.text].slice(0, width).join('')}\x1b[K\n`;
    s.write(text);
    this.drawnLines = this.lines.length;
  }

  /** Draws the lines as they end (they stay on the terminal, as docker leaves them); once. */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.tty && this.lines.length > 0) this.draw();
  }
}

/** docker's progress: `[=====>      ]  1.2MB/5.1MB`, the bar only where the terminal is wide enough. */
function bar(bytes: number, total: number | undefined, columns: number): string {
  const size = (n: number) => dockerSize(n, 4);
  if (!total) return ` ${size(bytes).padStart(8)}`;
  const counts = `${size(bytes).padStart(8)}/${size(total)}`;
  if (columns < 110) return `  ${counts}`;
  const done = Math.min(50, Math.floor((bytes / total) * 50));
  return ` [${'='.repeat(done)}>${' '.repeat(50 - done)}] ${counts}`;
}
