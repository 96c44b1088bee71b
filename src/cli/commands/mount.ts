/** `ovl mount` (mount(8)'s overlay syntax, or one flag per layer; -o remount) and `ovl umount`. */
import { isAbsolute, resolve } from 'node:path';
import { MNT } from '../../sys/constants.js';
import { runSync, steps } from '../../sys/io.js';
import { isOverlayError } from '../../spec/errors.js';
import { parseMountOptions, specFromMountOptions, splitMountOptions } from '../../spec/mount-syntax.js';
import type { MountAttributes, OverlaySpec, Strategy } from '../../spec/types.js';
import { describeHolders } from '../../read/holders.js';
import { findOverlaySync } from '../../read/inspect.js';
import { lockedUmount, unmountAndCleanTask } from '../../mount/handle.js';
import { lockOrder } from '../../mount/lock.js';
import { mountOverlay } from '../../mount/overlay.js';
import { formatPlan, plan } from '../../mount/plan.js';
import { probe } from '../../mount/probe.js';
import { remount } from '../../mount/remount.js';
import { validateSpec } from '../../mount/validate.js';
import { EXIT_FAILURE, printFailure, UsageError, type Values } from '../command.js';
import { err, json, out } from '../output.js';

/**
 * Relative paths mean what they mean to mount(8): relative to the caller's cwd. Only relative
 * paths change, and only '.' is dropped: resolve() would also fold 'link/..', which the kernel
 * resolves through the link.
 */
const abs = (p: string) => (isAbsolute(p) || p === '' ? p : [process.cwd(), ...p.split('/').filter((c) => c !== '.' && c !== '')].join('/'));

/** `-o remount,ro,nosuid TARGET`: the attributes to change on a mounted overlay. */
async function cmdRemount(options: string[], target: string, v: Values): Promise<number | void> {
  const parsed = parseMountOptions(options.flatMap(splitMountOptions).filter((o) => o !== 'remount'));
  const { attributes, ...rest } = parsed;
  const other = Object.keys(rest);
  if (other.length > 0) {
    throw new UsageError(`-o remount changes only mount attributes (ro, rw, nosuid, nodev, noexec, atime modes, nodiratime, nosymfollow); the kernel refuses to change ${other.join(', ')} of a mounted overlay`);
  }
  if (findOverlaySync(target) === undefined) {
    err(`ovl: no overlay is mounted at '${target}'`);
    return EXIT_FAILURE;
  }
  await remount(target, attributes ?? ({} as MountAttributes));
  if (v.json) json({ target, attributes: attributes ?? {} });
}

export async function mount(v: Values, positionals: string[]): Promise<number | void> {
  if (v.types !== undefined && v.types !== 'overlay') throw new UsageError(`ovl mounts overlays only (-t ${String(v.types)})`);
  if (positionals.length === 0 || positionals.length > 2) throw new UsageError('mount needs a TARGET (and optionally a SOURCE before it)');
  const target = resolve(positionals[positionals.length - 1]!);
  const source = positionals.length === 2 ? positionals[0] : undefined;
  const opts = (v.options as string[] | undefined) ?? [];
  const lowers = (v.lower as string[] | undefined) ?? [];
  if (v.strategy !== undefined && !['lowerdir+', 'fd', 'legacy'].includes(v.strategy as string)) {
    throw new UsageError(`--strategy must be lowerdir+, fd or legacy, not '${String(v.strategy)}'`);
  }
  if (v.readonly && v.readwrite) throw new UsageError('-r and -w exclude each other');
  const flags = [...opts, ...((v.option as string[] | undefined) ?? []), ...(v.readonly ? ['ro'] : []), ...(v.readwrite ? ['rw'] : [])];
  if (flags.flatMap(splitMountOptions).includes('remount')) return cmdRemount(flags, target, v);
  let spec: OverlaySpec;
  if (lowers.length > 0) {
    // The friendly form: one flag per layer, no escaping; -o/--option for everything else.
    const parsed = parseMountOptions(flags);
    if (parsed.lower !== undefined) throw new UsageError('give the layers either with --lower or with -o lowerdir=, not both');
    spec = { ...parsed, lower: lowers.map(abs), target };
    if (source !== undefined && source !== 'overlay') spec.source = source;
  } else {
    spec = specFromMountOptions(flags, target, source);
    spec.lower = spec.lower.map(abs);
    if (spec.data) spec.data = spec.data.map(abs);
    if (spec.upper !== undefined) spec.upper = abs(spec.upper);
    if (spec.work !== undefined) spec.work = abs(spec.work);
  }
  // An empty path stays empty (the spec checks refuse it by name); it never becomes the cwd.
  if (v.data !== undefined) spec.data = (v.data as string[]).map(abs);
  if (v.upper !== undefined) spec.upper = abs(v.upper as string);
  if (v.work !== undefined) spec.work = abs(v.work as string);
  if (v.strategy) spec.strategy = v.strategy as Strategy;
  if (v['allow-shared']) spec.allowShared = true;
  if (v['clear-volatile']) spec.clearVolatile = true;
  if (v['dry-run']) {
    // Everything a real mount would check before its first syscall, then the plan.
    const p = plan(await validateSpec(spec), await probe());
    if (v.json) return json(p);
    out(formatPlan(p));
    return;
  }
  const m = await mountOverlay(spec);
  for (const w of m.plan.warnings) err(`ovl: warning: ${w}`);
  if (v.json) json({ target: m.target, mountId: m.mountId, strategy: m.strategy, byFd: m.byFd, kernelMessages: m.kernelMessages });
}

/** One target of `ovl umount`; its exit code, and what it did for --json. */
function umountOne(target: string, v: Values, results: unknown[]): number {
  const abs = resolve(target);
  const info = findOverlaySync(abs);
  const clean = v['clean-workdir'] === true;
  if (!info) {
    err(`ovl: no overlay is mounted at '${abs}'`);
    return EXIT_FAILURE;
  }
  if (clean && info.work !== undefined && (!info.pathsKnown || !isAbsolute(info.work))) {
    // Relative to the mounter's cwd, or an fd's path inside its own mount (often '/'): cleaning
    // there would remove some other directory's work/ and index/.
    err(`ovl: cannot clean the work dir of '${abs}': the kernel shows it as '${info.work}', not where it is; nothing was unmounted`);
    return EXIT_FAILURE;
  }
  try {
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
    // With --json what was removed is in the output; on stderr only for people.
    if (!v.json) for (const p of r.cleaned) err(`ovl: removed ${p}`);
    results.push({ target: abs, ...r });
    return 0;
  } catch (e) {
    if (isOverlayError(e)) {
      err(`ovl: ${e.message}`);
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
