// What the stress children (stress/children/*.mjs) share: their protocol with stress/run.mjs
// (a JSON config as argv[2], one JSON object per line on stdout), and checks that read the
// kernel's own state (/proc) rather than asking the library under test.
import { readdirSync, readFileSync } from 'node:fs';

/** The config stress/run.mjs passed. */
export function config() {
  return JSON.parse(process.argv[2] ?? '{}');
}

/** One line of JSON to the parent (stdout is a pipe: writes to it are synchronous on Linux). */
export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/**
 * Resolves on the parent's "go" (a line on stdin), so that several children start together.
 * Exits if stdin ends first: the parent is gone.
 */
export function go() {
  process.stdin.once('end', () => process.exit(3));
  return new Promise((resolve) => process.stdin.once('data', resolve));
}

/** The parent pid as the kernel says it now (process.ppid is read once, at start-up). */
function ppidNow() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

const parent = ppidNow();
/**
 * Exits when the stress run that started this child is gone (killed with -9, say): a loop of
 * mounts must not outlive it. Cheap enough to call every iteration (one read of /proc).
 */
export function exitIfOrphaned() {
  if (ppidNow() !== parent) process.exit(3);
}

/** Open fds of this process. */
export function fdCount() {
  return readdirSync('/proc/self/fd').length;
}

const unescape = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

/**
 * The overlays in this mount namespace whose upperdir is `upper`, from /proc/self/mountinfo
 * parsed here (not by the library under test). `upper` is a real path without commas.
 */
export function overlaysWithUpper(upper) {
  const out = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'overlay') continue;
    const opt = superOptions.split(',').find((o) => o.startsWith('upperdir='));
    if (opt === undefined || unescape(opt.slice('upperdir='.length)) !== upper) continue;
    const fields = line.slice(0, sep).split(' ');
    out.push({ mountId: Number(fields[0]), mountPoint: unescape(fields[4] ?? '') });
  }
  return out;
}

/** Mount points at or below `prefix`. */
export function mountsUnder(prefix) {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((p) => p === prefix || p.startsWith(prefix + '/'));
}

/** An error as plain data for the parent. */
export function errorOf(e) {
  return { name: e?.name, code: e?.code, message: String(e?.message ?? e), problems: e?.problems, stage: e?.stage, strategy: e?.strategy };
}
