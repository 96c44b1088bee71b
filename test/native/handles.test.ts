import { once } from 'node:events';
import { openSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/sys/binding.js';
import { leakedFdCount } from '../../src/sys/fd.js';
import { O, sys } from '../../src/index.js';
import { openFdCount, tempDir } from '../helpers/tmp.js';

/** What fd `n` of this process refers to, or null when it is not open. */
function fdTarget(n: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${n}`);
  } catch {
    return null;
  }
}

/** The fds of this process (any thread) open on one of `paths`. */
function fdsOpenOn(paths: readonly string[]): number[] {
  return readdirSync('/proc/self/fd')
    .map(Number)
    .filter((n) => {
      const t = fdTarget(n);
      return t !== null && paths.includes(t);
    });
}

/** `count` empty files with unique paths, so their fds can be told apart from anyone else's. */
function files(count: number): string[] {
  const dir = tempDir();
  return Array.from({ length: count }, (_, i) => {
    const p = join(dir, `f${i}`);
    writeFileSync(p, '');
    return p;
  });
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function gc(): void {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc (vitest.config.ts native project)');
  globalThis.gc();
}

describe('fd handles', () => {
  it('adoptFd takes an fd and exposes kind, fd and closed', () => {
    const n = openSync('/dev/null', 'r');
    const h = sys.adoptFd(n);
    expect(h).toBeInstanceOf(native().FdHandle);
    expect(h.kind).toBe('file');
    expect(h.fd).toBe(n);
    expect(h.closed).toBe(false);
    h.close();
    expect(h.closed).toBe(true);
    expect(h.fd).toBe(-1);
    expect(() => h.close()).not.toThrow();
    expect(h.closed).toBe(true);
    const m = sys.adoptFd(openSync('/dev/null', 'r'), 'mount');
    expect(m.kind).toBe('mount');
    m.close();
  });

  it('close() really closes the fd number', () => {
    const [path] = files(1) as [string];
    const h = sys.adoptFd(openSync(path, 'r'));
    const n = h.fd;
    expect(fdTarget(n)).toBe(path);
    h.close();
    expect(fdTarget(n)).not.toBe(path);
    expect(fdsOpenOn([path])).toEqual([]);
  });

  it('[Symbol.dispose] closes, and `using` calls it', () => {
    const [a, b] = files(2) as [string, string];
    const h = sys.adoptFd(openSync(a, 'r'));
    h[Symbol.dispose]();
    expect(h.closed).toBe(true);
    expect(fdsOpenOn([a])).toEqual([]);
    h[Symbol.dispose]();

    let seen: number;
    {
      using g = sys.openSync(b, O.RDONLY);
      seen = g.fd;
      expect(fdTarget(seen)).toBe(b);
    }
    expect(fdsOpenOn([b])).toEqual([]);
  });

  it('a garbage-collected open handle is closed by its finalizer and counted as a leak', async () => {
    const paths = files(5);
    const before = leakedFdCount();
    // Handles reachable only from this frame, which is gone once it returns.
    ((): void => {
      for (const p of paths) sys.adoptFd(openSync(p, 'r'));
    })();
    expect(fdsOpenOn(paths)).toHaveLength(5);
    // Node-API finalizers run from setImmediate after the GC that found the object dead.
    for (let i = 0; i < 20 && leakedFdCount() < before + paths.length; i++) {
      gc();
      await tick();
    }
    // A few more rounds: nothing else is counted (every other handle here is closed).
    for (let i = 0; i < 3; i++) {
      gc();
      await tick();
    }
    expect(leakedFdCount() - before).toBe(paths.length);
    expect(fdsOpenOn(paths)).toEqual([]);
  });

  it('a closed handle that is collected is not counted as a leak', async () => {
    const [path] = files(1) as [string];
    const before = leakedFdCount();
    ((): void => {
      sys.adoptFd(openSync(path, 'r')).close();
    })();
    for (let i = 0; i < 5; i++) {
      gc();
      await tick();
    }
    expect(leakedFdCount()).toBe(before);
  });

  it('close() during an async call keeps the fd until the call ends, then closes it', async () => {
    const [path] = files(1) as [string];
    sys.setxattrSync(path, 'user.x', 'value');
    const h = sys.openSync(path, O.RDONLY);
    const n = h.fd;
    const pending = sys.fgetxattr(h, 'user.x');
    h.close();
    expect(h.closed).toBe(true);
    expect(h.fd).toBe(-1);
    // The call holds a lease: the number stays ours, so it cannot be reused under the syscall.
    expect(fdTarget(n)).toBe(path);
    // ...and the handle already refuses new calls.
    await expect(sys.fgetxattr(h, 'user.x')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect((await pending).toString()).toBe('value');
    expect(fdsOpenOn([path])).toEqual([]);
  });

  it('a failing async call also releases a closed handle’s fd', async () => {
    const [path] = files(1) as [string];
    const h = sys.openSync(path, O.RDONLY);
    const pending = sys.fgetxattr(h, 'user.missing');
    h.close();
    await expect(pending).rejects.toMatchObject({ code: 'ENODATA', syscall: 'fgetxattr' });
    expect(fdsOpenOn([path])).toEqual([]);
  });
});

describe('worker threads', () => {
  const fixture = fileURLToPath(new URL('./fixtures/worker-handles.mjs', import.meta.url));

  // 'exit': the worker ends by itself; 'terminate': it is killed while running; 'inflight':
  // killed with async calls still queued or running, whose completions (an error, a new handle)
  // then run in an environment that can no longer run JS. That used to abort the process.
  it.each(['exit', 'terminate', 'inflight', 'inflight with error factory'] as const)(
    'handles a worker leaves open are closed when it ends (%s)',
    async (how) => {
      const paths = files(4);
      const countBefore = openFdCount();
      const leakedBefore = leakedFdCount();
      const workerData = { paths, inflight: how.startsWith('inflight'), errorFactory: how.endsWith('factory') };
      const worker = new Worker(fixture, { workerData });
      const exited = once(worker, 'exit');
      const [msg] = (await once(worker, 'message')) as [{ fds: number[]; addon: string }];
      // The worker's fds are the process's: they are open now, on our files.
      expect(msg.fds.map(fdTarget)).toEqual(paths);
      if (how === 'exit') worker.postMessage('exit');
      else {
        worker.postMessage('hang');
        await worker.terminate();
      }
      await exited;
      expect(fdsOpenOn(paths)).toEqual([]);
      expect(openFdCount()).toBe(countBefore);
      // The worker's environment closed them at teardown; that is not a leak, and not ours.
      expect(leakedFdCount()).toBe(leakedBefore);
    },
  );
});
