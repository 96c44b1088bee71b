/**
 * The kernel log lines a call caused. Most overlay errors never reach the fs-context log: they
 * are pr_err() lines ("overlayfs: workdir and upperdir must reside under the same mount") in
 * the kernel log only. Where this process may read /dev/kmsg, a cursor taken before the call
 * reads back exactly the records logged after it.
 *
 * Opening /dev/kmsg costs more than a whole mount's other syscalls (~65 µs: the kernel finds
 * the oldest valid record of its ring for every new reader), so the process opens it once, at
 * its first mount, and keeps that fd (O_CLOEXEC) at the log's end. Every read of it goes into
 * the addon's journal of records with their kernel sequence numbers (the kernelLog step,
 * native/kernel_log.cc): a cursor is the last sequence number read, one read(2) that says
 * EAGAIN in a batch that was there anyway; a read-back is every record of the journal after
 * it, whichever call's read took it off the fd (concurrent mounts' batches finish on the thread
 * pool in any order).
 */
import { isHandle } from '../sys/args.js';
import { O } from '../sys/constants.js';
import { steps, type Task } from '../sys/io.js';
import type { FdHandle } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';

const SEEK_END = 2;
const OVERLAY_PREFIXES = ['overlayfs: ', 'overlay: '] as const;
/** `since` for a read that only takes the cursor: no record of the journal is after it. */
const NONE_AFTER = Number.MAX_SAFE_INTEGER;

/** A position in the kernel log: the sequence number of the last record read when it was taken (nothing to close). */
export interface KernelLogCursor {
  readonly seq: number;
}

/** The shared reader: undefined until the first cursor, null where /dev/kmsg cannot be read. */
let reader: FdHandle | null | undefined;

/**
 * The steps that take a cursor, to run in a batch with others (at `at`, their index there):
 * the first time, open /dev/kmsg and seek to its end, then the journal's read; after that the
 * read alone. None ends the batch when the log cannot be read.
 */
export function kernelLogSteps(at: number): Step[] {
  if (reader === null) return [];
  if (reader === undefined || reader.closed) {
    return [
      { op: 'open', path: '/dev/kmsg', flags: O.RDONLY | O.NONBLOCK, keep: true, recordError: true },
      { op: 'lseek', fd: at, offset: 0, whence: SEEK_END, recordError: true },
      { op: 'kernelLog', fd: at, since: NONE_AFTER, recordError: true },
    ];
  }
  return [{ op: 'kernelLog', fd: reader, since: NONE_AFTER, recordError: true }];
}

/**
 * The cursor the steps of kernelLogSteps(at) took, from the batch's results (`steps`: what it
 * gave); null where /dev/kmsg cannot be read.
 */
export function kernelLogCursor(results: readonly unknown[], at: number, steps: readonly Step[]): KernelLogCursor | null {
  if (steps.length === 0) return null;
  let read = results[at];
  if (steps.length > 1) {
    const handle = results[at];
    read = results[at + 2];
    if (!isHandle(handle) || results[at + 1] instanceof Error || !Array.isArray(read)) {
      if (isHandle(handle)) handle.close();
      // EACCES/EPERM (dmesg_restrict without CAP_SYSLOG), ENOENT (no /dev/kmsg): not for this process.
      if (reader === undefined) reader = null;
      return null;
    }
    // Two calls may open it at once: one fd is kept, the other's read went into the journal too.
    if (reader === undefined || reader === null || reader.closed) reader = handle;
    else handle.close();
  }
  if (!Array.isArray(read)) {
    // The shared fd failed (closed behind our back?): open another next time.
    reader?.close();
    reader = undefined;
    return null;
  }
  return { seq: Number(read[0]) };
}

/** A cursor at the end of the kernel log, or null where /dev/kmsg cannot be read. */
export function* openKernelLog(): Task<KernelLogCursor | null> {
  const list = kernelLogSteps(0);
  return kernelLogCursor(list.length === 0 ? [] : (yield* steps(list)).results, 0, list);
}

/** The text of a /dev/kmsg record: "prio,seq,usec,flags;text\n" then continuation lines " KEY=value". */
function recordText(record: string): string {
  const semi = record.indexOf(';');
  return record.slice(semi + 1).split('\n')[0] ?? '';
}

/**
 * The records logged since the cursor whose text starts with one of `prefixes`, text only (a
 * cursor holds nothing to release: it is a number). By default overlay's two prefixes: `overlayfs: ` (pr_err/pr_warn) and
 * `overlay: ` (fs-context errors of a mount(2), which has no fs-context log to hold them, e.g.
 * "overlay: filesystem on /x is read-only").
 */
export function* readKernelLog(cursor: KernelLogCursor | null, prefixes: readonly string[] = OVERLAY_PREFIXES): Task<string[]> {
  if (cursor === null) return [];
  if (reader === null || reader === undefined || reader.closed) return [];
  const r = (yield* steps([{ op: 'kernelLog', fd: reader, since: cursor.seq, recordError: true }])).results[0];
  if (!Array.isArray(r)) return [];
  return (r as string[]).slice(1).map(recordText).filter((text) => prefixes.some((p) => text.startsWith(p)));
}
