/**
 * Output helpers for the ovl command: colour only on a TTY, as Node decides for that stream
 * (NO_COLOR, FORCE_COLOR, TERM=dumb and CI are honoured there). What a command prints goes
 * through out() and err(), to the process's stdout and stderr, or to the sink `ovl batch` sets
 * around each command it runs.
 */
import { writeSync } from 'node:fs';
import { styleText } from 'node:util';

type Style = Parameters<typeof styleText>[0];

/** Where out() and err() write: each gets one line at a time, with its newline. */
export interface Sink {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Outputs whose reader went away (EPIPE: `ovl diff | head -1`): later writes to them are dropped
 * and the command goes on to its own end and exit code, without a stack trace. (Exiting at the
 * failed write instead would end a mount half-way, or with 0 where it failed, as before.)
 */
const gone = new Set<'stdout' | 'stderr'>();
const handled = new WeakSet<NodeJS.WriteStream>();

/**
 * process.stdout or process.stderr, with the handler that keeps EPIPE quiet. Asked for when a
 * command first needs the stream, not at start: making process.stdout loads Node's streams
 * (~3 ms), which a command that prints nothing (a mount that worked) never needs.
 */
export function stdio(name: 'stdout' | 'stderr'): NodeJS.WriteStream {
  const stream = process[name];
  if (!handled.has(stream)) {
    handled.add(stream);
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      gone.add(name);
    });
  }
  return stream;
}

/**
 * Writes to fd 1 or 2 with write(2) itself while that works, as Node's own stdout does on Linux
 * for files, pipes and terminals (synchronously), without making the stream: process.stdout loads
 * Node's streams (~3 ms of every `ovl ls`). A descriptor that would block (EAGAIN: someone made
 * it non-blocking) hands the rest, and every later write, to the stream, which waits for it.
 */
function direct(fd: 1 | 2, name: 'stdout' | 'stderr'): (text: string) => void {
  let stream: NodeJS.WriteStream | undefined;
  return (text) => {
    if (gone.has(name)) return;
    if (stream === undefined) {
      const bytes = Buffer.from(text);
      let done = 0;
      try {
        while (done < bytes.length) done += writeSync(fd, bytes, done);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') {
          gone.add(name);
          return;
        }
        if (code !== 'EAGAIN') throw e;
      }
      stream = stdio(name);
      stream.write(bytes.subarray(done));
      return;
    }
    stream.write(text);
  };
}

const PROCESS: Sink = { out: direct(1, 'stdout'), err: direct(2, 'stderr') };

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
