/**
 * containerd's snapshots over the store (what the snapshotter's gRPC service serves): an active
 * snapshot is a writable layer (overlay/<id>/{diff,work}), a committed one the same directory
 * under its new name, a view a read-only mount of its parents. The model is containerd's
 * (core/snapshots): keys are strings containerd chooses, a parent is a committed snapshot's name,
 * `Mounts` are what containerd mounts itself. One JSON record per snapshot
 * (snapshots/<sha256 of key>.json), written by rename: a snapshot exists once its record does.
 *
 * The mounts name each lower by its short link (overlay/l/XXXXXX, 6 characters). containerd
 * mounts an option string past a page by changing into the lowers' common directory and naming
 * them relatively (its compactLowerdirOption), so 500 lowers, the kernel's most, take about
 * 3,500 bytes; the upper and work stay absolute. Past a page even so, Prepare and View refuse.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OverlayError, OverlaySpecError } from '../spec/errors.js';
import type { StoreContext } from './context.js';
import { nowIso } from './context.js';
import { diskBlocks, names, readRecord, removeFile, writeRecord } from './files.js';
import { ID, SNAPSHOT_SHORT_NAME } from './layout.js';

export type SnapshotKind = 'view' | 'active' | 'committed';

export interface SnapshotRecord {
  /** The key (active, view) or the name (committed). */
  key: string;
  kind: SnapshotKind;
  /** The committed snapshot below it (its name). */
  parent?: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
  /** overlay/<cacheId> holds its files; l/<link> names its diff. */
  cacheId: string;
  link: string;
  /** The short links of every snapshot below it, top first (overlay2's `lower`): a mount reads one record, not the chain. */
  lower?: string[];
  /** Measured at commit (a committed snapshot does not change). */
  size?: number;
  inodes?: number;
}

export interface SnapshotInfo {
  name: string;
  parent?: string;
  kind: SnapshotKind;
  created: string;
  updated: string;
  labels: Record<string, string>;
}

/** A mount as containerd's types.Mount: containerd mounts it itself. */
export interface SnapshotMount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

/** The snapshot asked for is there already (containerd reads it as ErrAlreadyExists). */
export class SnapshotExistsError extends OverlayError {
  constructor(message: string) {
    super('ERR_CONFLICT', message);
    this.name = 'SnapshotExistsError';
  }
}

const PAGE = 4096;
/** containerd's own margin: it compacts the lowers once the options are within 512 bytes of a page. */
const COMPACT_AT = PAGE - 512;

function isSnapshotRecord(v: unknown): v is SnapshotRecord {
  const r = v as SnapshotRecord;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.key === 'string' &&
    (r.kind === 'view' || r.kind === 'active' || r.kind === 'committed') &&
    (r.parent === undefined || typeof r.parent === 'string') &&
    (r.lower === undefined || (Array.isArray(r.lower) && r.lower.every((l) => typeof l === 'string' && SNAPSHOT_SHORT_NAME.test(l)))) &&
    typeof r.labels === 'object' &&
    r.labels !== null &&
    typeof r.created === 'string' &&
    typeof r.updated === 'string' &&
    ID.test(r.cacheId) &&
    SNAPSHOT_SHORT_NAME.test(r.link)
  );
}

function checkKey(key: unknown, field = 'key'): string {
  if (typeof key !== 'string' || key === '') throw new OverlaySpecError([{ field, problem: 'must be a non-empty string' }]);
  if (key.length > 4096) throw new OverlaySpecError([{ field, problem: 'is longer than 4096 bytes' }]);
  return key;
}

function checkLabels(labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object') throw new OverlaySpecError([{ field: 'labels', problem: 'must be a map of strings' }]);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') throw new OverlaySpecError([{ field: `labels.${k}`, problem: 'must be a string' }]);
    // containerd's limit: a key and its value together at most 4096 bytes.
    if (Buffer.byteLength(k) + Buffer.byteLength(v) > 4096) throw new OverlaySpecError([{ field: `labels.${k}`, problem: 'with its value is over 4096 bytes' }]);
    out[k] = v;
  }
  return out;
}

export const infoOf = (r: SnapshotRecord): SnapshotInfo => ({
  name: r.key,
  ...(r.parent !== undefined ? { parent: r.parent } : {}),
  kind: r.kind,
  created: r.created,
  updated: r.updated,
  labels: { ...r.labels },
});

export async function snapshotRecord(ctx: StoreContext, key: string): Promise<SnapshotRecord | undefined> {
  return readRecord(ctx.layout.snapshotRecord(key), isSnapshotRecord);
}

/** Every snapshot record (read side by side). */
export async function snapshotRecords(ctx: StoreContext): Promise<SnapshotRecord[]> {
  const files = (await names(ctx.layout.snapshots)).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
  const all = await Promise.all(files.map((n) => readRecord(join(ctx.layout.snapshots, n), isSnapshotRecord)));
  return all.filter((r): r is SnapshotRecord => r !== undefined);
}

async function mustGet(ctx: StoreContext, key: string): Promise<SnapshotRecord> {
  const r = await snapshotRecord(ctx, key);
  if (!r) throw new OverlayError('ERR_NOT_FOUND', `snapshot ${key}: not found`);
  return r;
}

/**
 * The short links below a snapshot whose parent is `parent`, top first (the parent's own first),
 * and the parent's record: from the parent's record alone (each keeps the links below it).
 */
async function lowersOf(ctx: StoreContext, parent: string | undefined): Promise<{ parent?: SnapshotRecord; links: string[] }> {
  if (parent === undefined) return { links: [] };
  const r = await snapshotRecord(ctx, parent);
  if (!r) throw new OverlayError('ERR_NOT_FOUND', `parent snapshot ${parent}: not found`);
  return { parent: r, links: [r.link, ...(r.lower ?? [])] };
}

/** The mounts of a snapshot over the links below it (see the module comment for the lengths). */
function mountsOf(ctx: StoreContext, r: SnapshotRecord): SnapshotMount[] {
  const diff = ctx.layout.diff(r.cacheId);
  const links = r.lower ?? [];
  const lowerdir = () => `lowerdir=${links.map((l) => ctx.layout.link(l)).join(':')}`;
  if (r.kind === 'active') {
    if (links.length === 0) return [{ type: 'bind', source: diff, options: ['rbind', 'rw'] }];
    return [{ type: 'overlay', source: 'overlay', options: [`workdir=${ctx.layout.work(r.cacheId)}`, `upperdir=${diff}`, lowerdir()] }];
  }
  // A view: read-only. One layer is a bind (overlay wants two lowers without an upper).
  if (links.length === 0) return [{ type: 'bind', source: diff, options: ['rbind', 'ro'] }];
  if (links.length === 1) return [{ type: 'bind', source: ctx.layout.link(links[0]!), options: ['rbind', 'ro'] }];
  return [{ type: 'overlay', source: 'overlay', options: [lowerdir()] }];
}

/** Refuses a chain whose mount options would not fit a page even as containerd compacts them. */
function checkLength(ctx: StoreContext, links: readonly string[], withUpper: boolean): void {
  const upper = withUpper ? `workdir=${ctx.layout.work('0'.repeat(64))},upperdir=${ctx.layout.diff('0'.repeat(64))},` : '';
  const absolute = upper.length + 'lowerdir='.length + links.reduce((n, l) => n + ctx.layout.link(l).length + 1, 0);
  if (absolute < COMPACT_AT) return;
  const relative = upper.length + 'lowerdir='.length + links.reduce((n, l) => n + l.length + 1, 0);
  if (relative >= PAGE) {
    throw new OverlaySpecError([
      { field: 'parent', problem: `${links.length} layers take ${relative} bytes of mount options even named relative to ${ctx.layout.links}: over the ${PAGE}-byte page containerd's mount(2) takes` },
    ]);
  }
}

/** Prepare (active: writable) or View (read-only) a snapshot `key` on the committed `parent`. */
export async function createSnapshot(ctx: StoreContext, kind: 'active' | 'view', key: string, parent: string | undefined, labels: unknown): Promise<SnapshotMount[]> {
  checkKey(key);
  if (parent !== undefined && parent !== '') checkKey(parent, 'parent');
  const wanted = checkLabels(labels);
  const gc = await ctx.useLayers();
  try {
    return await ctx.withMeta(async () => {
      if (await snapshotRecord(ctx, key)) throw new SnapshotExistsError(`snapshot ${key}: already exists`);
      const below = await lowersOf(ctx, parent || undefined);
      if (below.parent && below.parent.kind !== 'committed') throw new OverlayError('ERR_CONFLICT', `parent snapshot ${parent}: ${below.parent.kind}, not committed`);
      checkLength(ctx, below.links, kind === 'active');
      await mkdir(ctx.layout.snapshots, { recursive: true });
      const { cacheId, link } = await ctx.makeLayerDir(below.links.map((l) => ({ link: l })), false, 6);
      if (kind === 'active') await mkdir(ctx.layout.work(cacheId), { mode: 0o700 });
      const now = nowIso();
      const record: SnapshotRecord = {
        key,
        kind,
        ...(below.parent ? { parent: below.parent.key, lower: below.links } : {}),
        labels: wanted,
        created: now,
        updated: now,
        cacheId,
        link,
      };
      try {
        await writeRecord(ctx.layout.snapshotRecord(key), record);
      } catch (e) {
        await ctx.removeLayerDir(cacheId, link).catch(() => {});
        throw e;
      }
      return mountsOf(ctx, record);
    });
  } finally {
    gc.release();
  }
}

export async function snapshotMounts(ctx: StoreContext, key: string): Promise<SnapshotMount[]> {
  checkKey(key);
  const r = await mustGet(ctx, key);
  if (r.kind === 'committed') throw new OverlayError('ERR_CONFLICT', `snapshot ${key}: committed (mount an active snapshot or a view)`);
  return mountsOf(ctx, r);
}

/** Commit active snapshot `key` as `name`: the same directory, under its new name, measured once. */
export async function commitSnapshot(ctx: StoreContext, name: string, key: string, labels: unknown): Promise<void> {
  checkKey(name, 'name');
  checkKey(key);
  const extra = checkLabels(labels);
  const gc = await ctx.useLayers();
  try {
    await ctx.withMeta(async () => {
      const r = await mustGet(ctx, key);
      if (r.kind !== 'active') throw new OverlayError('ERR_CONFLICT', `snapshot ${key}: ${r.kind}, not active (only an active snapshot commits)`);
      if (await snapshotRecord(ctx, name)) throw new SnapshotExistsError(`snapshot ${name}: already exists`);
      const usage = diskBlocks(ctx.layout.diff(r.cacheId));
      const now = nowIso();
      const committed: SnapshotRecord = { ...r, key: name, kind: 'committed', labels: { ...r.labels, ...extra }, updated: now, size: usage.size, inodes: usage.inodes };
      // The committed record first, then the active one goes: a crash between leaves both naming
      // one directory, and the recovery drops the active one.
      await writeRecord(ctx.layout.snapshotRecord(name), committed);
      await removeFile(ctx.layout.snapshotRecord(key));
    });
  } finally {
    gc.release();
  }
}

/** Remove a snapshot (not one another snapshot stands on): its record, then its files. */
export async function removeSnapshot(ctx: StoreContext, key: string): Promise<void> {
  checkKey(key);
  const gc = await ctx.useLayers();
  try {
    const r = await ctx.withMeta(async () => {
      const r = await mustGet(ctx, key);
      if (r.kind === 'committed') {
        const child = (await snapshotRecords(ctx)).find((c) => c.parent === key);
        if (child) throw new OverlayError('ERR_CONFLICT', `snapshot ${key}: cannot remove, snapshot ${child.key} has it as parent`);
      }
      await removeFile(ctx.layout.snapshotRecord(key));
      return r;
    });
    // A directory no record names; removed now, or by Cleanup if this dies first (or something is mounted in it).
    await ctx.removeLayerDir(r.cacheId, r.link).catch(() => {});
  } finally {
    gc.release();
  }
}

export async function statSnapshot(ctx: StoreContext, key: string): Promise<SnapshotInfo> {
  checkKey(key);
  return infoOf(await mustGet(ctx, key));
}

/**
 * Update a snapshot's labels (the only mutable field): `paths` as containerd's field mask,
 * `labels` (all of them replaced) or `labels.KEY` (that one set, or removed when absent); none:
 * all labels replaced.
 */
export async function updateSnapshot(ctx: StoreContext, info: { name: string; labels?: Record<string, string> }, paths: readonly string[] = []): Promise<SnapshotInfo> {
  checkKey(info?.name, 'info.name');
  const labels = checkLabels(info.labels);
  return ctx.withMeta(async () => {
    const r = await mustGet(ctx, info.name);
    let next: Record<string, string>;
    if (paths.length === 0) next = labels;
    else {
      next = { ...r.labels };
      for (const p of paths) {
        if (p === 'labels') next = { ...labels };
        else if (p.startsWith('labels.')) {
          const k = p.slice('labels.'.length);
          if (labels[k] !== undefined) next[k] = labels[k]!;
          else delete next[k];
        } else throw new OverlaySpecError([{ field: 'update_mask', problem: `'${p}': only labels can be updated (name, parent, kind and created are immutable)` }]);
      }
    }
    const updated: SnapshotRecord = { ...r, labels: next, updated: nowIso() };
    await writeRecord(ctx.layout.snapshotRecord(r.key), updated);
    return infoOf(updated);
  });
}

export async function listSnapshots(ctx: StoreContext): Promise<SnapshotInfo[]> {
  return (await snapshotRecords(ctx)).map(infoOf).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Disk usage as du counts it (blocks, directories included; what containerd's own snapshotters
 * report): a committed snapshot's as measured at commit; an active one's walked now.
 */
export async function snapshotUsage(ctx: StoreContext, key: string): Promise<{ size: number; inodes: number }> {
  checkKey(key);
  const r = await mustGet(ctx, key);
  if (r.kind === 'committed' && r.size !== undefined) return { size: r.size, inodes: r.inodes ?? 0 };
  return diskBlocks(ctx.layout.diff(r.cacheId));
}

/** The cache ids snapshot records name (the recovery keeps their directories). */
export async function snapshotOwners(ctx: StoreContext): Promise<SnapshotRecord[]> {
  const all = await snapshotRecords(ctx);
  // A commit that died between its two writes: the active record of a directory a committed one names goes.
  const committed = new Set(all.filter((r) => r.kind === 'committed').map((r) => r.cacheId));
  const out: SnapshotRecord[] = [];
  for (const r of all) {
    if (r.kind !== 'committed' && committed.has(r.cacheId)) await removeFile(ctx.layout.snapshotRecord(r.key));
    else out.push(r);
  }
  return out;
}

