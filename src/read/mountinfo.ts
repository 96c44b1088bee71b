/**
 * /proc/self/mountinfo, parsed completely (proc_pid_mountinfo(5)): octal escapes, optional
 * fields, lines of any length (a 500-layer overlay's line is ~32 KB), and the overlay options:
 * legacy `lowerdir=` with its backslash escapes and `::` data layers, or repeated
 * `lowerdir+=`/`datadir+=` entries.
 */
import { readText, runAsync, runSync, type Task } from '../sys/io.js';
import { splitLegacyLowerdir, unescapeBackslashes } from '../spec/escape.js';

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** Root of the mount within its filesystem. */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, nosuid, relatime, ...). */
  mountOptions: string[];
  /** shared:N, master:N, propagate_from:N, unbindable. */
  optionalFields: string[];
  fsType: string;
  source: string;
  /** Per-superblock options, each unescaped. */
  superOptions: string[];
}

/** Undoes the kernel's mangle(): `\NNN` octal for space, tab, newline, backslash (and `,` in options). */
export function unescapeOctal(s: string): string {
  return s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}

export function parseMountInfoLine(line: string): MountInfoEntry {
  const f = line.split(' ');
  const sep = f.indexOf('-', 6);
  if (f.length < 10 || sep < 0 || f.length < sep + 4) throw new Error(`not a mountinfo line: ${line.slice(0, 200)}`);
  const [major, minor] = f[2]!.split(':').map(Number);
  return {
    mountId: Number(f[0]),
    parentId: Number(f[1]),
    major: major!,
    minor: minor!,
    root: unescapeOctal(f[3]!),
    mountPoint: unescapeOctal(f[4]!),
    mountOptions: f[5]!.split(','),
    optionalFields: f.slice(6, sep),
    fsType: unescapeOctal(f[sep + 1]!),
    source: unescapeOctal(f[sep + 2]!),
    // A comma inside a value is shown as \054, so splitting before unescaping is exact.
    superOptions: f[sep + 3]!.split(',').filter(Boolean).map(unescapeOctal),
  };
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map(parseMountInfoLine);
}

/** The mount table of this process's mount namespace (or of `pid`'s), as a task. */
export function* mountInfoTask(pid: number | 'self' = 'self'): Task<MountInfoEntry[]> {
  return parseMountInfo(yield* readText(`/proc/${pid}/mountinfo`));
}

/** /proc/self/mountinfo (or /proc/PID/mountinfo), parsed. */
export function readMountInfo(pid: number | 'self' = 'self'): Promise<MountInfoEntry[]> {
  return runAsync(mountInfoTask(pid));
}

/** readMountInfo() on the calling thread. */
export function readMountInfoSync(pid: number | 'self' = 'self'): MountInfoEntry[] {
  return runSync(mountInfoTask(pid));
}

/**
 * The mount id of every line, and only the overlay lines parsed: what the in-use check of
 * every mount needs, without parsing each other mount of the namespace.
 */
export function parseOverlayMountInfo(text: string): { mountIds: Set<number>; overlays: MountInfoEntry[] } {
  const mountIds = new Set<number>();
  const overlays: MountInfoEntry[] = [];
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      mountIds.add(Number(text.slice(start, text.indexOf(' ', start))));
      // Fields never hold a bare ' - ' (spaces are escaped): the first one ends the optional fields.
      const dash = text.indexOf(' - ', start);
      if (dash >= 0 && dash < end && text.startsWith('overlay ', dash + 3)) overlays.push(parseMountInfoLine(text.slice(start, end)));
    }
    start = end + 1;
  }
  return { mountIds, overlays };
}

/** The layers and options of an overlay, from its superblock options. */
export interface OverlayOptionsSeen {
  /** Lower layers, top first, as the caller gave them. */
  lower: string[];
  /** Data-only layers. */
  data: string[];
  upper?: string;
  work?: string;
  /** 'legacy' for `lowerdir=`, 'lowerdir+' for per-layer entries. */
  form: 'legacy' | 'lowerdir+';
  /** Every other option: `key=value` as [key, value], flags as [key, true]. */
  options: Array<[string, string | true]>;
}

/** Reads layers and options from unescaped superblock options (mountinfo or statmount's array). */
export function parseOverlayOptions(superOptions: readonly string[]): OverlayOptionsSeen {
  const seen: OverlayOptionsSeen = { lower: [], data: [], form: 'lowerdir+', options: [] };
  for (const opt of superOptions) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    if (key === 'lowerdir' && value !== undefined) {
      const split = splitLegacyLowerdir(value);
      seen.lower = split.lower;
      seen.data = split.data;
      seen.form = 'legacy';
    } else if (key === 'lowerdir+' && value !== undefined) seen.lower.push(value);
    else if (key === 'datadir+' && value !== undefined) seen.data.push(value);
    // upperdir=/workdir= show the caller's string, whose backslash escapes the kernel removed
    // before the lookup, through mount(2) and fsconfig alike.
    else if (key === 'upperdir' && value !== undefined) seen.upper = unescapeBackslashes(value);
    else if (key === 'workdir' && value !== undefined) seen.work = unescapeBackslashes(value);
    else seen.options.push([key, value ?? true]);
  }
  return seen;
}
