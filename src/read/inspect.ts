/**
 * The overlays mounted in this mount namespace, read back: what `docker inspect` shows as
 * GraphDriver.Data, and a typed form with every option. Where the kernel has statmount(2) with
 * STATMOUNT_OPT_ARRAY, its unescaped options are used; otherwise /proc/self/mountinfo.
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { AT, STATMOUNT, STATX } from './constants.js';
import { parseOverlayOptions, readMountInfo, type MountInfoEntry, type OverlayOptionsSeen } from './mountinfo.js';
import { probe } from './probe.js';
import { liveRecords } from './registry.js';
import { OPTION_KEYS, type OverlayOptions, type Strategy } from './spec.js';
import { statmountSync } from './sys/mount-info.js';
import { statxSync } from './sys/node.js';

export interface OverlayInfo {
  /** The id mountinfo shows. */
  mountId: number;
  target: string;
  /** The mount's source label ('overlay', 'none', or what the mounter set). */
  source: string;
  /** Lower layers, top first. */
  lower: string[];
  /** Data-only layers. */
  data: string[];
  upper?: string;
  work?: string;
  /** Read-only mount (no upper, or mounted ro). */
  readOnly: boolean;
  /** The overlay options that differ from the kernel's defaults, typed. */
  options: OverlayOptions;
  /** Every superblock option as the kernel shows it, `key=value` or `flag`. */
  rawOptions: string[];
  /** How the layers were given: legacy `lowerdir=` or per-layer `lowerdir+`. */
  form: OverlayOptionsSeen['form'];
  /** Where the options were read: statmount's unescaped array, or mountinfo. */
  from: 'statmount' | 'mountinfo';
  /**
   * False when layers were given by fd and this process did not make the mount: the kernel
   * shows only the fd's path inside its own mount (e.g. '/'), not where the directory is.
   */
  pathsKnown: boolean;
  /** Set when this process mounted it: the strategy it used. */
  strategy?: Strategy;
  /** Spec fields that were given by fd (from this process's own record). */
  byFd?: string[];
}

/** docker inspect --format '{{json .GraphDriver.Data}}' for an overlay2 container. */
export interface DockerGraphDriverData {
  LowerDir: string;
  MergedDir: string;
  UpperDir: string;
  WorkDir: string;
}

const OPTION_BY_KEY = new Map(OPTION_KEYS.map((o) => [o.key, o]));

function typedOptions(seen: OverlayOptionsSeen): OverlayOptions {
  const o: Record<string, unknown> = {};
  for (const [key, value] of seen.options) {
    const known = OPTION_BY_KEY.get(key);
    if (!known) continue;
    o[known.field] = known.flag ? true : value;
    // The kernel shows volatile as fsync=volatile where it has fsync=.
    if (key === 'fsync' && value === 'volatile') o.volatile = true;
  }
  return o as OverlayOptions;
}

/** statmount's unescaped option array for a mount point, if this kernel has it and the mount is on top there. */
function optionArray(entry: MountInfoEntry): string[] | undefined {
  const caps = probe();
  if (!caps.statmountOptionArray || !caps.mountIdUnique) return undefined;
  try {
    const old = statxSync(entry.mountPoint, { flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID });
    if (old.mountId !== entry.mountId) return undefined; // covered by another mount
    const unique = statxSync(entry.mountPoint, { flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID_UNIQUE });
    return statmountSync(unique.mountId!, STATMOUNT.OPT_ARRAY).optionArray;
  } catch {
    return undefined;
  }
}

function describe(entry: MountInfoEntry): OverlayInfo {
  const array = optionArray(entry);
  const raw = array ?? entry.superOptions;
  const seen = parseOverlayOptions(raw);
  const info: OverlayInfo = {
    mountId: entry.mountId,
    target: entry.mountPoint,
    source: entry.source,
    lower: seen.lower,
    data: seen.data,
    readOnly: entry.mountOptions.includes('ro') || seen.upper === undefined,
    options: typedOptions(seen),
    rawOptions: [...raw],
    form: seen.form,
    from: array ? 'statmount' : 'mountinfo',
    pathsKnown: true,
  };
  if (seen.upper !== undefined) info.upper = seen.upper;
  if (seen.work !== undefined) info.work = seen.work;
  const record = liveRecords(new Set([entry.mountId])).find((r) => r.mountId === entry.mountId);
  if (record) {
    // Our own mount: the paths we gave, whatever the kernel can show of fds.
    info.lower = [...record.spec.lower];
    info.data = [...(record.spec.data ?? [])];
    if (record.spec.upper !== undefined) info.upper = record.spec.upper;
    if (record.spec.work !== undefined) info.work = record.spec.work;
    info.strategy = record.strategy;
    info.byFd = [...record.byFd];
  } else {
    const shown = [...info.lower, ...info.data, ...(info.upper !== undefined ? [info.upper, info.work!] : [])];
    // Relative paths (a mount(2) from another cwd) and fd numbers name nothing from here; a
    // detached clone given by fd shows its path inside the clone, '/' for its root; and a valid
    // overlay never has one directory twice, so a repeat means such fs-relative paths.
    if (shown.some((p) => !p.startsWith('/') || p === '/') || new Set(shown).size !== shown.length) info.pathsKnown = false;
  }
  return info;
}

/** Every overlay mounted in this mount namespace. */
export function listOverlays(): OverlayInfo[] {
  // Our records of mounts that are gone are dropped as a side effect of liveRecords().
  const entries = readMountInfo();
  liveRecords(new Set(entries.map((e) => e.mountId)));
  return entries.filter((e) => e.fsType === 'overlay').map(describe);
}

/** The overlay mounted at `target` (the top one, if several are stacked there), or undefined. */
export function findOverlay(target: string): OverlayInfo | undefined {
  const all = readMountInfo();
  let want = resolve(target);
  // mountinfo shows canonical paths: a target named through a symlink is found by its real path.
  if (!all.some((e) => e.mountPoint === want)) {
    try {
      want = realpathSync.native(want);
    } catch {
      return undefined;
    }
  }
  const entries = all.filter((e) => e.mountPoint === want);
  const top = entries[entries.length - 1];
  return top && top.fsType === 'overlay' ? describe(top) : undefined;
}

/** GraphDriver.Data as `docker inspect` prints it for overlay2: layers joined with ':', top first. */
export function inspect(target: string): DockerGraphDriverData {
  const info = findOverlay(target);
  if (!info) {
    const err = new Error(`no overlay is mounted at '${resolve(target)}'`) as Error & { code: string; path: string };
    err.code = 'ERR_NOT_OVERLAY';
    err.path = resolve(target);
    throw err;
  }
  return toDocker(info);
}

export function toDocker(info: OverlayInfo): DockerGraphDriverData {
  // Keys in the order Go's encoding/json writes a map: sorted.
  return { LowerDir: info.lower.join(':'), MergedDir: info.target, UpperDir: info.upper ?? '', WorkDir: info.work ?? '' };
}
