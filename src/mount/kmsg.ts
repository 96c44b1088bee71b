/**
 * The kernel log lines a call caused. Most overlay errors never reach the fs-context log: they
 * are pr_err() lines ("overlayfs: workdir and upperdir must reside under the same mount") in
 * the kernel log only. Where this process may read /dev/kmsg, a cursor taken before the call
 * reads back exactly the records logged after it.
 */
import { constants } from 'node:fs';
import { closeFd, openRead, read, steps, type Task } from '../sys/io.js';

const SEEK_END = 2;
const OVERLAY_PREFIXES = ['overlayfs: ', 'overlay: '] as const;

/** A position in the kernel log: an fd of /dev/kmsg seeked to the end when it was taken. */
export interface KernelLogCursor {
  readonly fd: number;
  closed: boolean;
}

/** A cursor at the end of the kernel log, or null where /dev/kmsg cannot be read. */
export function* openKernelLog(): Task<KernelLogCursor | null> {
  let fd: number;
  try {
    // libuv opens every file O_CLOEXEC.
    fd = yield* openRead('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    yield* steps([{ op: 'lseek', fd, offset: 0, whence: SEEK_END }]);
  } catch {
    yield* closeKernelLog({ fd, closed: false });
    return null;
  }
  return { fd, closed: false };
}

/** Closes the cursor's fd, once (a second close could hit a reused fd number). */
export function* closeKernelLog(cursor: KernelLogCursor | null): Task<void> {
  if (cursor === null || cursor.closed) return;
  cursor.closed = true;
  try {
    yield* closeFd(cursor.fd);
  } catch {
    /* nothing to do about it */
  }
}

/**
 * The records logged since the cursor whose text starts with one of `prefixes`, text only, and
 * closes the cursor. By default overlay's two prefixes: `overlayfs: ` (pr_err/pr_warn) and
 * `overlay: ` (fs-context errors of a mount(2), which has no fs-context log to hold them, e.g.
 * "overlay: filesystem on /x is read-only").
 */
export function* readKernelLog(cursor: KernelLogCursor | null, prefixes: readonly string[] = OVERLAY_PREFIXES): Task<string[]> {
  if (cursor === null || cursor.closed) return [];
  const out: string[] = [];
  const buf = Buffer.alloc(8192);
  try {
    for (;;) {
      let n: number;
      try {
        n = yield* read(cursor.fd, buf);
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
    yield* closeKernelLog(cursor);
  }
  return out;
}
