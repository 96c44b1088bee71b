import { expect, it } from 'vitest';
import { sys } from '../../src/index.js';
import { leakedFdCount } from '../../src/sys/fd.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import { caught } from '../helpers/overlay.js';
import { openFdCount } from '../helpers/tmp.js';

/** Collects garbage (vitest runs this project with --expose-gc) and lets finalizers run. */
async function collect(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  expect(gc).toBeTypeOf('function');
  gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  gc?.();
}

describePrivileged('fsopen/close cycles leak no fds', () => {
  it('10,000 fsopenSync/close cycles: /proc/self/fd and leakedFdCount() unchanged', async () => {
    const fds = openFdCount();
    const leaked = leakedFdCount();
    let last = -1;
    for (let i = 0; i < 10_000; i++) {
      const fs = sys.fsopenSync('overlay');
      last = fs.fd;
      fs.close();
    }
    expect(last).toBeGreaterThan(2);
    expect(openFdCount()).toBe(fds);
    // Every handle was closed by close(), so collecting them must not make a finalizer close any.
    await collect();
    expect(leakedFdCount()).toBe(leaked);
  });

  it('1,000 async fsopen/close cycles, 50 in flight at a time: nothing left over', async () => {
    const fds = openFdCount();
    const leaked = leakedFdCount();
    for (let round = 0; round < 20; round++) {
      const handles = await Promise.all(Array.from({ length: 50 }, () => sys.fsopen('overlay')));
      expect(new Set(handles.map((h) => h.fd)).size).toBe(50);
      for (const h of handles) h.close();
    }
    expect(openFdCount()).toBe(fds);
    // Every handle was closed by close(), so collecting them must not make a finalizer close any.
    await collect();
    expect(leakedFdCount()).toBe(leaked);
  });

  itWithKernel('fsContextParser', '1,000 failing batches (fsopen, bad key) close the fd they opened', async () => {
    const fds = openFdCount();
    const leaked = leakedFdCount();
    const steps = [
      { op: 'fsopen', fsname: 'overlay' },
      { op: 'fsconfigSetString', fs: 0, key: 'thekey', value: 'v' },
    ] as const;
    for (let i = 0; i < 500; i++) expect(() => sys.runStepsSync([...steps])).toThrow(/EINVAL/);
    for (let i = 0; i < 10; i++) {
      const errs = await Promise.all(Array.from({ length: 50 }, () => caught(() => sys.runSteps([...steps]))));
      expect(errs.every((e) => e.code === 'EINVAL' && e.step === 1)).toBe(true);
    }
    expect(openFdCount()).toBe(fds);
    // Every handle was closed by close(), so collecting them must not make a finalizer close any.
    await collect();
    expect(leakedFdCount()).toBe(leaked);
  });
});
