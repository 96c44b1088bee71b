/**
 * The kernel log lines a call caused. Most overlay errors never reach the fs-context log: they
 * are pr_err() lines ("overlayfs: workdir and upperdir must reside under the same mount") in
 * the kernel log only. Where this process may read /dev/kmsg, a cursor taken before the call
 * reads back exactly the records logged after it.
 */
import { isHandle } from '../sys/args.js';
import { O } from '../sys/constants.js';
import { read, steps, type Task } from '../sys/io.js';
import type { FdHandle } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';

const SEEK_END = 2;
const OVERLAY_PREFIXES = ['overlayfs: ', 'overlay: '] as const;

/** A position in the kernel log: an fd of /dev/kmsg seeked to the end when it was taken. */
export interface KernelLogCursor {
  readonly handle: FdHandle;
}

/**
 * The two steps that take a cursor, to run in a batch with others (at `at`, their index there):
 * open /dev/kmsg, seek to its end. Neither ends the batch when the log cannot be read.
 */
export function kernelLogSteps(at: number): Step[] {
  return [
    { op: 'open', path: '/dev/kmsg', flags: O.RDONLY | O.NONBLOCK, keep: true, recordError: true },
    { op: 'lseek', fd: at, offset: 0, whence: SEEK_END, recordError: true },
  ];
}

/** The cursor those steps took, from the batch's results; null where /dev/kmsg cannot be read. */
export function kernelLogCursor(results: readonly unknown[], at: number): KernelLogCursor | null {
  const handle = results[at];
  if (!isHandle(handle)) return null;
  if (results[at + 1] instanceof Error) {
    handle.close();
    return null;
  }
  return { handle };
}

/** A cursor at the end of the kernel log, or null where /dev/kmsg cannot be read. */
export function* openKernelLog(): Task<KernelLogCursor | null> {
  return kernelLogCursor((yield* steps(kernelLogSteps(0))).results, 0);
}

/** Closes the cursor's fd (once: the handle's close is idempotent). */
export function closeKernelLog(cursor: KernelLogCursor | null): void {
  cursor?.handle.close();
}

/**
 * The records logged since the cursor whose text starts with one of `prefixes`, text only, and
 * closes the cursor. By default overlay's two prefixes: `overlayfs: ` (pr_err/pr_warn) and
 * `overlay: ` (fs-context errors of a mount(2), which has no fs-context log to hold them, e.g.
 * "overlay: filesystem on /x is read-only").
 */
export function* readKernelLog(cursor: KernelLogCursor | null, prefixes: readonly string[] = OVERLAY_PREFIXES): Task<string[]> {
  if (cursor === null || cursor.handle.closed) return [];
  const out: string[] = [];
  const buf = Buffer.alloc(8192);
  try {
    for (;;) {
      let n: number;
      try {
        n = yield* read(cursor.handle.fd, buf);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten while we read: skip ahead
        break; // EAGAIN: no more records
      }
      if (n <= 0) break;
      // "prio,seq,usec,flags;text\n" followed by continuation lines " KEY=value".
      const record = buf.toString('utf8', 0, n);
      const semi = record.indexOf(';');
      const text = record.slice(semi + 1).split('\n')[0] ?? '';
      if (prefixes.some((p) => text.startsWith(p))) out.push(text);
    }
  } finally {
    closeKernelLog(cursor);
  }
  return out;
}
