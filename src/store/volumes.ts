/**
 * Named volumes: volumes/<name>/_data, as Docker's local driver keeps them. A volume is made
 * whole in a temp dir and renamed into place, so a crash never leaves half of one.
 */
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { OverlayError, OverlaySpecError } from '../spec/errors.js';
import { diskUsage, names, removeTree, writeRecord } from './files.js';
import { mountedPaths, nowIso, type StoreContext } from './context.js';
import { newId, VOLUME_NAME } from './layout.js';
import type { VolumeRecord } from './records.js';
import { randomBytes } from 'node:crypto';

/** A temp volume dir: `.new-<random>` (never a volume name: those start with [a-zA-Z0-9]). */
export const TEMP_VOLUME = /^\.new-[0-9a-f]+$/;

export interface VolumeInfo {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !VOLUME_NAME.test(name) || name.length > 255) {
    throw new OverlaySpecError([{ field: 'name', problem: `'${String(name)}' is not a valid volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)` }]);
  }
}

export function volumeInfo(ctx: StoreContext, r: VolumeRecord): VolumeInfo {
  return { Name: r.name, Driver: 'local', Mountpoint: ctx.layout.volumeData(r.name), CreatedAt: r.created, Labels: r.labels, Scope: 'local' };
}

/**
 * docker volume create: a new volume (a random 64-hex name when none is given). One that
 * exists is returned as it is (docker does the same).
 */
export async function createVolume(ctx: StoreContext, name?: string, labels: Record<string, string> = {}): Promise<VolumeInfo> {
  const n = name ?? newId();
  checkName(n);
  const have = await ctx.volume(n);
  if (have) return volumeInfo(ctx, have);
  const temp = join(ctx.layout.volumes, `.new-${randomBytes(8).toString('hex')}`);
  const record: VolumeRecord = { name: n, created: nowIso(), labels };
  // Under meta.lock: the recovery at open (which holds it) takes a temp dir for a dead process's.
  return ctx.withMeta(async () => {
    try {
      await mkdir(join(temp, '_data'), { recursive: true, mode: 0o755 });
      await writeRecord(join(temp, 'volume.json'), record);
      await rename(temp, ctx.layout.volume(n));
    } catch (e) {
      await removeTree(temp);
      // Made by another process meanwhile: that one is it.
      const now = await ctx.volume(n);
      if (now) return volumeInfo(ctx, now);
      throw e;
    }
    return volumeInfo(ctx, record);
  });
}

/** The data dir of volume `name`, made if missing (docker run -v NAME:/path makes it). */
export async function ensureVolume(ctx: StoreContext, name: string): Promise<string> {
  await createVolume(ctx, name);
  return ctx.layout.volumeData(name);
}

export async function listVolumes(ctx: StoreContext): Promise<VolumeInfo[]> {
  const out: VolumeInfo[] = [];
  for (const n of await names(ctx.layout.volumes)) {
    if (!VOLUME_NAME.test(n)) continue;
    const r = await ctx.volume(n);
    if (r) out.push(volumeInfo(ctx, r));
  }
  return out.sort((a, b) => a.Name.localeCompare(b.Name));
}

export async function inspectVolume(ctx: StoreContext, name: string): Promise<VolumeInfo> {
  checkName(name);
  const r = await ctx.volume(name);
  if (!r) throw new OverlayError('ERR_NOT_FOUND', `no such volume: ${name}`);
  return volumeInfo(ctx, r);
}

/** The containers that name a volume. */
export async function volumeUsers(ctx: StoreContext, name: string): Promise<string[]> {
  return (await ctx.containers()).filter((c) => c.mounts.some((m) => m.type === 'volume' && m.name === name)).map((c) => c.name);
}

/**
 * docker volume rm: refused while a container names it (ERR_CONFLICT), unless `force`
 * (then the containers keep naming it and make it again when they mount).
 */
export async function removeVolume(ctx: StoreContext, name: string, options: { force?: boolean } = {}): Promise<void> {
  checkName(name);
  if (!(await ctx.volume(name))) throw new OverlayError('ERR_NOT_FOUND', `no such volume: ${name}`);
  const users = await volumeUsers(ctx, name);
  if (users.length > 0 && !options.force) throw new OverlayError('ERR_CONFLICT', `remove ${name}: volume is in use - [${users.join(', ')}]`);
  // Not even forced while a mounted container has it mounted (docker refuses a running container's too).
  const mountPoints = await mountedPaths();
  const mounted = (await ctx.containers()).filter((c) => mountPoints.has(ctx.layout.merged(c.cacheId)) && c.mounts.some((m) => m.type === 'volume' && m.name === name));
  if (mounted.length > 0) throw new OverlayError('ERR_CONFLICT', `remove ${name}: volume is in use by mounted container${mounted.length > 1 ? 's' : ''} [${mounted.map((c) => c.name).join(', ')}]`);
  // Out of the way first (a rename is atomic: no half-removed volume under its name), then gone.
  const temp = join(ctx.layout.volumes, `.new-${randomBytes(8).toString('hex')}`);
  await rename(ctx.layout.volume(name), temp);
  await removeTree(temp);
}

/**
 * docker volume prune: the volumes no container names. Only anonymous ones (made without a name:
 * 64 hex characters) unless `all`, as docker since 23.0. What went, with the bytes it held.
 */
export async function pruneVolumes(ctx: StoreContext, options: { all?: boolean } = {}): Promise<{ volumes: string[]; reclaimed: number }> {
  const used = new Set((await ctx.containers()).flatMap((c) => c.mounts.flatMap((m) => (m.type === 'volume' ? [m.name] : []))));
  const out = { volumes: [] as string[], reclaimed: 0 };
  for (const v of await listVolumes(ctx)) {
    if (used.has(v.Name) || (!options.all && !/^[0-9a-f]{64}$/.test(v.Name))) continue;
    const size = diskUsage(v.Mountpoint).size;
    try {
      await removeVolume(ctx, v.Name);
    } catch (e) {
      // Named by a container made meanwhile, or removed by another process: not this prune's.
      if ((e as OverlayError).code === 'ERR_CONFLICT' || (e as OverlayError).code === 'ERR_NOT_FOUND') continue;
      throw e;
    }
    out.volumes.push(v.Name);
    out.reclaimed += size;
  }
  return out;
}
