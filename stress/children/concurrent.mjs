// Scenario "concurrent": in one process, Promise.all of `n` mountOverlay() on distinct upper,
// work and target dirs, then Promise.all of their unmounts; rounds until `seconds` have passed
// (at least `minRounds`). Config: { dir, n, seconds, minRounds }. Run with --expose-gc.
//
// Invariant: no mount or unmount fails, every merged dir shows the lower layer, and afterwards
// this process has the fds it had after a warm-up round (/proc/self/fd), no handle was closed
// by a finalizer instead of explicitly (the addon's leak counter, after two GCs), and nothing is
// mounted under `dir`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { config, emit, errorOf, exitIfOrphaned, fdCount, mountsUnder } from './common.mjs';

const c = config();
const { mountOverlay } = await import('../../dist/index.js');
const { leakedFdCount } = await import('../../dist/sys/fd.js');

const lower = join(c.dir, 'lower');
mkdirSync(lower, { recursive: true });
writeFileSync(join(lower, 'file'), 'lower\n');
const specs = Array.from({ length: c.n }, (_, i) => {
  const s = { lower: [lower], upper: join(c.dir, `u${i}`), work: join(c.dir, `w${i}`), target: join(c.dir, `m${i}`) };
  mkdirSync(s.upper);
  mkdirSync(s.target);
  return s;
});

const r = { type: 'result', n: c.n, rounds: 0, mounts: 0, errors: 0, wrongContent: 0, roundMs: [], samples: [] };
const sample = (what) => r.samples.length < 10 && r.samples.push(what);

async function round() {
  const t0 = performance.now();
  const mounted = await Promise.allSettled(specs.map((s) => mountOverlay(s)));
  const handles = [];
  for (const [i, m] of mounted.entries()) {
    if (m.status === 'rejected') {
      r.errors++;
      sample({ mount: specs[i].target, error: errorOf(m.reason) });
      continue;
    }
    r.mounts++;
    handles.push(m.value);
    if (readFileSync(join(specs[i].target, 'file'), 'utf8') !== 'lower\n') r.wrongContent++;
  }
  const unmounted = await Promise.allSettled(handles.map((h) => h.unmount()));
  for (const [i, u] of unmounted.entries()) {
    if (u.status === 'rejected') {
      r.errors++;
      sample({ unmount: handles[i].target, error: errorOf(u.reason) });
    }
  }
  return performance.now() - t0;
}

async function collect() {
  globalThis.gc();
  await new Promise((resolve) => setImmediate(resolve));
  globalThis.gc();
}

// The first round (counted like the others) loads the addon, probes and starts the thread
// pool's threads: the fds are counted after it.
r.roundMs.push(await round());
r.rounds++;
await collect();
const fds = fdCount();
const leaked = leakedFdCount();
const end = Date.now() + c.seconds * 1000;
while (r.rounds < c.minRounds || Date.now() < end) {
  exitIfOrphaned();
  r.roundMs.push(await round());
  r.rounds++;
}
await collect();
Object.assign(r, { fdsBefore: fds, fdsAfter: fdCount(), finalizerClosed: leakedFdCount() - leaked, mountsLeft: mountsUnder(c.dir) });
emit(r);
process.exit(0);
