/**
 * mount(8)'s language for `ovl mount` and `ovl umount`: a failure's first line as util-linux
 * (libmount's mnt_context_get_mount_excode() and the mount(2) and fsconfig() error messages of
 * 2.38-2.39) words it for the same cause, and the overlay mounts listed as `mount -t overlay`
 * lists them. The first line is mount(8)'s; what follows it is ours (the spec's problems, the
 * kernel's words, and with -v the stage, strategy and hint).
 */
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { OverlaySpecError, type SpecProblem } from '../spec/errors.js';
import { native, nativeLoaded } from '../sys/binding.js';
import { isSystemError } from '../sys/errors.js';
import { cliWords } from './command.js';

/** What a mount failure's message depends on, besides the error. */
export interface Mount8Context {
  /** The mount point as given (absolute). */
  target: string;
  /** The mount source (`overlay` unless given). */
  source: string;
  /** Whether the mount was made with mount(2) (the legacy strategy), as mount(8) 2.38 makes it. */
  legacy: boolean;
  remount?: boolean;
  readOnly?: boolean;
}

const exists = (p: string, follow: boolean): boolean => {
  try {
    (follow ? statSync : lstatSync)(p);
    return true;
  } catch {
    return false;
  }
};
const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** The C library's text for an errno (strerror(3)), which util-linux prints; Node's differs. */
function strerror(e: { errno?: number; message: string }): string {
  if (typeof e.errno === 'number' && nativeLoaded()) return native().errnoName(-e.errno)[1];
  const m = /^[A-Z0-9]+: ([^,]*)/.exec(e.message);
  const text = m?.[1] ?? e.message;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The name util-linux gives the syscall that failed: `mount(2)` for mount(2), else the new API's. */
function syscallName(stage: string | undefined, ctx: Mount8Context): string {
  if (ctx.legacy || stage === undefined) return 'mount(2)';
  if (stage.startsWith('fsconfig') || stage === 'create') return 'fsconfig';
  if (stage.startsWith('fsmount')) return 'fsmount';
  if (stage.startsWith('move_mount')) return 'move_mount';
  if (stage.startsWith('fsopen')) return 'fsopen';
  return 'mount(2)';
}

/** The source of the first mount in the table with this source, as libmount looks for it on EBUSY. */
function mountedSourceTarget(source: string): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      const sep = f.indexOf('-', 6);
      if (sep > 0 && unoctal(f[sep + 2] ?? '') === source) return unoctal(f[4] ?? '');
    }
  } catch {
    /* no table: the generic words */
  }
  return undefined;
}

/** util-linux's words for a failed mount syscall with this errno (libmount's errno switch). */
function byErrno(code: string | undefined, sysText: string, sysName: string, ctx: Mount8Context): string {
  const { target: tgt, source: src } = ctx;
  const generic = `${sysName} system call failed: ${sysText}`;
  switch (code) {
    case 'EPERM':
      if (process.getuid?.() !== 0) return 'must be superuser to use mount';
      return isDir(tgt) ? 'permission denied' : 'mount point is not a directory';
    case 'EBUSY': {
      if (ctx.remount) return 'mount point is busy';
      const on = mountedSourceTarget(src);
      return on !== undefined ? `${src} already mounted on ${on}` : `${src} already mounted or mount point busy`;
    }
    case 'ENOENT':
      if (!exists(tgt, false)) return 'mount point does not exist';
      if (!exists(tgt, true)) return 'mount point is a symbolic link to nowhere';
      if (!src.includes('/') || !exists(src, true)) return `special device ${src} does not exist`;
      return generic;
    case 'ENOTDIR':
      return isDir(tgt) ? generic : 'mount point is not a directory';
    case 'EINVAL':
      if (ctx.remount) return 'mount point not mounted or bad option';
      return `wrong fs type, bad option, bad superblock on ${src}, missing codepage or helper program, or other error`;
    case 'EMFILE':
      return 'mount table full';
    case 'EIO':
      return `can't read superblock on ${src}`;
    case 'ENODEV':
      return "unknown filesystem type 'overlay'";
    case 'EACCES':
    case 'EROFS':
      if (ctx.readOnly) return `cannot mount ${src} read-only`;
      if (ctx.remount) return `cannot remount ${src} read-write, is write-protected`;
      return generic;
    default:
      return generic;
  }
}

/** A problem found before any syscall: the words mount(8) prints when the kernel finds it, if it does. */
function byProblem(p: SpecProblem, ctx: Mount8Context): string | undefined {
  const enoent = /cannot be used: ENOENT/.test(p.problem);
  if (p.field === 'target') {
    if (enoent) return exists(ctx.target, false) ? 'mount point is a symbolic link to nowhere' : 'mount point does not exist';
    if (/is not a directory$/.test(p.problem)) return 'mount point is not a directory';
    return undefined;
  }
  if (/^(lower|data)\[\d+\]$|^upper$|^work$/.test(p.field)) {
    if (enoent) return `special device ${ctx.source} does not exist`;
    if (/is not a directory$/.test(p.problem)) return `${ctx.legacy ? 'mount(2)' : 'fsconfig'} system call failed: Not a directory`;
    return undefined;
  }
  // An option the kernel refuses: mount(8) hands it over, and the kernel says EINVAL.
  if (p.field.startsWith('-o ') || p.field.startsWith('options.')) {
    return `wrong fs type, bad option, bad superblock on ${ctx.source}, missing codepage or helper program, or other error`;
  }
  return undefined;
}

/** The order in which mount(2) meets the problems: the mount point first, then the layers, then options. */
function rank(p: SpecProblem): number {
  if (p.field === 'target') return 0;
  if (/^(lower|data)\[\d+\]$|^upper$|^work$/.test(p.field)) return 1;
  if (p.field.startsWith('-o ') || p.field.startsWith('options.')) return 2;
  return 3;
}

export interface Mount8Failure {
  /** The first line, without the `ovl: ` prefix: `TARGET: words.` */
  first: string;
  /** What follows it always: the spec's problems, the kernel's words (ours, not mount(8)'s). */
  detail: string[];
  /** What follows only with -v: stage, strategy, hint, the kernel log. */
  verbose: string[];
}

/** A failed `ovl mount` in mount(8)'s words (first line) and ours (the rest). */
export function mount8Failure(e: unknown, ctx: Mount8Context): Mount8Failure {
  const tgt = ctx.target;
  if (e instanceof OverlaySpecError) {
    const problems = [...e.problems].sort((a, b) => rank(a) - rank(b));
    const first = problems[0]!;
    const words = byProblem(first, ctx) ?? `${first.field}: ${cliWords(first.problem)}`;
    return { first: `${tgt}: ${words}.`, detail: e.problems.map((p) => `${p.field}: ${cliWords(p.problem)}`), verbose: [] };
  }
  if (isSystemError(e)) {
    const x = e as typeof e & { stage?: string; strategy?: string; hint?: string; kernelLog?: string[] };
    const name = syscallName(x.stage, ctx);
    // util-linux 2.39+ prints the kernel's message from the fs context where there is one.
    const fsLog = (x.kernelMessages ?? []).map((m) => m.replace(/^[a-z] /, ''));
    const words = fsLog.length > 0 && !ctx.legacy ? `${name} system call failed: ${fsLog[0]}` : byErrno(x.code, strerror(x), name, ctx);
    const detail: string[] = [];
    // The kernel's words the first line lacks: the attributed log lines are in the message.
    const attributed = /\(([^()]*)\)$/.exec(x.message)?.[1];
    if (attributed && !words.includes(attributed)) detail.push(attributed);
    for (const m of fsLog) if (!words.includes(m) && m !== attributed) detail.push(m);
    const verbose = [`${x.message}`];
    if (x.stage) verbose.push(`stage: ${x.stage}${x.strategy ? ` (strategy ${x.strategy})` : ''}`);
    for (const m of x.kernelLog ?? []) if (!x.message.includes(m)) verbose.push(`kernel log: ${m}`);
    if (x.hint) verbose.push(`hint: ${cliWords(x.hint)}`);
    return { first: `${tgt}: ${words}.`, detail, verbose };
  }
  const message = cliWords((e as Error)?.message ?? String(e));
  return { first: `${tgt}: ${message.split('\n')[0]}.`, detail: message.split('\n').slice(1), verbose: [] };
}

const unoctal = (s: string) => (s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s);

/** libmount's merge of the per-mount and superblock options: one ro/rw first, the rest in order. */
export function mergeOptions(vfs: string, fs: string): string {
  if (vfs === fs) return vfs;
  const remove = (list: string[], name: string, times: number): [string[], number] => {
    let n = 0;
    return [list.filter((o) => (o === name && n < times ? (n++, false) : true)), n];
  };
  const [noRw, rw] = remove([...vfs.split(','), ...fs.split(',')].filter(Boolean), 'rw', 2);
  const [rest, ro] = rw === 2 ? [noRw, 0] : remove(noRw, 'ro', 2 - rw);
  return [ro > 0 ? 'ro' : 'rw', ...rest].join(',');
}

/** The overlay mounts as `mount -t overlay` lists them: `SOURCE on TARGET type overlay (OPTIONS)`. */
export function listOverlayMounts(): string[] {
  const lines: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f[sep + 1] !== 'overlay') continue;
    lines.push(`${unoctal(f[sep + 2] ?? '')} on ${unoctal(f[4] ?? '')} type overlay (${unoctal(mergeOptions(f[5] ?? '', f[sep + 3] ?? ''))})`);
  }
  return lines;
}
