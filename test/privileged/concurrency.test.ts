/**
 * Short versions of two `npm run stress` scenarios (stress/run.mjs runs them for longer):
 * processes mounting one upper and work at once, and 64 concurrent mounts in one process.
 *
 * The processes are stress/children/shared-upper.mjs running the compiled library (dist/, built
 * by `npm test`); they share this process's (private) mount namespace.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mountOverlay, type OverlaySpec } from '../../src/index.js';
import { leakedFdCount } from '../../src/sys/fd.js';
import { REPO } from '../helpers/cli.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, openFdCount, tempDir, writeTree } from '../helpers/tmp.js';

const CHILD = join(REPO, 'stress', 'children', 'shared-upper.mjs');

interface ChildResult {
  wins: number;
  refusals: number;
  errors: number;
  errorCodes: Record<string, number>;
  overlaps: number;
  ownNotSeen: number;
  samples: unknown[];
}

/** `processes` children on one upper and work for `seconds`, started together; their results. */
async function sharedUpper(processes: number, seconds: number, options: OverlaySpec['options']): Promise<{ root: string; results: ChildResult[] }> {
  const root = tempDir();
  writeTree(root, { 'lower/file': 'lower\n', 'upper/': null });
  const targets = Array.from({ length: processes }, (_, i) => join(root, `m${i}`));
  for (const t of targets) writeTree(t, {});
  const kids = targets.map((target, i) => {
    const cfg = { lower: join(root, 'lower'), upper: join(root, 'upper'), work: join(root, 'work'), target, others: targets.filter((t) => t !== target), options, seconds, holdMs: 2, mode: i % 2 ? 'promise' : 'sync' };
    const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const ended = new Promise<string>((resolve) => child.once('close', () => resolve(out)));
    const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    return { child, ended, ready };
  });
  await Promise.all(kids.map((k) => k.ready));
  for (const k of kids) k.child.stdin.write('go\n');
  const outputs = await Promise.all(kids.map((k) => k.ended));
  const results = outputs.map((o) => {
    const line = o.split('\n').find((l) => l.includes('"type":"result"'));
    expect(line, `a child gave no result: ${o}`).toBeDefined();
    return JSON.parse(line!) as ChildResult;
  });
  return { root, results };
}

const total = (rs: ChildResult[], key: 'wins' | 'refusals' | 'errors' | 'overlaps' | 'ownNotSeen') => rs.reduce((a, r) => a + r[key], 0);

describePrivileged('processes mounting one upper and work at once', () => {
  it('4 processes, 2 s: the losers are refused naming the winner, never two overlays in mountinfo', async () => {
    const { root, results } = await sharedUpper(4, 2, { index: 'off' });
    console.log(`4 processes: ${total(results, 'wins')} mounts, ${total(results, 'refusals')} refused, ${total(results, 'errors')} other errors`);
    expect(results.flatMap((r) => r.samples)).toEqual([]);
    expect(total(results, 'errors')).toBe(0);
    expect(total(results, 'overlaps')).toBe(0);
    expect(total(results, 'ownNotSeen')).toBe(0);
    expect(total(results, 'wins')).toBeGreaterThan(0);
    expect(mountsUnder(root)).toEqual([]);
  });

  // With index=on the kernel refuses (EBUSY) an overlay on an upper another overlay superblock
  // still holds. An unmount takes the overlay out of the mount table before the kernel lets go
  // of its upper, and the library's lock covers the check and the mount only: another process
  // can check in between, find the upper free and have its mount refused.
  it('4 processes, 2 s, index=on: the kernel never refuses a mount the in-use check let through', async () => {
    const { root, results } = await sharedUpper(4, 2, { index: 'on' });
    const codes = results.flatMap((r) => Object.entries(r.errorCodes).map(([c, k]) => `${k} ${c}`));
    console.log(`4 processes, index=on: ${total(results, 'wins')} mounts, ${total(results, 'refusals')} refused, other errors: ${codes.join(', ') || 'none'}`);
    expect(codes).toEqual([]);
    expect(total(results, 'overlaps')).toBe(0);
    expect(mountsUnder(root)).toEqual([]);
  });
});

describePrivileged('64 concurrent mounts in one process', () => {
  it('3 rounds of Promise.all(64 × mountOverlay), then of the unmounts: no error; no fd, handle or mount left', async () => {
    const root = tempDir();
    writeTree(root, { 'lower/file': 'lower\n' });
    const specs: OverlaySpec[] = Array.from({ length: 64 }, (_, i) => {
      writeTree(root, { [`u${i}/`]: null, [`m${i}/`]: null });
      return { lower: [join(root, 'lower')], upper: join(root, `u${i}`), work: join(root, `w${i}`), target: join(root, `m${i}`) };
    });
    const round = async () => {
      const mounts = await Promise.all(specs.map((s) => mountOverlay(s)));
      for (const s of specs) expect(readFileSync(join(s.target, 'file'), 'utf8')).toBe('lower\n');
      expect(mountsUnder(root)).toHaveLength(64);
      await Promise.all(mounts.map((m) => m.unmount()));
    };
    const collect = async () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      expect(gc).toBeTypeOf('function');
      gc?.();
      await new Promise((resolve) => setImmediate(resolve));
      gc?.();
    };
    await round(); // the thread pool's threads, the probe
    await collect();
    const fds = openFdCount();
    const leaked = leakedFdCount();
    for (let i = 0; i < 3; i++) await round();
    await collect();
    expect(openFdCount()).toBe(fds);
    expect(leakedFdCount()).toBe(leaked);
    expect(mountsUnder(root)).toEqual([]);
  });
});
