/**
 * Output helpers for the ovl command: colour only on a TTY, as Node decides for that stream
 * (NO_COLOR, FORCE_COLOR, TERM=dumb and CI are honoured there).
 */
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

export function paint(stream: NodeJS.WriteStream, style: Style, text: string): string {
  return stream.isTTY && !process.env.NO_COLOR ? styleText(style, text, { stream }) : text;
}

export const out = (line = ''): void => {
  process.stdout.write(line + '\n');
};

export const err = (line = ''): void => {
  process.stderr.write(line + '\n');
};

export function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** A left-aligned table; the last column is not padded. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}
