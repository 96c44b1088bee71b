import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { sys, O, type FdHandle } from '../../src/index.js';
import { describePrivileged } from '../helpers/privileged.js';
import { caught, caughtSync, expectUnmounted, mountAt } from '../helpers/overlay.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const DATA = 'lowerdir=a:b';

/**
 * layers/ holds the relative layers a (top) and b, plus probe.txt and only-in-layers, which
 * must never be seen through a relative path from the process's cwd (cwd/, its own probe.txt).
 */
function fixture() {
  const root = tempDir();
  writeTree(root, {
    'layers/a/shared.txt': 'from a',
    'layers/b/shared.txt': 'from b',
    'layers/b/b-only.txt': 'b only',
    'layers/probe.txt': 'layers dir',
    'layers/only-in-layers': 'x',
    'cwd/probe.txt': 'process cwd',
    'm/': null,
  });
  return { root, layers: join(root, 'layers'), cwd: join(root, 'cwd'), merged: join(root, 'm') };
}

function expectMerged(merged: string): void {
  expect(mountAt(merged)?.fstype).toBe('overlay');
  expect(readdirSync(merged).sort()).toEqual(['b-only.txt', 'shared.txt']);
  expect(readFileSync(join(merged, 'shared.txt'), 'utf8')).toBe('from a');
}

/** The cwd of every thread of this process (libuv pool threads included). */
function threadCwds(): string[] {
  return readdirSync('/proc/self/task').map((tid) => readlinkSync(`/proc/self/task/${tid}/cwd`));
}

describePrivileged('mountInDir: relative layer paths without touching the process cwd', () => {
  let savedCwd = '';
  beforeEach(() => {
    savedCwd = process.cwd();
  });
  afterEach(() => {
    process.chdir(savedCwd);
  });

  it('mountInDirSync with "lowerdir=a:b" resolves the layers from the directory handle', () => {
    const f = fixture();
    process.chdir(f.cwd);
    const dir = sys.openSync(f.layers, O.PATH | O.DIRECTORY);
    try {
      sys.mountSync('overlay', f.merged, 'overlay', { data: DATA, cwd: dir });
    } finally {
      dir.close();
    }
    expectMerged(f.merged);
    // mountinfo keeps the user's string: the layers stay relative there.
    expect(mountAt(f.merged)?.superOptions).toContain('lowerdir=a:b');
    expect(process.cwd()).toBe(f.cwd);
    expect(readlinkSync('/proc/self/cwd')).toBe(f.cwd);
    expect(new Set(threadCwds())).toEqual(new Set([f.cwd]));
    sys.umount2Sync(f.merged);
    expectUnmounted(f.merged);
  });

  it('mountInDir (Promise): the same, and a relative target resolves from the directory too', async () => {
    const f = fixture();
    process.chdir(f.cwd);
    writeTree(f.layers, { 'rel-target/': null });
    const dir = await sys.open(f.layers, O.PATH | O.DIRECTORY);
    try {
      await sys.mount('overlay', f.merged, 'overlay', { data: DATA, cwd: dir });
      await sys.mount('overlay', 'rel-target', 'overlay', { data: DATA, cwd: dir });
    } finally {
      dir.close();
    }
    expectMerged(f.merged);
    expectMerged(join(f.layers, 'rel-target'));
    expect(readlinkSync('/proc/self/cwd')).toBe(f.cwd);
    await sys.umount2(join(f.layers, 'rel-target'));
    await sys.umount2(f.merged);
    expectUnmounted(f.merged);
    expectUnmounted(join(f.layers, 'rel-target'));
  });

  it('50 concurrent async mount/umount cycles never move the cwd of any thread', async () => {
    const f = fixture();
    process.chdir(f.cwd);
    const targets = Array.from({ length: 5 }, (_, i) => join(f.root, `t${i}`));
    for (const t of targets) writeTree(t, {});
    const dir = sys.openSync(f.layers, O.PATH | O.DIRECTORY);

    let running = true;
    const reads: string[] = [];
    const stats: string[] = [];
    // Relative-path fs calls on the same thread pool (4 loops), while the mounts run.
    const reader = async () => {
      while (running) {
        const [text, st] = await Promise.all([
          readFile('probe.txt', 'utf8'),
          stat('only-in-layers').then(
            () => 'found',
            (e: NodeJS.ErrnoException) => e.code ?? 'no code',
          ),
        ]);
        reads.push(text);
        stats.push(st);
      }
    };
    const readers = Promise.all([reader(), reader(), reader(), reader()]);

    let cycles = 0;
    try {
      // 5 chains of 10 mount/umount cycles each, each chain on its own target.
      await Promise.all(
        targets.map(async (t) => {
          for (let i = 0; i < 10; i++) {
            await sys.mount('overlay', t, 'overlay', { data: DATA, cwd: dir });
            expect(readFileSync(join(t, 'shared.txt'), 'utf8')).toBe('from a');
            await sys.umount2(t);
            cycles++;
          }
        }),
      );
    } finally {
      running = false;
      await readers;
      dir.close();
    }
    expect(cycles).toBe(50);
    expect(reads.length).toBeGreaterThan(0);
    expect(new Set(reads)).toEqual(new Set(['process cwd']));
    expect(new Set(stats)).toEqual(new Set(['ENOENT']));
    expect(process.cwd()).toBe(f.cwd);
    expect(readlinkSync('/proc/self/cwd')).toBe(f.cwd);
    expect(new Set(threadCwds())).toEqual(new Set([f.cwd]));
    for (const t of targets) expectUnmounted(t);
  });

  it('a failing mountInDir names syscall mount, the source and dest = target', async () => {
    const f = fixture();
    const dir = sys.openSync(f.layers, O.PATH | O.DIRECTORY);
    try {
      const err = caughtSync(() => sys.mountSync('overlay', f.merged, 'overlay', { data: 'lowerdir=a:missing', cwd: dir }));
      expect(err.code).toBe('ENOENT');
      expect(err.syscall).toBe('mount');
      expect(err.path).toBe('overlay');
      expect(err.dest).toBe(f.merged);
      expect(err.message).toBe(`ENOENT: no such file or directory, mount 'overlay' -> '${f.merged}'`);

      const viaPromise = await caught(() => sys.mount(null, f.merged, 'overlay', { data: 'lowerdir=a:missing', cwd: dir }));
      expect(viaPromise.syscall).toBe('mount');
      expect(viaPromise.dest).toBe(f.merged);
      expect(viaPromise.path).toBeUndefined();
    } finally {
      dir.close();
    }
    expectUnmounted(f.merged);
  });

  it('a mount step with cwd in runSteps resolves from the handle too', () => {
    const f = fixture();
    const dir: FdHandle = sys.openSync(f.layers, O.PATH | O.DIRECTORY);
    try {
      sys.runStepsSync([{ op: 'mount', source: 'overlay', target: f.merged, fstype: 'overlay', data: DATA, cwd: dir }]);
    } finally {
      dir.close();
    }
    expectMerged(f.merged);
    sys.umount2Sync(f.merged);
    expectUnmounted(f.merged);
  });
});
