/**
 * The workdir: created when missing, refused when another overlay uses the same upper or work
 * (the kernel only warns and mounts read-write when index=off), checked for a stale volatile
 * marker, and cleaned after unmount on request.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STATX } from './constants.js';
import { parseOverlayOptions, readOverlayMountInfo } from './mountinfo.js';
import { liveRecords } from './registry.js';
import { OverlaySpecError, type OverlaySpec } from './spec.js';
import { statxSync } from './sys/node.js';

/** An overlay mount that already uses a directory as its upper or work. */
export interface DirUser {
  target: string;
  mountId: number;
  as: 'upper' | 'work';
}

function real(path: string): string | undefined {
  try {
    // realpath(3), as the kernel resolves (Node's JS realpathSync folds 'link/..' first, and is slower)
    return realpathSync.native(path);
  } catch {
    return undefined;
  }
}

/** The file a path names, following symlinks as realpath does (device and inode), or undefined. */
function fileId(path: string): string | undefined {
  try {
    const st = statxSync(path, { mask: STATX.BASIC_STATS });
    return `${st.devMajor}:${st.devMinor}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** The mounted overlays (in this mount namespace) whose upper or work is `dir`. */
export function overlaysUsing(dir: string): DirUser[] {
  return overlaysUsingEach([dir])[0]!;
}

/**
 * overlaysUsing() for several dirs from one read of mountinfo. Nothing is resolved when no
 * overlay is mounted and the registry has none of ours: nothing can be using the dirs then.
 */
function overlaysUsingEach(dirs: readonly string[]): DirUser[][] {
  const out = dirs.map((): DirUser[] => []);
  const { mountIds, overlays } = readOverlayMountInfo();
  const records = liveRecords(mountIds);
  if (overlays.length === 0 && records.length === 0) return out;
  const reals = new Map<string, string | undefined>();
  const realOf = (p: string): string | undefined => {
    if (!reals.has(p)) reals.set(p, real(p));
    return reals.get(p);
  };
  // Two paths with the same realpath name the same file: where both files are known and
  // differ, no realpath (an lstat per component) is needed. Each mounted overlay has two.
  const ids = new Map<string, string | undefined>();
  const idOf = (p: string): string | undefined => {
    if (!ids.has(p)) ids.set(p, fileId(p));
    return ids.get(p);
  };
  const sameReal = (p: string, dir: string, want: string): boolean => {
    const a = idOf(p);
    const b = idOf(dir);
    if (a !== undefined && b !== undefined && a !== b) return false;
    return realOf(p) === want;
  };
  const seen = overlays.map((e) => parseOverlayOptions(e.superOptions));
  dirs.forEach((dir, i) => {
    const want = realOf(dir);
    if (want === undefined) return;
    const users = out[i]!;
    overlays.forEach((e, j) => {
      // Relative or fd-given paths mean nothing here; the registry covers our own such mounts.
      for (const as of ['upper', 'work'] as const) {
        const p = seen[j]![as];
        if (p !== undefined && p.startsWith('/') && sameReal(p, dir, want)) users.push({ target: e.mountPoint, mountId: e.mountId, as });
      }
    });
    for (const r of records) {
      for (const as of ['upper', 'work'] as const) {
        const p = r.spec[as];
        if (p !== undefined && sameReal(p, dir, want) && !users.some((u) => u.mountId === r.mountId)) {
          users.push({ target: r.target, mountId: r.mountId, as });
        }
      }
    }
  });
  return out;
}

/** The kernel's marker of a volatile mount; its presence refuses the next mount (EINVAL). */
export function volatileMarker(work: string): string {
  return join(work, 'work', 'incompat', 'volatile');
}

export function hasStaleVolatile(work: string): boolean {
  return existsSync(volatileMarker(work));
}

export interface PreparedWorkdir {
  /** The first directory this call created (to remove if the mount fails), if any. */
  created?: string;
  /** What was removed on the caller's request (clearVolatile). */
  cleared?: string;
  /** The upper and work realpaths held until the mount is recorded or has failed. */
  reserved?: string[];
}

/**
 * Before a mount: refuse an upper/work in use (unless allowShared), refuse or clear a stale
 * volatile marker, create work if missing. Throws OverlaySpecError; changes nothing then.
 */
/**
 * Upper and work dirs (by realpath) of mounts this process is making right now: between this
 * check and the mount's record in the registry there is an await, and two concurrent
 * mountOverlay() calls must not both pass the in-use check for the same dirs.
 */
const pending = new Map<string, string>();

export function prepareWorkdir(spec: OverlaySpec): PreparedWorkdir {
  if (spec.upper === undefined || spec.work === undefined) return {};
  const problems: Array<{ field: string; problem: string }> = [];
  const keys = (['upper', 'work'] as const).map((f) => [f, real(spec[f]!) ?? spec[f]!] as const);
  if (!spec.allowShared) {
    for (const [field, key] of keys) {
      const other = pending.get(key);
      if (other !== undefined) problems.push({ field, problem: `is being mounted as an upper or work dir at '${other}' by this process right now; pass allowShared: true to share it` });
    }
    const fields = ['upper', 'work'] as const;
    const using = overlaysUsingEach(fields.map((f) => spec[f]!));
    for (const [i, field] of fields.entries()) {
      for (const u of using[i]!) {
        problems.push({
          field,
          problem: `is already the ${u.as} dir of the overlay mounted at '${u.target}' (mount ${u.mountId}); two mounts sharing it is undefined behaviour. Unmount it, or pass allowShared: true`,
        });
      }
    }
  }
  const stale = hasStaleVolatile(spec.work);
  if (stale && !spec.clearVolatile) {
    problems.push({
      field: 'work',
      problem: `holds '${volatileMarker(spec.work)}' from an earlier volatile mount, so the kernel refuses to mount it. If that mount ended without a crash, pass clearVolatile: true; after a crash the upper may be inconsistent: start from a fresh upper and work`,
    });
  }
  if (problems.length > 0) throw new OverlaySpecError(problems);

  const out: PreparedWorkdir = {};
  if (!spec.allowShared) {
    out.reserved = keys.map(([, key]) => key);
    for (const key of out.reserved) pending.set(key, spec.target);
  }
  if (stale) {
    rmSync(volatileMarker(spec.work), { recursive: true, force: true });
    out.cleared = volatileMarker(spec.work);
  }
  if (!existsSync(spec.work)) {
    const created = mkdirSync(spec.work, { recursive: true });
    if (created !== undefined) out.created = created;
  }
  return out;
}

/** Undoes prepareWorkdir's mkdir after a failed mount. */
export function undoPrepare(prepared: PreparedWorkdir): void {
  releaseWorkdir(prepared);
  if (prepared.created !== undefined) rmSync(prepared.created, { recursive: true, force: true });
}

/** Ends the reservation prepareWorkdir made (the mount is recorded in the registry now, or failed). */
export function releaseWorkdir(prepared: PreparedWorkdir): void {
  for (const key of prepared.reserved ?? []) pending.delete(key);
  delete prepared.reserved;
}

/**
 * Removes what the kernel left in `work` (work/, mode 000, and index/) once no overlay uses it.
 * Returns the paths removed.
 */
export function cleanWorkdir(work: string): string[] {
  const users = overlaysUsing(work);
  if (users.length > 0) {
    throw new OverlaySpecError([{ field: 'work', problem: `is still the work dir of the overlay at '${users[0]!.target}'` }]);
  }
  const removed: string[] = [];
  for (const name of ['work', 'index']) {
    const p = join(work, name);
    try {
      if (!lstatSync(p).isDirectory()) continue;
    } catch {
      continue;
    }
    // Mode 000: a non-root owner needs the permission back before it can empty it.
    chmodSync(p, 0o700);
    rmSync(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}
