/** `ovl mount`: mount(8)'s overlay syntax, or one flag per layer; -o remount; the overlay list. */
import { isAbsolute, resolve } from 'node:path';
import { readMountInfoSync } from '../../read/mountinfo.js';
import { parseMountOptions, specFromMountOptions, splitMountOptions } from '../../spec/mount-syntax.js';
import type { MountAttributes, OverlaySpec, Strategy } from '../../spec/types.js';
import { idMapFlags } from '../idmap.js';
import { findOverlaySync } from '../../read/inspect.js';
import { mountOverlaySync } from '../../mount/overlay.js';
import { formatPlan, plan } from '../../mount/plan.js';
import { probeSync } from '../../mount/probe.js';
import { remountSync } from '../../mount/remount.js';
import { validateSpecSync } from '../../mount/validate.js';
import { EXIT_FAILURE, failureInfo, printFailure, recordFailure, UsageError, type Values } from '../command.js';
import { listOverlayMounts, mount8Failure } from '../mount8.js';
import { err, json, out, paint } from '../output.js';

const OPTIONS_MODES = ['ignore', 'append', 'prepend', 'replace'];

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
    const mounted = readMountInfoSync().some((m) => m.mountPoint === target);
    // mount(8)'s words where nothing is mounted; ovl changes overlays only.
    err(mounted ? `ovl: ${target}: not an overlay (ovl mount -o remount changes overlays only; use mount(8))` : `ovl: ${target}: mount point not mounted or bad option.`);
    return EXIT_FAILURE;
  }
  remountSync(target, attributes ?? ({} as MountAttributes));
  if (v.json) json({ target, attributes: attributes ?? {} });
}

/**
 * A failed mount. In mount(8)'s syntax: the first line as mount(8) words it, then what went wrong
 * in our words, then (with -v) the stage, strategy and hint. In the --lower form: ours throughout.
 * --json adds the failure as data on stdout.
 */
function mountFailed(e: unknown, v: Values, ctx: Parameters<typeof mount8Failure>[1] | undefined): number {
  if (v.json) json({ error: failureInfo(e) });
  if (!ctx) return printFailure(e);
  recordFailure(e);
  const f = mount8Failure(e, ctx);
  err(paint(process.stderr, 'red', `ovl: ${f.first}`));
  for (const line of f.detail) err(`       ${line}`);
  if (v.verbose) for (const line of f.verbose) err(`       ${line}`);
  return EXIT_FAILURE;
}

export async function mount(v: Values, positionals: string[]): Promise<number | void> {
  if (v.types !== undefined && v.types !== 'overlay') throw new UsageError(`ovl mounts overlays only (-t ${String(v.types)})`);
  if (v['options-mode'] !== undefined && !OPTIONS_MODES.includes(v['options-mode'] as string)) {
    throw new UsageError(`--options-mode must be one of ${OPTIONS_MODES.join(', ')}, not '${String(v['options-mode'])}'`);
  }
  const opts = (v.options as string[] | undefined) ?? [];
  const lowers = (v.lower as string[] | undefined) ?? [];
  const friendly = lowers.length > 0 || v.data !== undefined || v.upper !== undefined || v.work !== undefined;
  if (positionals.length === 0 && opts.length === 0 && !friendly && !v.readonly && !v.readwrite) {
    // `mount -t overlay`: the overlay mounts, as mount(8) lists them.
    for (const line of listOverlayMounts()) out(line);
    return;
  }
  if (positionals.length === 0 || positionals.length > 2) throw new UsageError('mount needs a TARGET (and optionally a SOURCE before it)');
  const target = resolve(positionals[positionals.length - 1]!);
  const source = positionals.length === 2 ? positionals[0] : undefined;
  if (v.strategy !== undefined && !['lowerdir+', 'fd', 'legacy'].includes(v.strategy as string)) {
    throw new UsageError(`--strategy must be lowerdir+, fd or legacy, not '${String(v.strategy)}'`);
  }
  if (v.readonly && v.readwrite) throw new UsageError('-r and -w exclude each other');
  const flags = [...opts, ...((v.option as string[] | undefined) ?? []), ...(v.readonly ? ['ro'] : []), ...(v.readwrite ? ['rw'] : [])];
  if (flags.flatMap(splitMountOptions).includes('remount')) return cmdRemount(flags, target, v);
  // mount(8)'s LIBMOUNT_FORCE_MOUNT2=always: mount(2), i.e. the legacy strategy (--strategy wins).
  const strategy = (v.strategy as Strategy | undefined) ?? (process.env.LIBMOUNT_FORCE_MOUNT2 === 'always' ? 'legacy' : undefined);
  let ctx: Parameters<typeof mount8Failure>[1] | undefined;
  try {
    let spec: OverlaySpec;
    if (friendly) {
      // The friendly form: one flag per layer, no escaping; -o/--option for everything else.
      const parsed = parseMountOptions(flags);
      if (parsed.lower !== undefined) throw new UsageError('give the layers either with --lower or with -o lowerdir=, not both');
      spec = { ...parsed, lower: lowers.map(abs), target };
      if (source !== undefined && source !== 'overlay') spec.source = source;
    } else {
      ctx = { target, source: source ?? 'overlay', legacy: strategy === 'legacy' };
      spec = specFromMountOptions(flags, target, source);
      spec.lower = spec.lower.map(abs);
      if (spec.data) spec.data = spec.data.map(abs);
      if (spec.upper !== undefined) spec.upper = abs(spec.upper);
      if (spec.work !== undefined) spec.work = abs(spec.work);
      ctx.readOnly = spec.attributes?.readOnly === true;
    }
    // An empty path stays empty (the spec checks refuse it by name); it never becomes the cwd.
    if (v.data !== undefined) spec.data = (v.data as string[]).map(abs);
    if (v.upper !== undefined) spec.upper = abs(v.upper as string);
    if (v.work !== undefined) spec.work = abs(v.work as string);
    if (strategy) spec.strategy = strategy;
    if (v['allow-shared']) spec.allowShared = true;
    if (v['clear-volatile']) spec.clearVolatile = true;
    const idmap = idMapFlags(v, 'idmap');
    if (idmap) spec.idmap = idmap;
    if (v['dry-run'] || v.fake) {
      // Everything a real mount would check before its first syscall, then the plan. -f (mount(8)'s
      // --fake) is as quiet as mount -f unless -v or --json asks.
      const p = plan(validateSpecSync(spec), probeSync());
      if (v.json) return json(p);
      if (v['dry-run'] || v.verbose) out(formatPlan(p));
      return;
    }
    // The blocking forms: a command has nothing else to do meanwhile, and the thread pool (4
    // threads started, then joined at exit) and its hops cost a one-shot process more than they save.
    const m = mountOverlaySync(spec);
    // Success is silent in mount(8)'s syntax, as mount(8) is; -v says what was done.
    if (!ctx || v.verbose) for (const w of m.plan.warnings) err(`ovl: warning: ${w}`);
    if (ctx && v.verbose) err(`ovl: ${spec.source ?? 'overlay'} mounted on ${m.target}.`);
    if (v.json) json({ target: m.target, mountId: m.mountId, strategy: m.strategy, byFd: m.byFd, kernelMessages: m.kernelMessages });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return mountFailed(e, v, ctx);
  }
}
