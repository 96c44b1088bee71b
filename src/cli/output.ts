/**
 * Output helpers for the ovl command: colour only on a TTY, as Node decides for that stream
 * (NO_COLOR, FORCE_COLOR, TERM=dumb and CI are honoured there). What a command prints goes
 * through out() and err(), to the process's stdout and stderr, or to the sink `ovl batch` sets
 * around each command it runs.
 */
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/** Where out() and err() write: each gets one line at a time, with its newline. */
export interface Sink {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS: Sink = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

let sink: Sink = PROCESS;

/** Runs `fn` with its output going to `to` (not nested: `ovl batch` runs one command at a time). */
export async function withSink<T>(to: Sink, fn: () => Promise<T>): Promise<T> {
  const before = sink;
  sink = to;
  try {
    return await fn();
  } finally {
    sink = before;
  }
}

export function paint(stream: NodeJS.WriteStream, style: Style, text: string): string {
  return sink === PROCESS && stream.isTTY && !process.env.NO_COLOR ? styleText(style, text, { stream }) : text;
}

export const out = (line = ''): void => {
  sink.out(line + '\n');
};

export const err = (line = ''): void => {
  sink.err(line + '\n');
};

export function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** A left-aligned table; the last column is not padded. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}
