// Scenario "kill-9": first the recovery, then the victim. Config: { lower, upper, work, target,
// victim: boolean }. stress/run.mjs starts one of these after each SIGKILL of the last.
//
// Recovery: a fresh process mounts the spec the killed one was mounting. What the README
// promises after a crash is what this allows, and nothing more: the cross-process lock is
// released by the kernel with the dead process's fds (nothing to recover), a directory the
// library made is a directory like any other, and an overlay the dead process had attached is
// still mounted (its handle died with it): the library refuses the upper and work then, naming
// that mount ("Unmount it, or pass allowShared: true"). So the recovery is: mount; if, and only
// if, the refusal names an overlay at this spec's own target, unmount that one (umount2, as `ovl
// umount` does) and mount again. Any other outcome is a failed recovery. The recovered mount is
// then read, written through and unmounted, and the process must hold as many fds as before.
//
// Victim: mount, read, write, unmount in a loop (cleaning the work dir every other time and
// removing it every fourth, so that its creation is in the loop too) until SIGKILL. It says
// "ready" when the loop starts; the parent kills it a random 0-50 ms later.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { config, emit, errorOf, exitIfOrphaned, fdCount } from './common.mjs';

const c = config();
const { MNT, mountOverlaySync, OverlaySpecError, sys, validateSpecSync } = await import('../../dist/index.js');
const spec = { lower: [c.lower], upper: c.upper, work: c.work, target: c.target };

function useAndUnmount(m, i, cleanWorkdir) {
  if (readFileSync(join(c.target, 'file'), 'utf8') !== 'lower\n') throw new Error(`${c.target}/file: not the lower layer's content`);
  writeFileSync(join(c.target, 'written'), `${process.pid} ${i}\n`);
  m.unmountSync({ cleanWorkdir });
}

// ---- recovery ----
validateSpecSync(spec); // loads the addon before the fds are counted
const fdsBefore = fdCount();
const rec = { type: 'recovery', ok: false, unmountedLeftover: false };
try {
  let m;
  try {
    m = mountOverlaySync(spec);
  } catch (e) {
    const leftover = e instanceof OverlaySpecError && e.problems.length > 0 && e.problems.every((p) => p.problem.includes(`mounted at '${c.target}'`));
    if (!leftover) throw e;
    sys.umount2Sync(c.target, { flags: MNT.UMOUNT_NOFOLLOW });
    rec.unmountedLeftover = true;
    m = mountOverlaySync(spec);
  }
  useAndUnmount(m, -1, false);
  rec.fdsBefore = fdsBefore;
  rec.fdsAfter = fdCount();
  rec.ok = rec.fdsAfter === fdsBefore;
  if (!rec.ok) rec.error = { message: `${rec.fdsAfter - fdsBefore} fd(s) more after the recovered mount and unmount` };
} catch (e) {
  rec.error = errorOf(e);
}
emit(rec);
if (!c.victim || !rec.ok) process.exit(0);

// ---- victim ----
emit({ type: 'ready' });
for (let i = 0; ; i++) {
  if (i % 16 === 0) exitIfOrphaned();
  try {
    useAndUnmount(mountOverlaySync(spec), i, i % 2 === 1);
    if (i % 4 === 3) rmSync(c.work, { recursive: true, force: true });
  } catch (e) {
    emit({ type: 'victim-error', iteration: i, error: errorOf(e) });
    process.exit(1);
  }
}
