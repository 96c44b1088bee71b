/**
 * The overlays mounted in this mount namespace, read back: what `docker inspect` shows as
 * GraphDriver.Data, and a typed form with every option. Where the kernel has statmount(2) with
 * STATMOUNT_OPT_ARRAY, its unescaped options are used; otherwise /proc/self/mountinfo.
 */
import { resolve } from 'node:path';
import { AT, STATMOUNT, STATX } from '../sys/constants.js';
import { runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { StatmountResult, StatxResult } from '../sys/native-types.js';
import { OverlayError } from '../spec/errors.js';
import { mountInfoTask, parseOverlayOptions, type MountInfoEntry, type OverlayOptionsSeen } from './mountinfo.js';
import { liveRecordsTask, type MountRecord } from './records.js';
import { OPTION_KEYS } from '../spec/options.js';
import { type OverlayOptions, type Strategy } from '../spec/types.js';
import { statmountSync } from '../sys/statmount.js';
import { statxSync } from '../sys/inodes.js';

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
  /** The per-mount options mountinfo shows: rw/ro, nosuid, nodev, noexec, relatime, ... */
  mountOptions: string[];
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

/** Where each overlay entry's options come from, and which of our records it is. */
interface Seen {
  entry: MountInfoEntry;
  optionArray: string[] | undefined;
  record: MountRecord | undefined;
}

/**
 * statmount's unescaped option array for each entry that is on top at its mount point (where
 * the kernel has statmount and STATMOUNT_OPT_ARRAY; else undefined, and mountinfo is used), and
 * the record of each that this process mounted. Two batches for any number of overlays.
 */
function* seenTask(entries: readonly MountInfoEntry[], all: readonly MountInfoEntry[]): Task<Seen[]> {
  const records = yield* liveRecordsTask(all);
  if (entries.length === 0) return [];
  const ids = yield* steps(
    entries.flatMap((e) => [
      { op: 'statx' as const, path: e.mountPoint, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID, recordError: true },
      { op: 'statx' as const, path: e.mountPoint, flags: AT.SYMLINK_NOFOLLOW, mask: STATX.MNT_ID_UNIQUE, recordError: true },
    ]),
  );
  const unique = entries.map((e, i) => {
    const old = ids.results[2 * i];
    const u = ids.results[2 * i + 1];
    // Covered by another mount: what is at the mount point is not this entry.
    if (old instanceof Error || (old as StatxResult).mountId !== e.mountId) return undefined;
    return u instanceof Error || (u as StatxResult).mountIdUnique !== true ? undefined : (u as StatxResult).mountId;
  });
  const asked = entries.map((_, i) => i).filter((i) => unique[i] !== undefined);
  const arrays = new Map<number, string[] | undefined>();
  if (asked.length > 0) {
    const sm = yield* steps(asked.map((i) => ({ op: 'statmount' as const, mountId: unique[i]!, mask: STATMOUNT.OPT_ARRAY, recordError: true })));
    asked.forEach((i, k) => {
      const r = sm.results[k];
      if (!(r instanceof Error)) arrays.set(i, (r as StatmountResult).optionArray);
    });
  }
  return entries.map((entry, i) => ({
    entry,
    optionArray: arrays.get(i),
    record: records.find((r) => r.mountId === entry.mountId && (r.uniqueMountId === undefined || r.uniqueMountId === unique[i])),
  }));
}

function describe({ entry, optionArray: array, record }: Seen): OverlayInfo {
  const raw = array ?? entry.superOptions;
  const seen = parseOverlayOptions(raw);
  const info: OverlayInfo = {
    mountId: entry.mountId,
    target: entry.mountPoint,
    source: entry.source,
    lower: seen.lower,
    data: seen.data,
    readOnly: entry.mountOptions.includes('ro') || seen.upper === undefined,
    mountOptions: [...entry.mountOptions],
    options: typedOptions(seen),
    rawOptions: [...raw],
    form: seen.form,
    from: array ? 'statmount' : 'mountinfo',
    pathsKnown: true,
  };
  if (seen.upper !== undefined) info.upper = seen.upper;
  if (seen.work !== undefined) info.work = seen.work;
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

function* listTask(): Task<OverlayInfo[]> {
  const all = yield* mountInfoTask();
  return (yield* seenTask(all.filter((e) => e.fsType === 'overlay'), all)).map(describe);
}

/** Every overlay mounted in this mount namespace. */
export function listOverlays(): Promise<OverlayInfo[]> {
  return runAsync(listTask());
}

export function listOverlaysSync(): OverlayInfo[] {
  return runSync(listTask());
}

export function* findOverlayTask(target: string): Task<OverlayInfo | undefined> {
  const all = yield* mountInfoTask();
  let want = resolve(target);
  // mountinfo shows canonical paths: a target named through a symlink is found by its real path.
  if (!all.some((e) => e.mountPoint === want)) {
    const real = (yield* steps([{ op: 'realpath', path: want, recordError: true }])).results[0];
    if (real instanceof Error) return undefined;
    want = real as string;
  }
  const top = all.filter((e) => e.mountPoint === want).at(-1);
  if (!top || top.fsType !== 'overlay') return undefined;
  return describe((yield* seenTask([top], all))[0]!);
}

/** The overlay mounted at `target` (the top one, if several are stacked there), or undefined. */
export function findOverlay(target: string): Promise<OverlayInfo | undefined> {
  return runAsync(findOverlayTask(target));
}

export function findOverlaySync(target: string): OverlayInfo | undefined {
  return runSync(findOverlayTask(target));
}

function notOverlay(target: string): OverlayError {
  return new OverlayError('ERR_NOT_OVERLAY', `no overlay is mounted at '${resolve(target)}'`, { path: resolve(target) });
}

function* inspectTask(target: string): Task<DockerGraphDriverData> {
  const info = yield* findOverlayTask(target);
  if (!info) throw notOverlay(target);
  return toDocker(info);
}

/** GraphDriver.Data as `docker inspect` prints it for overlay2: layers joined with ':', top first. */
export function inspect(target: string): Promise<DockerGraphDriverData> {
  return runAsync(inspectTask(target));
}

export function inspectSync(target: string): DockerGraphDriverData {
  return runSync(inspectTask(target));
}

export function toDocker(info: OverlayInfo): DockerGraphDriverData {
  // Keys in the order Go's encoding/json writes a map: sorted.
  return { LowerDir: info.lower.join(':'), MergedDir: info.target, UpperDir: info.upper ?? '', WorkDir: info.work ?? '' };
}
