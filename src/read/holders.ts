/**
 * Who holds a mount: the processes whose open files, working directory or root are on it, and
 * the mount namespaces where it is mounted too, as /proc tells (a process of another user is
 * visible only to root). For the EBUSY of an unmount ("busy: pid 1234 has its cwd there") and
 * for an overlay detached while busy, which lives on, with its upper and work, while anything
 * holds it.
 *
 * A holder is matched by the mount id of the file (stx_mnt_id: the mount it was opened through,
 * which a detached mount keeps) or by the superblock's device (a bind of the same overlay).
 */
import { AT, STATX } from '../sys/constants.js';
import { direntries, readlink, steps, type Task } from '../sys/io.js';
import type { StatxResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import { parseMountInfo } from './mountinfo.js';

export interface MountHolder {
  pid: number;
  /** The process's name (/proc/PID/comm). */
  command: string;
  /** An open fd (its number), the working directory, the root, the executable, or a mount in its namespace. */
  what: { fd: number } | 'cwd' | 'root' | 'exe' | 'mount';
  /** Where it points, as /proc shows it. */
  path: string;
}

export interface HeldMount {
  /** The mount id (mountinfo's; a detached mount keeps it while held). */
  mountId: number;
  /** The 64-bit id where the kernel has it: never reused, so it alone decides where given. */
  uniqueMountId?: number | undefined;
  /** The superblock's device, "major:minor" (statx of the mount point). */
  dev: string;
  /** An overlay: a mount of its superblock in another namespace (a copy) holds it too. */
  overlay: boolean;
}

/**
 * The holders of each of `mounts`, by /proc; [] for a mount nothing holds. A file, cwd, root or
 * executable holds a mount when it was reached through that very mount (its stx_mnt_id); a
 * mount namespace other than ours holds an overlay when it has a mount of its superblock. Not
 * seen: memory mappings whose fd was closed, a thread's own cwd (unshare(CLONE_FS)), loop
 * devices, io_uring files, and other users' processes when not root.
 */
export function* mountHoldersTask(mounts: readonly HeldMount[]): Task<MountHolder[][]> {
  const out = mounts.map((): MountHolder[] => []);
  if (mounts.length === 0) return out;
  const unique = mounts.some((m) => m.uniqueMountId !== undefined);
  const pids = direntries((yield* steps([{ op: 'readdir', path: '/proc' }])).results[0])
    .map((e) => e.name)
    .filter((n) => /^\d+$/.test(n));
  // Per process, in one batch: its fd list, its name, its mount namespace.
  const PER = 3;
  const perPid = yield* steps([
    { op: 'statx', path: '/proc/self/ns/mnt', mask: STATX.BASIC_STATS },
    ...pids.flatMap((pid): Step[] => [
      { op: 'readdir', path: `/proc/${pid}/fd`, recordError: true },
      { op: 'readFile', path: `/proc/${pid}/comm`, recordError: true },
      { op: 'statx', path: `/proc/${pid}/ns/mnt`, mask: STATX.BASIC_STATS, recordError: true },
    ]),
  ]);
  interface Probe {
    pid: number;
    what: MountHolder['what'];
    path: string;
  }
  const probes: Probe[] = [];
  const command = new Map<number, string>();
  // One process per mount namespace other than ours: its mount table is read once.
  const ours = (perPid.results[0] as StatxResult).ino;
  const otherNamespaces = new Map<number, number>();
  pids.forEach((p, i) => {
    const pid = Number(p);
    const [fds, comm, ns] = perPid.results.slice(1 + PER * i, 1 + PER * (i + 1));
    if (fds instanceof Error) return; // gone, or not ours to see
    command.set(pid, comm instanceof Error ? '?' : (comm as Buffer).toString('utf8').trim());
    for (const e of direntries(fds)) probes.push({ pid, what: { fd: Number(e.name) }, path: `/proc/${p}/fd/${e.name}` });
    probes.push({ pid, what: 'cwd', path: `/proc/${p}/cwd` }, { pid, what: 'root', path: `/proc/${p}/root` }, { pid, what: 'exe', path: `/proc/${p}/exe` });
    const nsIno = ns instanceof Error || ns === undefined ? undefined : (ns as StatxResult).ino;
    if (nsIno !== undefined && nsIno !== ours && !otherNamespaces.has(nsIno)) otherNamespaces.set(nsIno, pid);
  });
  const overlays = mounts.some((m) => m.overlay);
  if (overlays && otherNamespaces.size > 0) {
    const nsPids = [...otherNamespaces.values()];
    const tables = yield* steps(nsPids.map((pid) => ({ op: 'readFile' as const, path: `/proc/${pid}/mountinfo`, recordError: true })));
    nsPids.forEach((pid, i) => {
      const table = tables.results[i];
      if (table instanceof Error || table === undefined) return;
      for (const m of parseMountInfo((table as Buffer).toString('utf8'))) {
        const k = mounts.findIndex((h) => h.overlay && m.fsType === 'overlay' && h.dev === `${m.major}:${m.minor}`);
        if (k >= 0) out[k]!.push({ pid, command: command.get(pid)!, what: 'mount', path: m.mountPoint });
      }
    });
  }
  // Each fd, cwd, root and executable, followed to its file: the mount it was reached through.
  const mask = unique ? STATX.MNT_ID_UNIQUE : STATX.MNT_ID;
  const st = yield* steps(probes.map((p) => ({ op: 'statx' as const, path: p.path, mask, recordError: true })));
  for (const [i, p] of probes.entries()) {
    const s = st.results[i] as StatxResult | Error | undefined;
    if (s instanceof Error || s === undefined) continue;
    const k = mounts.findIndex((h) => (s.mountIdUnique === true ? h.uniqueMountId : h.mountId) === s.mountId);
    if (k < 0) continue;
    let path = p.path;
    try {
      path = yield* readlink(p.path);
    } catch {
      /* gone meanwhile: the /proc path says enough */
    }
    out[k]!.push({ pid: p.pid, command: command.get(p.pid)!, what: p.what, path });
  }
  return out;
}

/** One line per holder, as an EBUSY hint shows them: `pid 1234 (sh): cwd /c/merged/app`. */
export function describeHolders(holders: readonly MountHolder[], max = 5): string {
  const shown = holders.slice(0, max).map((h) => {
    const what = typeof h.what === 'object' ? `fd ${h.what.fd}` : h.what === 'mount' ? 'mounted at' : h.what;
    return `pid ${h.pid} (${h.command}): ${what} ${h.path}`;
  });
  if (holders.length > max) shown.push(`and ${holders.length - max} more`);
  return shown.join('; ');
}

/**
 * The mount on top at `target` as holders are matched, if it is the one with `mountId` (and
 * `uniqueMountId`, where known): its ids and its superblock's device.
 */
export function* heldMountTask(target: string, mountId: number, uniqueMountId: number | undefined, overlay: boolean): Task<HeldMount | undefined> {
  const r = yield* steps([
    { op: 'statx', path: target, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID, recordError: true },
    ...(uniqueMountId !== undefined ? [{ op: 'statx' as const, path: target, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID_UNIQUE, recordError: true }] : []),
  ]);
  const [old, uniq] = r.results as Array<StatxResult | Error | undefined>;
  if (old instanceof Error || old === undefined || old.mountId !== mountId) return undefined;
  if (uniqueMountId !== undefined && (uniq instanceof Error || uniq === undefined || uniq.mountId !== uniqueMountId)) return undefined;
  return { mountId, uniqueMountId, dev: `${old.devMajor}:${old.devMinor}`, overlay };
}
