/**
 * The kernel log lines a call caused. Most overlay errors never reach the fs-context log: they
 * are pr_err() lines ("overlayfs: workdir and upperdir must reside under the same mount") in
 * the kernel log only. Where this process may read /dev/kmsg, a cursor taken before the call
 * reads back exactly the records logged after it.
 */
import { constants, openSync, readSync } from 'node:fs';
import { adoptFd, lseekSync, type FdHandle } from './sys/fd.js';

const SEEK_END = 2;
const OVERLAY_PREFIXES = ['overlayfs: ', 'overlay: '] as const;

export class KernelLogCursor {
  private readonly handle: FdHandle;
  private constructor(handle: FdHandle) {
    this.handle = handle;
  }

  /** A cursor at the end of the kernel log, or null where /dev/kmsg cannot be read. */
  static open(): KernelLogCursor | null {
    let fd: number;
    try {
      // libuv opens every file O_CLOEXEC.
      fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return null;
    }
    const handle = adoptFd(fd);
    try {
      lseekSync(handle, 0, SEEK_END);
    } catch {
      handle.close();
      return null;
    }
    return new KernelLogCursor(handle);
  }

  /**
   * The records logged since the cursor whose text starts with one of `prefixes`, text only.
   * Closes the cursor. By default overlay's two prefixes: `overlayfs: ` (pr_err/pr_warn) and
   * `overlay: ` (fs-context errors of a mount(2), which has no fs-context log to hold them,
   * e.g. "overlay: filesystem on /x is read-only").
   */
  read(prefixes: string | readonly string[] = OVERLAY_PREFIXES): string[] {
    const wanted = typeof prefixes === 'string' ? [prefixes] : prefixes;
    const out: string[] = [];
    const buf = Buffer.alloc(8192);
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(this.handle.fd, buf, 0, buf.length, null);
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
        if (wanted.some((p) => text.startsWith(p))) out.push(text);
      }
    } finally {
      this.close();
    }
    return out;
  }

  close(): void {
    this.handle.close();
  }
}

