/**
 * A standard two-lower-layer overlay fixture and the checks every mount path must pass, so the
 * mount(2), fsopen/fsmount and runSteps tests all assert the same merged view.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { FSCONFIG, MOVE_MOUNT, type Step } from '../../src/index.js';
import { mountsUnder, tempDir, writeTree } from './tmp.js';

export interface Layers {
  root: string;
  /** Top lower layer. */
  l1: string;
  /** Bottom lower layer. */
  l2: string;
  upper: string;
  work: string;
  merged: string;
}

/**
 * l1 (top) and l2 (bottom) both hold shared.txt with different content; l2 alone holds low.txt
 * (to be modified through the overlay) and doomed.txt (to be deleted through it).
 */
export function makeLayers(): Layers {
  const root = tempDir();
  const x: Layers = {
    root,
    l1: join(root, 'l1'),
    l2: join(root, 'l2'),
    upper: join(root, 'u'),
    work: join(root, 'w'),
    merged: join(root, 'm'),
  };
  writeTree(x.l1, { 'shared.txt': 'from l1', 'l1-only.txt': 'l1 only' });
  writeTree(x.l2, { 'shared.txt': 'from l2', 'low.txt': 'low original', 'doomed.txt': 'doomed' });
  writeTree(root, { 'u/': null, 'w/': null, 'm/': null });
  return x;
}

/** The mount(2) data string for `x`. */
export function legacyData(x: Layers): string {
  return `lowerdir=${x.l1}:${x.l2},upperdir=${x.upper},workdir=${x.work}`;
}

/** One line of /proc/self/mountinfo, split into the fields the tests look at. */
export interface MountInfo {
  mountId: number;
  mountPoint: string;
  fstype: string;
  source: string;
  superOptions: string;
}

export function mountInfo(): MountInfo[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [pre = '', post = ''] = line.split(' - ');
      const f = pre.split(' ');
      const g = post.split(' ');
      const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return {
        mountId: Number(f[0]),
        mountPoint: unescape(f[4] ?? ''),
        fstype: g[0] ?? '',
        source: g[1] ?? '',
        superOptions: g[2] ?? '',
      };
    });
}

/** The topmost mount exactly at `path`, or undefined. */
export function mountAt(path: string): MountInfo | undefined {
  return mountInfo()
    .filter((m) => m.mountPoint === path)
    .at(-1);
}

/** The fsopen/fsconfig/fsmount/move_mount steps that mount `x` with one lowerdir+ per layer. */
export function newApiSteps(x: Layers, opts: { keep?: boolean; excl?: boolean; attach?: boolean } = {}): Step[] {
  const steps: Step[] = [
    { op: 'fsopen', fsname: 'overlay' },
    { op: 'fsconfigSetString', fs: 0, key: 'lowerdir+', value: x.l1 },
    { op: 'fsconfigSetString', fs: 0, key: 'lowerdir+', value: x.l2 },
    { op: 'fsconfigSetString', fs: 0, key: 'upperdir', value: x.upper },
    { op: 'fsconfigSetString', fs: 0, key: 'workdir', value: x.work },
    { op: opts.excl ? 'fsconfigCreateExcl' : 'fsconfigCreate', fs: 0 },
    opts.keep ? { op: 'fsmount', fs: 0, keep: true } : { op: 'fsmount', fs: 0 },
  ];
  if (opts.attach !== false) {
    steps.push({ op: 'moveMount', from: 6, fromPath: '', toPath: x.merged, flags: MOVE_MOUNT.F_EMPTY_PATH });
  }
  return steps;
}
/** Index of the fsmount step in newApiSteps(). */
export const FSMOUNT_STEP = 6;

/**
 * Asserts the merged view of a mounted `x` and then changes it through the overlay: reads come
 * from the top layer, a lower-only file is visible, a write copies up, a delete leaves a 0/0
 * character-device whiteout in the upper layer. Lower layers are never touched.
 */
export function checkMergedView(x: Layers): void {
  const m = mountAt(x.merged);
  expect(m?.fstype).toBe('overlay');

  expect(readFileSync(join(x.merged, 'shared.txt'), 'utf8')).toBe('from l1');
  expect(readFileSync(join(x.merged, 'l1-only.txt'), 'utf8')).toBe('l1 only');
  expect(readFileSync(join(x.merged, 'low.txt'), 'utf8')).toBe('low original');
  expect(readdirSync(x.merged).sort()).toEqual(['doomed.txt', 'l1-only.txt', 'low.txt', 'shared.txt']);

  // A write to a lower-only file copies it up: the upper has the new content, the lower is unchanged.
  expect(existsSync(join(x.upper, 'low.txt'))).toBe(false);
  writeFileSync(join(x.merged, 'low.txt'), 'low changed');
  expect(readFileSync(join(x.merged, 'low.txt'), 'utf8')).toBe('low changed');
  expect(readFileSync(join(x.upper, 'low.txt'), 'utf8')).toBe('low changed');
  expect(readFileSync(join(x.l2, 'low.txt'), 'utf8')).toBe('low original');

  // A delete of a lower file leaves a whiteout: a character device with device number 0/0.
  rmSync(join(x.merged, 'doomed.txt'));
  expect(existsSync(join(x.merged, 'doomed.txt'))).toBe(false);
  const wh = lstatSync(join(x.upper, 'doomed.txt'));
  expect(wh.isCharacterDevice()).toBe(true);
  expect(wh.rdev).toBe(0);
  expect(readFileSync(join(x.l2, 'doomed.txt'), 'utf8')).toBe('doomed');
  expect(readdirSync(x.merged).sort()).toEqual(['l1-only.txt', 'low.txt', 'shared.txt']);
}

/** Asserts nothing is mounted at or below `target` and that it is an empty directory again. */
export function expectUnmounted(target: string): void {
  expect(mountsUnder(target)).toEqual([]);
  expect(readdirSync(target)).toEqual([]);
}

/** The error `fn` throws (or the rejection of the promise it returns). Fails if there is none. */
export async function caught(fn: () => unknown): Promise<NodeJS.ErrnoException & Record<string, unknown>> {
  try {
    await fn();
  } catch (e) {
    return e as NodeJS.ErrnoException & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}

/** Sync variant of caught(). */
export function caughtSync(fn: () => unknown): NodeJS.ErrnoException & Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    return e as NodeJS.ErrnoException & Record<string, unknown>;
  }
  throw new Error('expected the call to fail');
}
