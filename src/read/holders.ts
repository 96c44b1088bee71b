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
  /** An open fd (its number), the working directory, the root, or a mount in its namespace. */
  what: { fd: number } | 'cwd' | 'root' | 'mount';
  /** Where it points, as /proc shows it. */
  path: string;
}

export interface HeldMount {
  /** The mount id (mountinfo's; a detached mount keeps it while held). */
  mountId: number;
  /** The superblock's device, "major:minor" (statx of the mount point). */
  dev: string;
}

const devOf = (st: StatxResult) => `${st.devMajor}:${st.devMinor}`;

/** The holders of each of `mounts`, by /proc; [] for a mount nothing holds. */
export function* mountHoldersTask(mounts: readonly HeldMount[]): Task<MountHolder[][]> {
  const out = mounts.map((): MountHolder[] => []);
  if (mounts.length === 0) return out;
  const pids = direntries((yield* steps([{ op: 'readdir', path: '/proc' }])).results[0])
    .map((e) => e.name)
    .filter((n) => /^\d+$/.test(n));
  // Per process, in one batch: its fd list, its name, its mount namespace and mount table.
  const PER = 4;
  const perPid = yield* steps([
    { op: 'statx', path: '/proc/self/ns/mnt', mask: STATX.BASIC_STATS },
    ...pids.flatMap((pid): Step[] => [
      { op: 'readdir', path: `/proc/${pid}/fd`, recordError: true },
      { op: 'readFile', path: `/proc/${pid}/comm`, recordError: true },
      { op: 'statx', path: `/proc/${pid}/ns/mnt`, mask: STATX.BASIC_STATS, recordError: true },
      { op: 'readFile', path: `/proc/${pid}/mountinfo`, recordError: true },
    ]),
  ]);
  // A namespace's mounts are seen once, from its first process; ours are the mount itself.
  const namespacesSeen = new Set([(perPid.results[0] as StatxResult).ino]);
  interface Probe {
    pid: number;
    what: MountHolder['what'];
    path: string;
  }
  const probes: Probe[] = [];
  const command = new Map<number, string>();
  pids.forEach((p, i) => {
    const pid = Number(p);
    const [fds, comm, ns, mountinfo] = perPid.results.slice(1 + PER * i, 1 + PER * (i + 1));
    if (fds instanceof Error) return; // gone, or not ours to see
    command.set(pid, comm instanceof Error ? '?' : (comm as Buffer).toString('utf8').trim());
    for (const e of direntries(fds)) probes.push({ pid, what: { fd: Number(e.name) }, path: `/proc/${p}/fd/${e.name}` });
    probes.push({ pid, what: 'cwd', path: `/proc/${p}/cwd` }, { pid, what: 'root', path: `/proc/${p}/root` });
    // Another mount namespace with the overlay mounted (a propagated or bound copy).
    const nsIno = ns instanceof Error || ns === undefined ? undefined : (ns as StatxResult).ino;
    if (nsIno !== undefined && !namespacesSeen.has(nsIno) && !(mountinfo instanceof Error)) {
      namespacesSeen.add(nsIno);
      for (const m of parseMountInfo((mountinfo as Buffer).toString('utf8'))) {
        const k = mounts.findIndex((h) => h.dev === `${m.major}:${m.minor}`);
        if (k >= 0 && !out[k]!.some((x) => x.pid === pid && x.what === 'mount' && x.path === m.mountPoint)) {
          out[k]!.push({ pid, command: command.get(pid)!, what: 'mount', path: m.mountPoint });
        }
      }
    }
  });
  // Each fd, cwd and root, followed to its file: its mount id and device.
  const st = yield* steps(probes.map((p) => ({ op: 'statx' as const, path: p.path, mask: STATX.MNT_ID | STATX.TYPE, recordError: true })));
  for (const [i, p] of probes.entries()) {
    const s = st.results[i];
    if (s instanceof Error || s === undefined) continue;
    const k = mounts.findIndex((h) => h.mountId === (s as StatxResult).mountId || h.dev === devOf(s as StatxResult));
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

/** statx of a mount point for HeldMount's device. */
export function heldMountStep(target: string): Step {
  return { op: 'statx', path: target, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.TYPE };
}
