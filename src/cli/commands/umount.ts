/**
 * `ovl umount`: several targets, -l, -R, -v, --clean-workdir, umount(8)'s words and exit codes.
 * Its own module, so an unmount loads none of the mount path (validation, planning, probing).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { isOverlayError } from '../../spec/errors.js';
import { describeHolders } from '../../read/holders.js';
import { readMountInfoSync } from '../../read/mountinfo.js';
import { unmountOverlaySync } from '../../mount/unmount.js';
import { cliWords, EXIT_FAILURE, printFailure, recordFailure, UsageError, type Values } from '../command.js';
import { err, json, paint } from '../output.js';

/** umount(8)'s words for a target that is not an overlay mount point. */
function notMounted(target: string): string {
  const mounted = readMountInfoSync().some((m) => m.mountPoint === target);
  if (mounted) return `ovl: ${target}: not an overlay (ovl umount unmounts overlays only; use umount(8))`;
  return existsSync(target) ? `ovl: ${target}: not mounted.` : `ovl: ${target}: no mount point specified.`;
}

/** One target of `ovl umount`; its exit code, and what it did for --json. */
function umountOne(target: string, v: Values, results: unknown[]): number {
  const abs = resolve(target);
  const clean = v['clean-workdir'] === true;
  try {
    const r = unmountOverlaySync(abs, {
      detach: v.lazy === true,
      cleanWorkdir: clean,
      recursive: v.recursive === true,
      onUnmounted: (p) => v.verbose && err(`ovl: ${p} unmounted`),
    });
    if (r.stillInUse) {
      const left = clean ? `, so its work dir '${r.work}' was not cleaned` : '';
      err(`ovl: warning: '${abs}' is detached but still in use (${describeHolders(r.holders)}): the overlay lives on until its last user is gone${left}`);
    }
    // umount(8) -v's words.
    if (v.verbose) err(`ovl: ${abs} unmounted`);
    // With --json what was removed is in the output; on stderr only for people.
    if (!v.json) for (const p of r.cleaned) err(`ovl: removed ${p}`);
    const { beneath: _beneath, target: _target, work: _work, ...rest } = r;
    results.push({ target: abs, ...rest });
    return 0;
  } catch (e) {
    recordFailure(e);
    if (isOverlayError(e) && e.code === 'ERR_NOT_OVERLAY') {
      err(notMounted(abs));
      return EXIT_FAILURE;
    }
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
