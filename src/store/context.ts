/**
 * What every store operation shares: reading the records, walking a layer's chain, the locks,
 * making a layer directory with its short link, and removing layers nothing uses.
 *
 * The lock protocol (all flock: the kernel drops a dead process's locks):
 * - gc.lock: shared by every operation that makes or uses layers, for its whole length;
 *   exclusive by what deletes layers (image rm's sweep, prune, and the recovery at open, which
 *   only tries); taken through gc-turnstile.lock, so a waiting deletion is not starved. So a layer an import has just found, or is applying, is never swept under it,
 *   and anything half-made that the recovery sees belongs to a dead process.
 * - meta.lock: around read-modify-write of repositories.json and container names (short), and
 *   around every record or volume written without gc.lock (a tag, a container's unmount or
 *   removal, a volume's creation); the recovery holds it too, so what it removes as a dead
 *   process's temp file is never a live one's.
 * - layer-<chain>.lock: while one layer is applied, so two imports of it apply it once.
 * - container-<id>.lock: around a container's mount, unmount, commit and removal (each also holds
 *   gc.lock shared), so none of them works on a container another is removing.
 * Always in that order (gc, then layer, then container, then meta), so no two operations wait on
 * each other.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readlink, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { readMountInfo } from '../read/mountinfo.js';
import { OverlayError } from '../spec/errors.js';
import { names, readRecord, removeFile, removeTree, StoreLock, writeRecord } from './files.js';
import { newId, newShortName, StoreLayout } from './layout.js';
import {
  isContainerRecord,
  isImageRecord,
  isLayerRecord,
  isRepositories,
  isVolumeRecord,
  type ContainerRecord,
  type ImageRecord,
  type LayerRecord,
  type Repositories,
  type VolumeRecord,
} from './records.js';

export class StoreContext {
  readonly layout: StoreLayout;

  constructor(root: string) {
    this.layout = new StoreLayout(root);
  }

  // --- records -------------------------------------------------------------------------------

  layer(chainId: Digest): Promise<LayerRecord | undefined> {
    return readRecord(this.layout.layerRecord(chainId), isLayerRecord);
  }

  async layers(): Promise<Map<Digest, LayerRecord>> {
    const out = new Map<Digest, LayerRecord>();
    for (const r of await readAll(this.layout.layerdb, isLayerRecord)) out.set(r.chainId, r);
    return out;
  }

  image(id: Digest): Promise<ImageRecord | undefined> {
    return readRecord(this.layout.imageRecord(id), isImageRecord);
  }

  async images(): Promise<ImageRecord[]> {
    return readAll(this.layout.imagedb, isImageRecord);
  }

  async repositories(): Promise<Repositories> {
    return (await readRecord(this.layout.repositories, isRepositories)) ?? { refs: {} };
  }

  writeRepositories(r: Repositories): Promise<void> {
    const sorted = Object.fromEntries(Object.entries(r.refs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return writeRecord(this.layout.repositories, { refs: sorted });
  }

  container(id: string): Promise<ContainerRecord | undefined> {
    return readRecord(this.layout.containerRecord(id), isContainerRecord);
  }

  async containers(): Promise<ContainerRecord[]> {
    return readAll(this.layout.containers, isContainerRecord);
  }

  volume(name: string): Promise<VolumeRecord | undefined> {
    return readRecord(this.layout.volumeRecord(name), isVolumeRecord);
  }

  /** The chain from `top` down to the bottom layer (top first), every record checked present. */
  async chain(top: Digest | undefined, known?: Map<Digest, LayerRecord>): Promise<LayerRecord[]> {
    const out: LayerRecord[] = [];
    for (let id = top; id !== undefined; ) {
      const r = known?.get(id) ?? (await this.layer(id));
      if (!r) throw new OverlayError('ERR_STORE', `layer ${id} is missing from the store (layerdb): the store is damaged`, { path: this.layout.layerRecord(id) });
      out.push(r);
      id = r.parent;
      if (out.length > 4096) throw new OverlayError('ERR_STORE', `layer ${top} has a parent loop: the store is damaged`);
    }
    return out;
  }

  // --- locks ---------------------------------------------------------------------------------

  async lock(path: string, mode: 'shared' | 'exclusive'): Promise<StoreLock> {
    return (await StoreLock.take(path, mode))!;
  }

  /**
   * gc.lock shared: what makes or uses layers holds it for its whole length. Through the
   * turnstile first, so a deletion waiting for gc.lock is not kept waiting for ever by a stream
   * of new operations (flock has no queue: a waiter polling for LOCK_EX loses to every LOCK_SH).
   */
  async useLayers(): Promise<StoreLock> {
    const turn = await this.lock(this.layout.gcTurnstile, 'shared');
    try {
      return await this.lock(this.layout.gcLock, 'shared');
    } finally {
      turn.release();
    }
  }

  /**
   * gc.lock exclusive (waits for every operation in progress to end): to delete layers. The
   * turnstile is held while it waits: operations that start meanwhile wait behind it.
   */
  async deleteLayers(): Promise<StoreLock> {
    const turn = await this.lock(this.layout.gcTurnstile, 'exclusive');
    try {
      return await this.lock(this.layout.gcLock, 'exclusive');
    } finally {
      turn.release();
    }
  }

  /**
   * Runs `fn` on container `id` under its lock, with its record as it is once the lock is held
   * (ERR_NOT_FOUND when it was removed meanwhile).
   */
  async withContainer<T>(id: string, name: string, fn: (c: ContainerRecord) => Promise<T>): Promise<T> {
    const lock = await this.lock(this.layout.containerLock(id), 'exclusive');
    try {
      const c = await this.container(id);
      if (!c) throw new OverlayError('ERR_NOT_FOUND', `No such container: ${name}`);
      return await fn(c);
    } finally {
      lock.release();
    }
  }

  async withMeta<T>(fn: () => Promise<T>): Promise<T> {
    const lock = await this.lock(this.layout.metaLock, 'exclusive');
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  /** A temp path for a layer's tar-split, renamed into place before its record is written. */
  tempTarSplit(chainId: Digest): string {
    return join(this.layout.layerdb, `.${chainId.slice(7)}.tar-split.gz.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  }

  // --- layer directories ---------------------------------------------------------------------

  /**
   * A new overlay/<cache-id> with an empty diff/ (and work/ and merged/ for a container), its
   * short name in `link` and l/<link> → ../<cache-id>/diff, and `lower` naming the layers below
   * (top first). Until a record names the cache id, the recovery removes it as garbage.
   */
  async makeLayerDir(below: readonly { link: string }[], container = false, linkLength = 26): Promise<{ cacheId: string; link: string }> {
    const cacheId = newId();
    const dir = this.layout.layerDir(cacheId);
    await mkdir(dir, { mode: 0o700 });
    await mkdir(join(dir, 'diff'), { mode: 0o755 });
    if (container) {
      await mkdir(join(dir, 'work'), { mode: 0o700 });
      await mkdir(join(dir, 'merged'), { mode: 0o755 });
    }
    // A short name taken already (36^6 names for a snapshot's: rare, not impossible) is drawn again.
    let link = newShortName(linkLength);
    for (let tries = 0; ; tries++) {
      try {
        await symlink(`../${cacheId}/diff`, this.layout.link(link));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 8) throw e;
        link = newShortName(linkLength);
      }
    }
    await writeFile(join(dir, 'link'), link);
    if (below.length > 0) await writeFile(join(dir, 'lower'), lowerFile(below));
    return { cacheId, link };
  }

  /** Writes the `lower` file of a layer directory made before the layers below it were known. */
  async writeLower(cacheId: string, below: readonly { link: string }[]): Promise<void> {
    if (below.length > 0) await writeFile(join(this.layout.layerDir(cacheId), 'lower'), lowerFile(below));
  }

  /** A layer directory and its short link (a record no longer names it). */
  async removeLayerDir(cacheId: string, link: string | undefined): Promise<void> {
    if (link !== undefined) {
      // Only our own link: a short name is random, but check before unlinking.
      const target = await readlink(this.layout.link(link)).catch(() => undefined);
      if (target === `../${cacheId}/diff`) await unlink(this.layout.link(link)).catch(() => {});
    }
    await removeTree(this.layout.layerDir(cacheId));
  }

  /**
   * Removes every layer that no image and no container uses: its record first (the commit
   * point: from then on it is not in the store), then its directory. Call with gc.lock held
   * exclusively. The chainIDs removed, with the bytes they held.
   */
  async sweep(): Promise<{ removed: Digest[]; reclaimed: number }> {
    const layers = await this.layers();
    const used = await this.usedLayers(layers);
    const removed: Digest[] = [];
    let reclaimed = 0;
    for (const [chainId, r] of layers) {
      if (used.has(chainId)) continue;
      await removeFile(this.layout.layerRecord(chainId));
      await removeFile(this.layout.tarSplit(chainId));
      await this.removeLayerDir(r.cacheId, r.link);
      await removeFile(this.layout.layerLock(chainId));
      removed.push(chainId);
      reclaimed += r.size;
    }
    return { removed, reclaimed };
  }

  /** The chainIDs of every layer an image or a container needs. */
  async usedLayers(layers: Map<Digest, LayerRecord>): Promise<Set<Digest>> {
    const used = new Set<Digest>();
    const mark = (top: Digest | undefined) => {
      for (let id = top; id !== undefined && !used.has(id); id = layers.get(id)?.parent) used.add(id);
    };
    // Every layer an image lists, not only its top's chain: a damaged record in the middle of a
    // chain must not cost the layers below it.
    for (const img of await this.images()) for (const l of img.layers) mark(l.chainId);
    for (const c of await this.containers()) mark(c.parent);
    return used;
  }
}

/** Every record of a directory (`<64 hex>.json`), read in parallel (a listing reads them all). */
async function readAll<T>(dir: string, check: (v: unknown) => v is T): Promise<T[]> {
  const files = (await names(dir)).filter((n) => /^[0-9a-f]{64}\.json$/.test(n)).sort();
  const read = await Promise.all(files.map((n) => readRecord(join(dir, n), check)));
  return read.filter((r): r is Awaited<T> => r !== undefined) as T[];
}

/** The mount points of this mount namespace (one read of mountinfo for a whole listing or check). */
export async function mountedPaths(): Promise<Set<string>> {
  return new Set((await readMountInfo()).map((m) => m.mountPoint));
}

/** Whether anything is mounted at `dir` or beneath it. */
export const mountedIn = (paths: Set<string>, dir: string): boolean => [...paths].some((p) => p === dir || p.startsWith(`${dir}/`));

/** overlay2's `lower` file: `l/A:l/B`, top first. */
export function lowerFile(below: readonly { link: string }[]): string {
  return below.map((l) => `l/${l.link}`).join(':');
}

export const nowIso = (): string => new Date().toISOString();
