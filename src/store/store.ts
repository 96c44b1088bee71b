/**
 * openStore(): a layer store laid out as Docker's overlay2 (see layout.ts), for images,
 * containers and volumes. Layers are kept once, keyed by their OCI chainID, and shared by every
 * image and container on them. Every operation is safe against another process using the same
 * store at the same time (flock locks; see context.ts) and against a kill -9 at any instant
 * (records written by rename are the commit points; opening the store removes what a crash left).
 */
import { mkdir, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Change } from '../layers/changes.js';
import type { ImageReader } from '../oci/image.js';
import { OverlaySpecError } from '../spec/errors.js';
import { StoreContext } from './context.js';
import {
  commitContainer,
  containerChanges,
  createContainer,
  inspectContainer,
  listContainers,
  mountContainer,
  removeContainer,
  unmountContainer,
  type CommitOptions,
  type CommittedImage,
  type ContainerSummary,
  type CreateContainerOptions,
  type MountedContainer,
} from './containers.js';
import { findImage, imageHistory, importImages, inspectImage, listImages, removeImage, tagImage, type HistoryEntry, type ImageSummary, type ImportedImage, type ImportOptions, type RemovedImage } from './images.js';
import { defaultStoreRoot } from './layout.js';
import { recover, type Recovery } from './recover.js';
import {
  commitSnapshot,
  createSnapshot,
  listSnapshots,
  removeSnapshot,
  snapshotMounts,
  snapshotUsage,
  statSnapshot,
  updateSnapshot,
  type SnapshotInfo,
  type SnapshotMount,
} from './snapshots.js';
import { addRepoDigest, openStoredImage, saveImage, type SavedImage, type SaveOptions, type StoredImage } from './save.js';
import { diskUsageReport, prune, type DiskUsage, type PruneResult } from './usage.js';
import { createVolume, inspectVolume, listVolumes, pruneVolumes, removeVolume, type VolumeInfo } from './volumes.js';

export interface OpenStoreOptions {
  /** Default: $OVL_ROOT, else /var/lib/ovl for root, else $XDG_DATA_HOME/ovl. */
  root?: string;
  /** Skip the recovery at open (a read-only look; the store is not changed). */
  noRecovery?: boolean;
}

export class Store {
  readonly root: string;
  /** What opening it found and fixed (see recover.ts). */
  readonly recovery: Recovery;
  readonly #ctx: StoreContext;

  /** @internal Stores come from openStore(). */
  constructor(ctx: StoreContext, recovery: Recovery) {
    this.#ctx = ctx;
    this.root = ctx.layout.root;
    this.recovery = recovery;
  }

  // Images
  /** Imports images from an OCI layout, an oci-archive or a docker save archive (a path), or any ImageReader (a registry's image). */
  importImage(source: string | ImageReader, options: ImportOptions = {}): Promise<ImportedImage[]> {
    return importImages(this.#ctx, source, options);
  }
  /**
   * Opens an image for reading its config, manifest and layer tars (what a push sends); its
   * layers are kept (no prune sweeps them) until close().
   */
  openImage(name: string): Promise<StoredImage> {
    return openStoredImage(this.#ctx, name);
  }
  /** Records where an image is in a registry (`name@sha256:…`, docker's RepoDigests), as a push does. */
  addRepoDigest(id: string, repoDigest: string): Promise<void> {
    return addRepoDigest(this.#ctx, id as `sha256:${string}`, repoDigest);
  }
  images(): Promise<ImageSummary[]> {
    return listImages(this.#ctx);
  }
  /** The image a name, id or id prefix names: its id and tags. */
  async image(name: string): Promise<{ id: string; refs: string[]; config: unknown; manifestDigest: string; layers: number }> {
    const { record } = await findImage(this.#ctx, name);
    const { refs } = await this.#ctx.repositories();
    return {
      id: record.id,
      refs: Object.keys(refs).filter((r) => refs[r] === record.id),
      config: JSON.parse(record.config),
      manifestDigest: record.manifestDigest,
      layers: record.layers.length,
    };
  }
  /** docker image inspect: id, tags, config, size, diffIDs, GraphDriver. */
  inspectImage(image: string): Promise<Record<string, unknown>> {
    return inspectImage(this.#ctx, image);
  }
  history(image: string): Promise<HistoryEntry[]> {
    return imageHistory(this.#ctx, image);
  }
  async tag(image: string, ref: string): Promise<string[]> {
    const { record } = await findImage(this.#ctx, image);
    return tagImage(this.#ctx, record.id, ref);
  }
  removeImage(image: string, options: { force?: boolean } = {}): Promise<RemovedImage> {
    return removeImage(this.#ctx, image, options);
  }

  /**
   * Writes the image into the OCI layout at `dir`, each layer's tar rebuilt byte for byte from
   * its files (the same diffIDs: the same image id), plain or gzip'd.
   */
  saveImage(image: string, dir: string, options: SaveOptions = {}): Promise<SavedImage> {
    return saveImage(this.#ctx, image, dir, options);
  }

  // Containers
  createContainer(image: string, options: CreateContainerOptions = {}): Promise<ContainerSummary> {
    return createContainer(this.#ctx, image, options);
  }
  containers(): Promise<ContainerSummary[]> {
    return listContainers(this.#ctx);
  }
  mountContainer(name: string): Promise<MountedContainer> {
    return mountContainer(this.#ctx, name);
  }
  unmountContainer(name: string, options: { lazy?: boolean } = {}): Promise<boolean> {
    return unmountContainer(this.#ctx, name, options);
  }
  diff(container: string): Promise<Change[]> {
    return containerChanges(this.#ctx, container);
  }
  commit(container: string, options: CommitOptions = {}): Promise<CommittedImage> {
    return commitContainer(this.#ctx, container, options);
  }
  async removeContainer(name: string, options: { force?: boolean } = {}): Promise<{ id: string; name: string }> {
    const c = await removeContainer(this.#ctx, name, options);
    return { id: c.id, name: c.name };
  }
  inspectContainer(name: string): Promise<Record<string, unknown>> {
    return inspectContainer(this.#ctx, name);
  }

  // Volumes
  createVolume(name?: string, options: { labels?: Record<string, string> } = {}): Promise<VolumeInfo> {
    return createVolume(this.#ctx, name, options.labels);
  }
  volumes(): Promise<VolumeInfo[]> {
    return listVolumes(this.#ctx);
  }
  inspectVolume(name: string): Promise<VolumeInfo> {
    return inspectVolume(this.#ctx, name);
  }
  removeVolume(name: string, options: { force?: boolean } = {}): Promise<void> {
    return removeVolume(this.#ctx, name, options);
  }
  /** docker volume prune: the volumes no container names (anonymous ones only, unless `all`). */
  pruneVolumes(options: { all?: boolean } = {}): Promise<{ volumes: string[]; reclaimed: number }> {
    return pruneVolumes(this.#ctx, options);
  }

  // Disk
  df(options: { verify?: boolean } = {}): Promise<DiskUsage> {
    return diskUsageReport(this.#ctx, options);
  }
  prune(): Promise<PruneResult> {
    return prune(this.#ctx);
  }
  /** Runs the open-time recovery again (it runs only when no other process is busy with the store). */
  recover(): Promise<Recovery> {
    return recover(this.#ctx);
  }

  // Snapshots: containerd's model (core/snapshots) over the store's layers; the snapshotter serves them.
  /** A writable snapshot `key` on the committed `parent` (none: an empty one); the mounts containerd makes of it. */
  prepareSnapshot(key: string, parent?: string, labels?: Record<string, string>): Promise<SnapshotMount[]> {
    return createSnapshot(this.#ctx, 'active', key, parent, labels);
  }
  /** A read-only view `key` of the committed `parent`; its mounts. */
  viewSnapshot(key: string, parent?: string, labels?: Record<string, string>): Promise<SnapshotMount[]> {
    return createSnapshot(this.#ctx, 'view', key, parent, labels);
  }
  snapshotMounts(key: string): Promise<SnapshotMount[]> {
    return snapshotMounts(this.#ctx, key);
  }
  /** The active snapshot `key` committed as `name` (its labels added to). */
  commitSnapshot(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    return commitSnapshot(this.#ctx, name, key, labels);
  }
  removeSnapshot(key: string): Promise<void> {
    return removeSnapshot(this.#ctx, key);
  }
  statSnapshot(key: string): Promise<SnapshotInfo> {
    return statSnapshot(this.#ctx, key);
  }
  /** Labels updated (`paths`: containerd's field mask, `labels` or `labels.KEY`; none: all replaced). */
  updateSnapshot(info: { name: string; labels?: Record<string, string> }, paths?: readonly string[]): Promise<SnapshotInfo> {
    return updateSnapshot(this.#ctx, info, paths);
  }
  snapshots(): Promise<SnapshotInfo[]> {
    return listSnapshots(this.#ctx);
  }
  snapshotUsage(key: string): Promise<{ size: number; inodes: number }> {
    return snapshotUsage(this.#ctx, key);
  }
}

/** Opens (making it if missing) the store at `root`, after removing what a crash left there. */
export async function openStore(options: OpenStoreOptions = {}): Promise<Store> {
  const root = options.root ?? defaultStoreRoot();
  if (typeof root !== 'string' || root === '') throw new OverlaySpecError([{ field: 'root', problem: 'must be a non-empty path' }]);
  await mkdir(resolve(root), { recursive: true, mode: 0o700 });
  // The real path: mountinfo shows mount points by it, and a container's merged dir is found
  // there by its path (a root reached through a symlink would never match).
  const ctx = new StoreContext(await realpath(resolve(root)));
  for (const dir of ctx.layout.dirs) await mkdir(dir, { recursive: true, mode: 0o700 });
  const recovery = options.noRecovery ? { ran: false, removed: [], repaired: [], inUse: [] } : await recover(ctx);
  return new Store(ctx, recovery);
}
