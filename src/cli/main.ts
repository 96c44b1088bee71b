#!/usr/bin/env node
/**
 * ovl: the command line over the overlayfs library. Each command parses its arguments with
 * Node's util.parseArgs and calls the library; nothing here decides how to mount.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { changes, formatChange } from '../changes.js';
import { isSystemError } from '../errors.js';
import { findOverlay, inspect, listOverlays, type OverlayInfo } from '../inspect.js';
import { resolvePath } from '../layers.js';
import { applyMarkersSync, clearOpaque, createXattrWhiteout, setOpaque, type Opaque } from '../markers.js';
import { mountOverlay, unmountAndCleanSync } from '../mount.js';
import { parseMountOptions, specFromMountOptions } from '../mount-options.js';
import { MNT } from '../constants.js';
import { formatPlan, plan } from '../plan.js';
import { probe } from '../probe.js';
import { OverlaySpecError, validateSpec, type OverlaySpec, type Strategy } from '../spec.js';
import { umount2Sync } from '../sys/mount-legacy.js';
import { runDemo } from './demo.js';
import { err, json, out, paint, table } from './output.js';

/** mount(8)'s exit codes: 1 bad usage, 32 mount failure. */
const EXIT_USAGE = 1;
const EXIT_FAILURE = 32;

class UsageError extends Error {}

interface Command {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number | void> | number | void;
}

const JSON_OPT = { json: { type: 'boolean' as const } };

const commands: Record<string, Command> = {
  demo: {
    summary: 'walk through a three-layer image: build, mount, read, write, delete, inspect, unmount',
    usage: 'ovl demo',
    options: {},
    run: () => runDemo(),
  },
  mount: {
    summary: 'mount an overlay (mount(8) syntax, or --lower/--upper/--work)',
    usage: [
      'ovl mount [-t overlay] [overlay] -o lowerdir=A:B,upperdir=U,workdir=W [-o more ...] TARGET',
      'ovl mount --lower A --lower B [--data D ...] [--upper U --work W] [--option key[=value] ...] TARGET',
      '  -r / -w                          read-only / read-write (as -o ro / -o rw); -n is accepted and ignored',
      '  --strategy lowerdir+|fd|legacy   force a mount strategy',
      '  --dry-run                        validate, print the plan (the exact syscalls), mount nothing',
      '  --allow-shared                   mount even if upper/work is in use by another overlay',
      '  --clear-volatile                 remove a stale work/incompat/volatile first',
      '  --json                           print the plan (with --dry-run) or the mount as JSON',
    ].join('\n'),
    options: {
      types: { type: 'string', short: 't' },
      options: { type: 'string', short: 'o', multiple: true },
      readonly: { type: 'boolean', short: 'r' },
      readwrite: { type: 'boolean', short: 'w' },
      'no-mtab': { type: 'boolean', short: 'n' },
      lower: { type: 'string', multiple: true },
      data: { type: 'string', multiple: true },
      upper: { type: 'string' },
      work: { type: 'string' },
      option: { type: 'string', multiple: true },
      strategy: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'allow-shared': { type: 'boolean' },
      'clear-volatile': { type: 'boolean' },
      ...JSON_OPT,
    },
    run: cmdMount,
  },
  umount: {
    summary: 'unmount an overlay',
    usage: 'ovl umount TARGET [--lazy] [--clean-workdir]   (overlays only: use umount(8) for anything else)',
    options: { lazy: { type: 'boolean', short: 'l' }, 'clean-workdir': { type: 'boolean' } },
    run: cmdUmount,
  },
  ls: {
    summary: 'list the overlay mounts of this mount namespace',
    usage: 'ovl ls [--json]',
    options: JSON_OPT,
    run: cmdLs,
  },
  inspect: {
    summary: "an overlay's layers as docker inspect prints GraphDriver.Data (--typed: every option)",
    usage: 'ovl inspect TARGET [--typed]',
    options: { typed: { type: 'boolean' } },
    run: (v, [target]) => {
      if (!target) throw new UsageError('inspect needs a TARGET');
      if (v.typed) {
        const info = findOverlay(target);
        if (!info) return notOverlay(target);
        return json(info);
      }
      return json(inspect(target));
    },
  },
  which: {
    summary: 'which layer serves PATH in the overlay at TARGET',
    usage: 'ovl which TARGET PATH [--json]',
    options: JSON_OPT,
    run: cmdWhich,
  },
  diff: {
    summary: 'the A/C/D changes of an upper dir (or of the overlay mounted at TARGET), like docker diff',
    usage: 'ovl diff TARGET | ovl diff UPPER --lower L1 [--lower L2 ...]  [--json] [--namespace trusted|user|auto]',
    options: { lower: { type: 'string', multiple: true }, namespace: { type: 'string' }, ...JSON_OPT },
    run: cmdDiff,
  },
  probe: {
    summary: "what this kernel's overlay can do",
    usage: 'ovl probe [--json]',
    options: JSON_OPT,
    run: (v) => {
      const caps = probe();
      if (v.json) return json(caps);
      for (const [k, value] of Object.entries(caps)) out(`${k.padEnd(22)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
    },
  },
  whiteout: {
    summary: 'make whiteouts (0/0 character devices; --xattr: the xattr form for a middle lower layer)',
    usage: 'ovl whiteout PATH... [--xattr] [--namespace trusted|user]',
    options: { xattr: { type: 'boolean' }, namespace: { type: 'string' } },
    run: (v, paths) => {
      if (paths.length === 0) throw new UsageError('whiteout needs at least one PATH');
      const namespace = xattrNamespace(v.namespace);
      if (v.xattr) for (const p of paths) createXattrWhiteout(p, { layer: 'lower', namespace });
      else applyMarkersSync(paths.map((path) => ({ op: 'whiteout' as const, path })));
    },
  },
  opaque: {
    summary: 'mark a directory opaque (y), as an xwhiteout dir (--value x), or --clear the mark',
    usage: 'ovl opaque DIR... [--clear] [--value y|x] [--namespace trusted|user]',
    options: { clear: { type: 'boolean' }, value: { type: 'string' }, namespace: { type: 'string' } },
    run: (v, dirs) => {
      if (dirs.length === 0) throw new UsageError('opaque needs at least one DIR');
      const namespace = xattrNamespace(v.namespace);
      const value = (v.value ?? 'y') as string;
      if (value !== 'y' && value !== 'x') throw new UsageError("--value must be 'y' or 'x'");
      for (const d of dirs) (v.clear ? clearOpaque(d, { namespace }) : setOpaque(d, value as Opaque, { namespace }));
    },
  },
};

function xattrNamespace(v: unknown): 'trusted' | 'user' {
  if (v === undefined) return 'trusted';
  if (v !== 'trusted' && v !== 'user') throw new UsageError("--namespace must be 'trusted' or 'user'");
  return v;
}

function notOverlay(target: string): number {
  err(`ovl: no overlay is mounted at '${resolve(target)}'`);
  return EXIT_FAILURE;
}

/** Layers given by relative paths or by fds from elsewhere: what the kernel shows names other dirs. */
function layersUnknown(info: OverlayInfo, instead: string): number {
  err(`ovl: the kernel does not show where the layers of '${info.target}' are (relative paths or fds: ${JSON.stringify(info.lower)}); ${instead}`);
  return EXIT_FAILURE;
}

async function cmdMount(v: Record<string, unknown>, positionals: string[]): Promise<number | void> {
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
  // Relative paths mean what they mean to mount(8): relative to the caller's cwd.
  // Only relative paths change, and only '.' is dropped: resolve() would also fold 'link/..',
  // which the kernel resolves through the link.
  const abs = (p: string) => (isAbsolute(p) ? p : [process.cwd(), ...p.split('/').filter((c) => c !== '.' && c !== '')].join('/'));
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
  if (v.data) spec.data = (v.data as string[]).map(abs);
  if (v.upper) spec.upper = abs(v.upper as string);
  if (v.work) spec.work = abs(v.work as string);
  if (v.strategy) spec.strategy = v.strategy as Strategy;
  if (v['allow-shared']) spec.allowShared = true;
  if (v['clear-volatile']) spec.clearVolatile = true;
  if (v['dry-run']) {
    // Everything a real mount would check before its first syscall, then the plan.
    const p = plan(validateSpec(spec), probe());
    if (v.json) return json(p);
    out(formatPlan(p));
    return;
  }
  const m = await mountOverlay(spec);
  for (const w of m.plan.warnings) err(`ovl: warning: ${w}`);
  if (v.json) json({ target: m.target, mountId: m.mountId, strategy: m.strategy, byFd: m.byFd, kernelMessages: m.kernelMessages });
}

function cmdUmount(v: Record<string, unknown>, [target]: string[]): number | void {
  if (!target) throw new UsageError('umount needs a TARGET');
  const abs = resolve(target);
  const info = findOverlay(abs);
  const clean = v['clean-workdir'] === true;
  if (!info) return notOverlay(abs);
  if (clean && info?.work !== undefined && (!info.pathsKnown || !isAbsolute(info.work))) {
    // Relative to the mounter's cwd, or an fd's path inside its own mount (often '/'): cleaning
    // there would remove some other directory's work/ and index/.
    err(`ovl: cannot clean the work dir of '${abs}': the kernel shows it as '${info.work}', not where it is; nothing was unmounted`);
    return EXIT_FAILURE;
  }
  const r = unmountAndCleanSync((detach) => umount2Sync(abs, MNT.UMOUNT_NOFOLLOW | (detach ? MNT.DETACH : 0)), clean ? info.work : undefined, {
    detach: v.lazy === true,
    cleanWorkdir: clean,
  });
  if (r.stillInUse) {
    err(`ovl: warning: '${abs}' was busy: detached, but the overlay lives on until its last user is gone, so its work dir '${info.work}' was not cleaned`);
  }
  for (const p of r.cleaned) err(`ovl: removed ${p}`);
}

function cmdLs(v: Record<string, unknown>): void {
  const all = listOverlays();
  if (v.json) return json(all);
  if (all.length === 0) return out('no overlay mounts');
  const rows = [['TARGET', 'LAYERS', 'UPPER', 'FORM', 'OPTIONS']];
  for (const o of all) {
    const opts = Object.entries(o.options).map(([k, val]) => (val === true ? k : `${k}=${String(val)}`)).join(',');
    rows.push([o.target, String(o.lower.length + o.data.length), o.upper ?? '(read-only)', o.pathsKnown ? o.form : `${o.form} (paths unknown)`, opts || '-']);
  }
  for (const line of table(rows)) out(line);
}

function cmdWhich(v: Record<string, unknown>, [target, path]: string[]): number | void {
  if (!target || !path) throw new UsageError('which needs TARGET and PATH');
  const info = findOverlay(target);
  if (!info) return notOverlay(target);
  if (!info.pathsKnown) return layersUnknown(info, 'ovl which cannot tell which layer serves a path');
  const layers = [...(info.upper ? [info.upper] : []), ...info.lower];
  const names = [...(info.upper ? ['upper'] : []), ...info.lower.map((_, i) => `lower[${i}]`)];
  const r = resolvePath(layers, path);
  if (v.json) return json({ ...r, ...('layer' in r ? { layerName: names[r.layer] } : {}) });
  if (r.found) out(`${path}: ${names[r.layer]} ${r.realPath}${r.dataFrom ? ` (data from ${names[r.dataFrom.layer]} ${r.dataFrom.path})` : ''}`);
  else if (r.whiteout) out(`${path}: whited out in ${names[r.layer]} (${r.realPath})`);
  else {
    out(`${path}: not found`);
    return EXIT_USAGE;
  }
}

async function cmdDiff(v: Record<string, unknown>, [arg]: string[]): Promise<number | void> {
  if (!arg) throw new UsageError('diff needs an UPPER dir or a TARGET');
  let upper: string;
  let lowers = ((v.lower as string[] | undefined) ?? []).map((p) => resolve(p));
  const info = lowers.length === 0 ? findOverlay(arg) : undefined;
  if (info) {
    if (!info.pathsKnown) return layersUnknown(info, 'give them: `ovl diff UPPER --lower L1 ...`');
    if (!info.upper) throw new UsageError(`the overlay at '${info.target}' has no upper layer`);
    upper = info.upper;
    lowers = info.lower;
  } else {
    if (lowers.length === 0) throw new UsageError(`'${arg}' is not an overlay mount point: give its lower layers with --lower`);
    if (!existsSync(arg) || !statSync(arg).isDirectory()) throw new UsageError(`'${arg}' is not a directory`);
    upper = resolve(arg);
  }
  const ns = v.namespace === 'auto' || v.namespace === undefined ? 'auto' : xattrNamespace(v.namespace);
  const all = [];
  for await (const c of changes(upper, lowers, { namespace: ns })) {
    if (v.json) all.push(c);
    else out(paint(process.stdout, c.kind === 'A' ? 'green' : c.kind === 'D' ? 'red' : 'yellow', formatChange(c)));
  }
  if (v.json) json(all);
}

function printFailure(e: unknown): number {
  if (e instanceof OverlaySpecError) {
    err(paint(process.stderr, 'red', `ovl: ${e.problems.length === 1 ? 'invalid overlay spec' : `invalid overlay spec (${e.problems.length} problems)`}`));
    for (const p of e.problems) err(`  ${p.field}: ${p.problem}`);
    return EXIT_FAILURE;
  }
  if (isSystemError(e)) {
    const x = e as typeof e & { stage?: string; strategy?: string; hint?: string; kernelLog?: string[] };
    err(paint(process.stderr, 'red', `ovl: ${x.message}`));
    if (x.stage) err(`  stage: ${x.stage}${x.strategy ? ` (strategy ${x.strategy})` : ''}`);
    for (const m of x.kernelMessages ?? []) err(`  kernel: ${m}`);
    for (const m of x.kernelLog ?? []) err(`  kernel log: ${m}`);
    if (x.hint) err(`  hint: ${x.hint}`);
    return EXIT_FAILURE;
  }
  err(`ovl: ${(e as Error)?.message ?? String(e)}`);
  return EXIT_FAILURE;
}

function help(): void {
  out('ovl: the Linux overlay filesystem from the command line\n');
  out(table(Object.entries(commands).map(([name, c]) => [`  ${name}`, c.summary])).join('\n'));
  out('\nRun `ovl COMMAND --help` for its options.');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    help();
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    err(`ovl: unknown command '${name}'`);
    help();
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(`${cmd.summary}\n\nusage: ${cmd.usage}`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
  } catch (e) {
    err(`ovl ${name}: ${(e as Error).message}\nusage: ${cmd.usage}`);
    return EXIT_USAGE;
  }
  try {
    return (await cmd.run(parsed.values, parsed.positionals)) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`ovl ${name}: ${e.message}\nusage: ${cmd.usage}`);
      return EXIT_USAGE;
    }
    return printFailure(e);
  }
}


main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    err(`ovl: internal error: ${(e as Error)?.stack ?? String(e)}`);
    process.exitCode = 4;
  },
);
