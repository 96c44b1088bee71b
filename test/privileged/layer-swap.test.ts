/**
 * A racer swaps lower[0] with another directory (renameat2 RENAME_EXCHANGE, in a tight loop in
 * another process) while this one mounts. A mount is wrong when the directory the kernel
 * mounted as lower[0] is not the one validation checked. The default strategy must never mount
 * a wrong one: it refuses (ERR_LAYER_CHANGED) instead. lowerdir+ and legacy pass paths, which the
 * kernel looks up again, so they can; their counts are printed, not asserted (a race).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { mountOverlaySync, type OverlaySpec, type Strategy } from '../../src/index.js';
import { describeWithTool, itWithKernel, strategyNeeds } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

// What validation saw, per attempt: validateTask's own result, observed on its way out.
const seen = vi.hoisted(() => ({ lower0: [] as number[] }));
vi.mock('../../src/mount/validate.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/mount/validate.js')>();
  return {
    ...mod,
    validateTask: function* (spec: OverlaySpec) {
      const v = yield* mod.validateTask(spec);
      seen.lower0.push(v.identities.get('lower[0]')!.ino);
      return v;
    },
  };
});

const RACER = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
AT_FDCWD, RENAME_EXCHANGE = -100, 2
print("ready", flush=True)
n = 0
while True:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    n += 1
`;

let root: string;
let racer: ChildProcess;
// A directory keeps its inode as the racer moves it between the two paths.
const inodes = { a: -1, decoy: -1 };

beforeEach(async () => {
  root = tempDir();
  writeTree(root, { 'a/which': 'a', 'decoy/which': 'decoy', 'base/b': 'b', 'u/': null, 'm/': null });
  inodes.a = statSync(join(root, 'a')).ino;
  inodes.decoy = statSync(join(root, 'decoy')).ino;
  racer = spawn('python3', ['-c', RACER, join(root, 'a'), join(root, 'decoy')], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    racer.once('error', reject);
    racer.stdout!.once('data', () => resolve());
  });
});

afterEach(async () => {
  if (racer.exitCode === null) {
    const exited = new Promise((r) => racer.once('exit', r));
    racer.kill('SIGKILL');
    await exited;
  }
});

interface Tally {
  mounted: number;
  wrong: number;
  refused: number;
}

/** Mounts and unmounts for `ms`, counting mounts whose lower[0] is not the validated directory. */
function attempts(strategy: Strategy | undefined, ms: number): Tally {
  const t: Tally = { mounted: 0, wrong: 0, refused: 0 };
  const spec: OverlaySpec = { lower: [join(root, 'a'), join(root, 'base')], upper: join(root, 'u'), work: join(root, 'w'), target: join(root, 'm') };
  if (strategy) spec.strategy = strategy;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seen.lower0.length = 0;
    let m;
    try {
      m = mountOverlaySync(spec);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_LAYER_CHANGED') throw e;
      t.refused++;
      continue;
    }
    try {
      t.mounted++;
      // Which directory the kernel mounted, by the file each one carries wherever it now is.
      const which = readFileSync(join(root, 'm', 'which'), 'utf8') as keyof typeof inodes;
      if (seen.lower0[0] !== inodes[which]) t.wrong++;
    } finally {
      m.unmountSync();
    }
  }
  return t;
}

describeWithTool('python3', 'a layer swapped while mounting', () => {
  // The default is 'fd' where the kernel takes layers by fd; elsewhere it passes paths too.
  itWithKernel('layersByFd', 'the default strategy never mounts a directory other than the one validated', () => {
    const t = attempts(undefined, 3000);
    console.log(`default: ${t.mounted} mounted, ${t.refused} refused (ERR_LAYER_CHANGED), ${t.wrong} wrong`);
    expect(t.wrong).toBe(0);
    expect(t.mounted + t.refused).toBeGreaterThan(0);
    expect(racer.exitCode).toBeNull();
    expect(mountsUnder(root)).toEqual([]);
  });

  for (const strategy of ['lowerdir+', 'legacy'] as const) {
    itWithKernel(strategyNeeds(strategy), `${strategy} passes paths: the kernel may mount the other one (counted, not asserted)`, () => {
      const t = attempts(strategy, 1500);
      console.log(`${strategy}: ${t.mounted} mounted, ${t.wrong} wrong`);
      expect(t.refused).toBe(0);
      expect(mountsUnder(root)).toEqual([]);
      expect(existsSync(join(root, 'w'))).toBe(true);
    });
  }
});
