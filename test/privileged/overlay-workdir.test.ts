import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  cleanWorkdirSync,
  hasStaleVolatileSync,
  mountOverlay,
  mountOverlaySync,
  OverlaySpecError,
  overlaysUsingSync,
  sys,
  type OverlaySpec,
} from '../../src/index.js';
import { parseOverlayOptions, readMountInfoSync } from '../../src/read/mountinfo.js';
import { REPO } from '../helpers/cli.js';
import { caught, caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, openFdCount, tempDir, writeTree } from '../helpers/tmp.js';

function dirs() {
  const root = tempDir();
  writeTree(root, { 'a/from-a': 'a', 'b/from-b': 'b', 'u1/': null, 'u2/': null, 'm1/': null, 'm2/': null });
  const at = (n: string) => join(root, n);
  return { root, a: at('a'), b: at('b'), u1: at('u1'), u2: at('u2'), w1: at('w1'), w2: at('w2'), m1: at('m1'), m2: at('m2') };
}

function problemsOf(err: unknown): Array<{ field: string; problem: string }> {
  expect(err).toBeInstanceOf(OverlaySpecError);
  return [...(err as OverlaySpecError).problems];
}

describePrivileged('an upper or work dir already used by another overlay', () => {
  it('the same upper is refused (sync), the same work is refused (Promise), both name the other target', async () => {
    const d = dirs();
    const first = mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 });
    try {
      const fds = openFdCount();
      const sameUpper = caughtSync(() => mountOverlaySync({ lower: [d.b], upper: d.u1, work: d.w2, target: d.m2 }));
      expect(problemsOf(sameUpper)).toEqual([
        {
          field: 'upper',
          problem: `is already the upper dir of the overlay mounted at '${d.m1}' (mount ${first.mountId}); two mounts sharing it is undefined behaviour. Unmount it, or pass allowShared: true`,
        },
      ]);
      const sameWork = await caught(() => mountOverlay({ lower: [d.b], upper: d.u2, work: d.w1, target: d.m2 }));
      const p = problemsOf(sameWork);
      expect(p.map((x) => x.field)).toEqual(['work']);
      expect(p[0]!.problem).toContain(`is already the work dir of the overlay mounted at '${d.m1}'`);
      // Both at once: both named.
      const both = caughtSync(() => mountOverlaySync({ lower: [d.b], upper: d.u1, work: d.w1, target: d.m2 }));
      expect(problemsOf(both).map((x) => x.field)).toEqual(['upper', 'work']);

      expect(mountsUnder(d.root)).toEqual([d.m1]);
      expect(existsSync(d.w2)).toBe(false);
      expect(openFdCount()).toBe(fds);
    } finally {
      first.unmountSync();
    }
    // Once the first is unmounted the dirs are free again.
    const again = mountOverlaySync({ lower: [d.b], upper: d.u1, work: d.w1, target: d.m2 });
    expect(readFileSync(join(d.m2, 'from-b'), 'utf8')).toBe('b');
    again.unmountSync({ cleanWorkdir: true });
    expectUnmounted(d.m1);
    expectUnmounted(d.m2);
  });

  it('allowShared: true mounts the second overlay on the same upper (the kernel only warns)', async () => {
    const d = dirs();
    const first = await mountOverlay({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 });
    try {
      expect(overlaysUsingSync(d.u1)).toEqual([{ target: d.m1, mountId: first.mountId, as: 'upper' }]);
      const second = await mountOverlay({ lower: [d.b], upper: d.u1, work: d.w2, target: d.m2, allowShared: true });
      try {
        expect(readFileSync(join(d.m2, 'from-b'), 'utf8')).toBe('b');
        writeFileSync(join(d.m2, 'shared'), 'via m2');
        // The two views share the upper: undefined behaviour in general, but this file shows.
        expect(readFileSync(join(d.u1, 'shared'), 'utf8')).toBe('via m2');
        expect(overlaysUsingSync(d.u1).map((u) => u.target).sort()).toEqual([d.m1, d.m2].sort());
      } finally {
        await second.unmount({ cleanWorkdir: true });
      }
    } finally {
      await first.unmount({ cleanWorkdir: true });
    }
    expectUnmounted(d.m1);
    expectUnmounted(d.m2);
  });

  it('a legacy overlay whose layers are named by /proc/self/fd number shows its upper in mountinfo, and is found', () => {
    const d = dirs();
    const long = join(d.root, 'long', ...Array<string>(19).fill('d'.repeat(200)));
    const long2 = join(d.root, 'long2', ...Array<string>(5).fill('d'.repeat(200)));
    writeTree(long, { 'from-long': 'long' });
    writeTree(long2, { 'from-long2': 'long2' });
    const first = mountOverlaySync({ lower: [d.a, long, long2], upper: d.u1, work: d.w1, target: d.m1, strategy: 'legacy' });
    try {
      expect(first.plan.reason).toContain('/proc/self/fd');
      const seen = parseOverlayOptions(readMountInfoSync().find((e) => e.mountId === first.mountId)!.superOptions);
      expect(seen.lower[1]).toMatch(/^\d+$/);
      expect(seen.upper).toBe(d.u1);
      const err = caughtSync(() => mountOverlaySync({ lower: [d.b], upper: d.u1, work: d.w2, target: d.m2 }));
      expect(problemsOf(err).map((x) => x.field)).toEqual(['upper']);
      expect(problemsOf(err)[0]!.problem).toContain(`'${d.m1}'`);
    } finally {
      first.unmountSync({ cleanWorkdir: true });
    }
    expectUnmounted(d.m1);
    expect(mountsUnder(d.root)).toEqual([]);
  });
});

/**
 * Runs, in a child process (the compiled library, dist/: no record of this process's mounts),
 * overlaysUsingSync() of upper and work, then a mount of `second`; the mount, if made, is
 * unmounted at once. The child shares this mount namespace.
 */
function inAnotherProcess(upper: string, work: string, second: OverlaySpec): {
  upper: unknown[];
  work: unknown[];
  mounted?: true;
  error?: { name: string; problems?: Array<{ field: string; problem: string }> };
} {
  const script = `
    import { mountOverlaySync, overlaysUsingSync } from ${JSON.stringify(join(REPO, 'dist', 'index.js'))};
    const [upper, work, second] = JSON.parse(process.argv[1]);
    const out = { upper: overlaysUsingSync(upper), work: overlaysUsingSync(work) };
    try {
      mountOverlaySync(second).unmountSync({ cleanWorkdir: true });
      out.mounted = true;
    } catch (e) {
      out.error = { name: e.name, problems: e.problems };
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([upper, work, second])], { encoding: 'utf8', timeout: 60_000 });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(r.stdout) as ReturnType<typeof inAnotherProcess>;
}

describePrivileged('a legacy mount that names its layers by /proc/self/fd number, seen from another process', () => {
  it('mountinfo shows its upper and work as paths: another process finds them and refuses the same upper', () => {
    const d = dirs();
    // 400 layers of 64-byte names: even relative to their common parent they fill over a page.
    const layers = Array.from({ length: 400 }, (_, i) => join(d.root, 'layers', `${String(i).padStart(3, '0')}-${'l'.repeat(60)}`));
    for (const l of layers) mkdirSync(l, { recursive: true });
    writeFileSync(join(layers[0]!, 'top'), 'top');
    const first = mountOverlaySync({ lower: layers, upper: d.u1, work: d.w1, target: d.m1, strategy: 'legacy' });
    try {
      expect(first.plan.reason).toContain('/proc/self/fd');
      expect(readFileSync(join(d.m1, 'top'), 'utf8')).toBe('top');
      const seen = parseOverlayOptions(readMountInfoSync().find((e) => e.mountId === first.mountId)!.superOptions);
      expect(seen.lower).toHaveLength(400);
      for (const l of seen.lower) expect(l).toMatch(/^\d+$/);
      expect({ upper: seen.upper, work: seen.work }).toEqual({ upper: d.u1, work: d.w1 });

      const other = inAnotherProcess(d.u1, d.w1, { lower: [d.b], upper: d.u1, work: d.w2, target: d.m2 });
      expect(other.upper).toEqual([{ target: d.m1, mountId: first.mountId, as: 'upper' }]);
      expect(other.work).toEqual([{ target: d.m1, mountId: first.mountId, as: 'work' }]);
      expect(other.mounted).toBeUndefined();
      expect(other.error).toEqual({
        name: 'OverlaySpecError',
        problems: [
          {
            field: 'upper',
            problem: `is already the upper dir of the overlay mounted at '${d.m1}' (mount ${first.mountId}); two mounts sharing it is undefined behaviour. Unmount it, or pass allowShared: true`,
          },
        ],
      });
      expect(mountsUnder(d.root)).toEqual([d.m1]);
      expect(existsSync(d.w2)).toBe(false);
    } finally {
      first.unmountSync({ cleanWorkdir: true });
    }
    expectUnmounted(d.m1);
    expect(mountsUnder(d.root)).toEqual([]);
  });
});

describePrivileged('another process mounting the same upper at the same time', () => {
  // flock(1) holds the upper's lock as another mounting process would, and mounts the first
  // overlay half a second in: the library, started meanwhile, must wait for the lock and then
  // see that mount, rather than read the table before it and mount the same upper beside it.
  for (const [name, mount] of [
    ['mountOverlaySync', (spec: OverlaySpec) => Promise.resolve().then(() => mountOverlaySync(spec))],
    ['mountOverlay', (spec: OverlaySpec) => mountOverlay(spec)],
  ] as const) {
    it(`${name} waits for the lock on upper and work, then refuses the upper the other mounted`, async () => {
      const d = dirs();
      mkdirSync(d.w1);
      const script = `sleep 0.5; mount -t overlay overlay -o lowerdir=${d.a},upperdir=${d.u1},workdir=${d.w1} ${d.m1}`;
      const other = spawn('flock', [d.u1, 'sh', '-c', `echo locked; ${script}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise((resolve) => other.stdout.once('data', resolve));
        const err = await mount({ lower: [d.b], upper: d.u1, work: d.w1, target: d.m2 }).then(
          (m) => {
            m.unmountSync();
            return undefined;
          },
          (e: unknown) => e,
        );
        expect(problemsOf(err)).toEqual([
          expect.objectContaining({ field: 'upper', problem: expect.stringContaining(`the upper dir of the overlay mounted at '${d.m1}'`) }),
          expect.objectContaining({ field: 'work', problem: expect.stringContaining(`the work dir of the overlay mounted at '${d.m1}'`) }),
        ]);
        expect(mountsUnder(d.root)).toEqual([d.m1]);
      } finally {
        await new Promise((resolve) => (other.exitCode !== null ? resolve(undefined) : other.once('exit', resolve)));
        sys.umount2Sync(d.m1);
      }
    });
  }

  it('the lock is released with the mount made and with a mount refused: the next one does not wait', async () => {
    const d = dirs();
    const m = await mountOverlay({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 });
    await expect(mountOverlay({ lower: [d.b], upper: d.u1, work: d.w1, target: d.m2 })).rejects.toBeInstanceOf(OverlaySpecError);
    await m.unmount();
    // flock -n fails at once if anything of ours still holds either lock.
    for (const dir of [d.u1, d.w1]) expect(spawnSync('flock', ['-n', dir, 'true']).status).toBe(0);
  });
});

describePrivileged('cleanWorkdir', () => {
  it("removes the kernel's work/ (mode 000) after unmount; refuses while mounted", () => {
    const d = dirs();
    const m = mountOverlaySync({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1 });
    expect(statSync(join(d.w1, 'work')).mode & 0o777).toBe(0);
    const busy = caughtSync(() => cleanWorkdirSync(d.w1));
    expect(problemsOf(busy)).toEqual([{ field: 'work', problem: `is still the work dir of the overlay at '${d.m1}'` }]);
    expect(existsSync(join(d.w1, 'work'))).toBe(true);
    m.unmountSync();
    expect(statSync(join(d.w1, 'work')).mode & 0o777).toBe(0);
    expect(cleanWorkdirSync(d.w1)).toEqual([join(d.w1, 'work')]);
    expect(existsSync(join(d.w1, 'work'))).toBe(false);
    expect(existsSync(d.w1)).toBe(true);
    expect(cleanWorkdirSync(d.w1)).toEqual([]);
    expectUnmounted(d.m1);
  });

  it('with index=on, unmount({ cleanWorkdir: true }) removes index/ too', async () => {
    const d = dirs();
    const m = await mountOverlay({ lower: [d.a], upper: d.u1, work: d.w1, target: d.m1, options: { index: 'on' } });
    expect(statSync(join(d.w1, 'index')).mode & 0o777).toBe(0);
    await m.unmount({ cleanWorkdir: true });
    expect(existsSync(join(d.w1, 'work'))).toBe(false);
    expect(existsSync(join(d.w1, 'index'))).toBe(false);
    expectUnmounted(d.m1);
  });
});

describePrivileged('a stale volatile marker', () => {
  it('is refused with a problem naming work and clearVolatile; clearVolatile: true mounts', async () => {
    const d = dirs();
    const spec: OverlaySpec = { lower: [d.a], upper: d.u1, work: d.w1, target: d.m1, options: { volatile: true } };
    const m = mountOverlaySync(spec);
    writeFileSync(join(d.m1, 'f'), 'f');
    m.unmountSync();
    const marker = join(d.w1, 'work', 'incompat', 'volatile');
    expect(existsSync(marker)).toBe(true);
    expect(hasStaleVolatileSync(d.w1)).toBe(true);

    // Proof the marker matters: the kernel itself refuses this work dir.
    const raw = caughtSync(() => sys.mountSync('overlay', d.m1, 'overlay', { data: `lowerdir=${d.a},upperdir=${d.u1},workdir=${d.w1}` }));
    expect(raw.code).toBe('EINVAL');

    for (const again of [spec, { ...spec, options: {} }]) {
      const fds = openFdCount();
      const err = await caught(() => mountOverlay(again));
      const p = problemsOf(err);
      expect(p.map((x) => x.field)).toEqual(['work']);
      expect(p[0]!.problem).toContain(marker);
      expect(p[0]!.problem).toContain('clearVolatile: true');
      expect(mountsUnder(d.root)).toEqual([]);
      expect(openFdCount()).toBe(fds);
      expect(existsSync(marker)).toBe(true);
    }

    const cleared = await mountOverlay({ ...spec, clearVolatile: true });
    try {
      expect(readFileSync(join(d.m1, 'f'), 'utf8')).toBe('f');
    } finally {
      await cleared.unmount();
    }
    // That mount was volatile again, so it left a new marker; a non-volatile one leaves none.
    expect(hasStaleVolatileSync(d.w1)).toBe(true);
    const plain = mountOverlaySync({ ...spec, options: {}, clearVolatile: true });
    plain.unmountSync();
    expect(hasStaleVolatileSync(d.w1)).toBe(false);
    expectUnmounted(d.m1);
  });
});
