/**
 * The kernel log lines a call caused. Most overlay errors never reach the fs-context log: they
 * are pr_err() lines ("overlayfs: workdir and upperdir must reside under the same mount") in
 * the kernel log only. Where this process may read /dev/kmsg, a cursor taken before the call
 * reads back exactly the records logged after it.
 *
 * Opening /dev/kmsg costs more than a whole mount's other syscalls (~65 µs: the kernel finds
 * the oldest valid record of its ring for every new reader), so the process opens it once, at
 * its first mount, and keeps that fd (O_CLOEXEC) at the log's end: a cursor is then one read(2)
 * that says EAGAIN. Records read while some cursor is open are kept here, numbered in the order
 * they were read, so that concurrent mounts of this process each get every record logged since
 * their own cursor, whoever read it. That order must be the fd's: the shared fd is read only on
 * the main thread, synchronously (O_NONBLOCK: a read never waits, and a drain is bounded), since
 * reads in thread-pool batches would reach JavaScript in another order than they consumed the
 * log, and a record could be numbered before a cursor it came after.
 */
import { isHandle } from '../sys/args.js';
import { O } from '../sys/constants.js';
import { readRecordsSync } from '../sys/fd.js';
import { steps, type Task } from '../sys/io.js';
import type { FdHandle } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';

const SEEK_END = 2;
const OVERLAY_PREFIXES = ['overlayfs: ', 'overlay: '] as const;
/** The most records one readRecords returns (native/fd.cc): a full answer means there may be more. */
const RECORDS_PER_READ = 4096;

/**
 * A position in the kernel log: the number of records this process had read from its shared
 * reader when it was taken, or an fd of its own seeked to the end (when the shared one was
 * being opened by another call at the same time).
 */
export type KernelLogCursor = { readonly at: number } | { readonly handle: FdHandle };

/** The shared reader: undefined until the first cursor, null where /dev/kmsg cannot be read. */
let reader: FdHandle | null | undefined;
/** Records read from the shared reader so far (across readers: a reopened one goes on counting). */
let readCount = 0;
/** The records read since the oldest open cursor, with their number (readCount before each). */
let kept: Array<{ n: number; text: string }> = [];
/** Open cursors on the shared reader. */
const open = new Set<{ readonly at: number }>();

/**
 * The steps that open the shared reader, to run in a batch with others (at `at`, their index
 * there): open /dev/kmsg and seek to its end, the first time only; none once it is open (a
 * cursor is then taken on the main thread: see kernelLogCursor) or where it cannot be read.
 * Neither ends the batch when the log cannot be read.
 */
export function kernelLogSteps(at: number): Step[] {
  if (reader === null || (reader !== undefined && !reader.closed)) return [];
  return [
    { op: 'open', path: '/dev/kmsg', flags: O.RDONLY | O.NONBLOCK, keep: true, recordError: true },
    { op: 'lseek', fd: at, offset: 0, whence: SEEK_END, recordError: true },
  ];
}

/** Takes in records read from the shared reader: kept while a cursor may want them. */
function took(records: readonly string[]): void {
  for (const text of records) {
    if (open.size > 0) kept.push({ n: readCount, text });
    readCount++;
  }
}

/** Reads the shared reader to the log's end, on this thread; false when it failed (and is dropped). */
function drainShared(): boolean {
  if (reader === null || reader === undefined || reader.closed) return false;
  for (;;) {
    let records: string[];
    try {
      records = readRecordsSync(reader);
    } catch {
      // Closed behind our back (EBADF), or the device refuses: open another next time. The
      // records kept for open cursors stay theirs.
      reader.close();
      reader = undefined;
      return false;
    }
    took(records);
    if (records.length < RECORDS_PER_READ) return true;
  }
}

/** Drops the kept records no open cursor wants. */
function prune(): void {
  if (open.size === 0) {
    kept = [];
    return;
  }
  let oldest = Infinity;
  for (const c of open) oldest = Math.min(oldest, c.at);
  const first = kept.findIndex((r) => r.n >= oldest);
  kept = first < 0 ? [] : kept.slice(first);
}

/** A cursor on the shared reader, at the log's end now. */
function sharedCursor(): KernelLogCursor | null {
  if (!drainShared()) return null;
  const cursor = { at: readCount };
  open.add(cursor);
  return cursor;
}

/**
 * The cursor, from the results of the batch kernelLogSteps(at) went into (`steps`: what it
 * gave); null where /dev/kmsg cannot be read.
 */
export function kernelLogCursor(results: readonly unknown[], at: number, steps: readonly Step[]): KernelLogCursor | null {
  if (steps.length === 0) return sharedCursor();
  const handle = results[at];
  if (!isHandle(handle) || results[at + 1] instanceof Error) {
    if (isHandle(handle)) handle.close();
    // EACCES/EPERM (dmesg_restrict without CAP_SYSLOG), ENOENT (no /dev/kmsg): not for this process.
    if (reader === undefined) reader = null;
    return null;
  }
  if (reader === undefined || reader === null || reader.closed) {
    // At the log's end already (the batch seeked it there): nothing to read before the cursor.
    reader = handle;
    const cursor = { at: readCount };
    open.add(cursor);
    return cursor;
  }
  // Another call opened the shared reader meanwhile: this one reads its own fd.
  return { handle };
}

/** A cursor at the end of the kernel log, or null where /dev/kmsg cannot be read. */
export function* openKernelLog(): Task<KernelLogCursor | null> {
  const list = kernelLogSteps(0);
  return kernelLogCursor(list.length === 0 ? [] : (yield* steps(list)).results, 0, list);
}

/** Ends the cursor (once: closing it again does nothing). */
export function closeKernelLog(cursor: KernelLogCursor | null): void {
  if (cursor === null) return;
  if ('handle' in cursor) cursor.handle.close();
  else if (open.delete(cursor)) prune();
}

/** The text of a /dev/kmsg record: "prio,seq,usec,flags;text\n" then continuation lines " KEY=value". */
function recordText(record: string): string {
  const semi = record.indexOf(';');
  return record.slice(semi + 1).split('\n')[0] ?? '';
}

/**
 * The records logged since the cursor whose text starts with one of `prefixes`, text only, and
 * ends the cursor. By default overlay's two prefixes: `overlayfs: ` (pr_err/pr_warn) and
 * `overlay: ` (fs-context errors of a mount(2), which has no fs-context log to hold them, e.g.
 * "overlay: filesystem on /x is read-only").
 */
export function* readKernelLog(cursor: KernelLogCursor | null, prefixes: readonly string[] = OVERLAY_PREFIXES): Task<string[]> {
  if (cursor === null) return [];
  let records: string[] = [];
  try {
    if ('handle' in cursor) {
      if (cursor.handle.closed) return [];
      const r = (yield* steps([{ op: 'readRecords', fd: cursor.handle, recordError: true }])).results[0];
      if (Array.isArray(r)) records = r as string[];
    } else {
      if (!open.has(cursor)) return [];
      drainShared();
      records = kept.filter((k) => k.n >= cursor.at).map((k) => k.text);
    }
  } finally {
    closeKernelLog(cursor);
  }
  return records.map(recordText).filter((text) => prefixes.some((p) => text.startsWith(p)));
}
