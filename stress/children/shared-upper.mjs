// Scenario "shared-upper": one of N processes that mount the same upper and work, each at its
// own target, in a loop: mount, check, hold, unmount. Config: { lower, upper, work, target,
// others (the other processes' targets), options (the spec's), seconds, holdMs, mode: 'sync' |
// 'promise' }.
//
// A win is checked at once against /proc/self/mountinfo: exactly one overlay may have the shared
// upper, and it is ours. A loss must be the library's refusal (OverlaySpecError) naming the
// overlay of another of these processes; anything else is counted as an error.
import { setTimeout as sleep } from 'node:timers/promises';
import { config, emit, errorOf, exitIfOrphaned, go, overlaysWithUpper } from './common.mjs';

const c = config();
const { mountOverlay, mountOverlaySync, OverlaySpecError } = await import('../../dist/index.js');
const spec = { lower: [c.lower], upper: c.upper, work: c.work, target: c.target, options: c.options ?? {} };
const sync = c.mode === 'sync';
const blocker = new Int32Array(new SharedArrayBuffer(4));

/** A refusal naming another of these processes' overlays as the user of upper or work. */
function namesAnother(e) {
  return (
    e instanceof OverlaySpecError &&
    e.problems.length > 0 &&
    e.problems.every((p) => (p.field === 'upper' || p.field === 'work') && c.others.some((t) => p.problem.includes(`mounted at '${t}'`)))
  );
}

// Counts, and the first few cases of what breaks the invariant.
const r = { target: c.target, mode: c.mode, attempts: 0, wins: 0, refusals: 0, errors: 0, errorCodes: {}, overlaps: 0, ownNotSeen: 0, samples: [] };
const sample = (what) => r.samples.length < 10 && r.samples.push(what);
emit({ type: 'ready' });
await go();
const end = Date.now() + c.seconds * 1000;
while (Date.now() < end) {
  exitIfOrphaned();
  r.attempts++;
  let m;
  try {
    m = sync ? mountOverlaySync(spec) : await mountOverlay(spec);
  } catch (e) {
    if (namesAnother(e)) r.refusals++;
    else {
      r.errors++;
      r.errorCodes[e?.code ?? e?.name] = (r.errorCodes[e?.code ?? e?.name] ?? 0) + 1;
      sample({ error: errorOf(e) });
    }
    continue;
  }
  r.wins++;
  try {
    const users = overlaysWithUpper(c.upper);
    if (!users.some((u) => u.mountId === m.mountId)) {
      r.ownNotSeen++;
      sample({ ownNotSeen: m.mountId, users });
    }
    if (users.length > 1) {
      r.overlaps++;
      sample({ overlap: users.map((u) => u.mountPoint) });
    }
    if (sync) Atomics.wait(blocker, 0, 0, c.holdMs);
    else await sleep(c.holdMs);
  } finally {
    if (sync) m.unmountSync();
    else await m.unmount();
  }
}
emit({ type: 'result', ...r });
process.exit(0);
