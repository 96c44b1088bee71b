/**
 * `ovl umount`: several targets, -l, -R, -v, --clean-workdir, umount(8)'s words and exit codes.
 * Its own module, so an unmount loads none of the mount path (validation, planning, probing).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { MNT } from '../../sys/constants.js';
import { runSync, steps } from '../../sys/io.js';
import { isOverlayError } from '../../spec/errors.js';
import { describeHolders } from '../../read/holders.js';
import { findOverlaySync } from '../../read/inspect.js';
import { readMountInfoSync } from '../../read/mountinfo.js';
import { descendantMountIds, lockedUmount, unmountAndCleanTask } from '../../mount/handle.js';
import { lockOrder } from '../../mount/lock.js';
import { cliWords, EXIT_FAILURE, printFailure, recordFailure, UsageError, type Values } from '../command.js';
import { err, json, paint } from '../output.js';

/** umount(8)'s words for a target that is not an overlay mount point. */
function notMounted(target: string): string {
  const mounted = readMountInfoSync().some((m) => m.mountPoint === target);
  if (mounted) return `ovl: ${target}: not an overlay (ovl umount unmounts overlays only; use umount(8))`;
  return existsSync(target) ? `ovl: ${target}: not mounted.` : `ovl: ${target}: no mount point specified.`;
}

/**
 * -R: what is mounted beneath the overlay, innermost first (deepest in the mount tree, and of
 * mounts stacked on one path the top one first), then nothing else: the overlay is next.
 */
function umountBeneath(mountId: number, detach: boolean, verbose: boolean): void {
  const below = new Set(runSync(descendantMountIds(mountId)));
  if (below.size === 0) return;
  const table = readMountInfoSync();
  const byId = new Map(table.map((m, i) => [m.mountId, { ...m, index: i }]));
  const depth = (id: number): number => {
    let d = 0;
    for (let m = byId.get(id); m && below.has(m.mountId); m = byId.get(m.parentId)) d++;
    return d;
  };
  const order = [...below].map((id) => byId.get(id)!).filter(Boolean).sort((a, b) => depth(b.mountId) - depth(a.mountId) || b.index - a.index);
  for (const m of order) {
    runSync(steps([{ op: 'umount2', target: m.mountPoint, flags: MNT.UMOUNT_NOFOLLOW | (detach ? MNT.DETACH : 0) }]));
    if (verbose) err(`ovl: ${m.mountPoint} unmounted`);
  }
}

/** One target of `ovl umount`; its exit code, and what it did for --json. */
function umountOne(target: string, v: Values, results: unknown[]): number {
  const abs = resolve(target);
  const info = findOverlaySync(abs);
  const clean = v['clean-workdir'] === true;
  if (!info) {
    err(notMounted(abs));
    return EXIT_FAILURE;
  }
  if (clean && info.work !== undefined && (!info.pathsKnown || !isAbsolute(info.work))) {
    // Relative to the mounter's cwd, or an fd's path inside its own mount (often '/'): cleaning
    // there would remove some other directory's work/ and index/.
    err(`ovl: cannot clean the work dir of '${abs}': the kernel shows it as '${info.work}', not where it is; nothing was unmounted`);
    return EXIT_FAILURE;
  }
  try {
    if (v.recursive) umountBeneath(info.mountId, v.lazy === true, v.verbose === true);
    const r = runSync(
      unmountAndCleanTask(
        // Under the locks a mount of the same upper and work takes (the kernel's paths are real ones).
        (detach) => lockedUmount(abs, info.pathsKnown ? lockOrder([info.upper, info.work].filter((p): p is string => p !== undefined && isAbsolute(p))) : [], detach),
        { target: abs, mountId: info.mountId, upper: info.upper, work: clean ? info.work : undefined },
        { detach: v.lazy === true, cleanWorkdir: clean },
      ),
    );
    if (r.stillInUse) {
      const left = clean ? `, so its work dir '${info.work}' was not cleaned` : '';
      err(`ovl: warning: '${abs}' is detached but still in use (${describeHolders(r.holders)}): the overlay lives on until its last user is gone${left}`);
    }
    // umount(8) -v's words.
    if (v.verbose) err(`ovl: ${abs} unmounted`);
    // With --json what was removed is in the output; on stderr only for people.
    if (!v.json) for (const p of r.cleaned) err(`ovl: removed ${p}`);
    results.push({ target: abs, ...r });
    return 0;
  } catch (e) {
    recordFailure(e);
    if (isOverlayError(e)) {
      err(`ovl: ${e.message}`);
      return EXIT_FAILURE;
    }
    const x = e as { code?: string; hint?: string; message?: string };
    if (x.code === 'EBUSY') {
      // umount(8)'s first line; who holds it and the way out (--lazy) after it, in ours.
      err(paint(process.stderr, 'red', `ovl: ${abs}: target is busy.`));
      err(`       ${x.message ?? ''}`);
      if (x.hint) err(`       hint: ${cliWords(x.hint)}`);
      return EXIT_FAILURE;
    }
    return printFailure(e);
  }
}

/**
 * Unmounts each TARGET. The exit code is umount(8)'s: the sum of each target's (32 for a
 * failure), so 0 means every one is unmounted.
 */
export function umount(v: Values, targets: string[]): number {
  if (targets.length === 0) throw new UsageError('umount needs a TARGET');
  const results: unknown[] = [];
  const code = targets.reduce((sum, t) => sum + umountOne(t, v, results), 0);
  if (v.json) json(results);
  return Math.min(code, 255);
}
