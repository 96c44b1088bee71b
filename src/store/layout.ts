/**
 * Where everything of a store is, as Docker's overlay2 lays it out (users know it):
 *
 *   overlay/<cache-id>/diff      a layer's files (an image layer, or a container's writable layer)
 *   overlay/<cache-id>/link      its short name;  lower: the short names below it, top first (l/A:l/B)
 *   overlay/<cache-id>/work      (containers) the overlay's work dir;  merged: the mount point;
 *                                init: the volumes' mount points the image lacks (Docker's -init layer)
 *   overlay/l/<short name>       → ../<cache-id>/diff
 *   layerdb/sha256/<chain>.json  a layer's metadata, keyed by its OCI chainID
 *   layerdb/sha256/<chain>.tar-split.gz  its tar but the file contents: the tar rebuilt exactly
 *   imagedb/sha256/<id>.json     an image (its id is its config's digest, as Docker's)
 *   repositories.json            tags → image ids
 *   containers/<id>.json         a container
 *   volumes/<name>/_data         a named volume;  volumes/<name>/volume.json its metadata
 *   snapshots/<sha256 of key>.json  a containerd snapshot (its files are overlay/<cache-id>, its
 *                                short link 6 characters: a 500-layer mount fits in one page)
 *   locks/                       flock files (the kernel drops a dead process's locks)
 *
 * Each metadata file is written whole to a temp name and renamed over (atomic), so a reader, in
 * this process or another, sees the old file or the new one, and a kill -9 leaves one of them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { inInitialUserNamespace } from '../oci/ids.js';

/** The default store: /var/lib/ovl for root, $XDG_DATA_HOME/ovl (~/.local/share/ovl) otherwise. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OVL_ROOT) return env.OVL_ROOT;
  // Root of a user namespace (unshare -Urm, a rootless store) is a user's store: /var/lib is not its.
  if (process.getuid?.() === 0 && inInitialUserNamespace()) return '/var/lib/ovl';
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'ovl');
}


/** overlay2's short names: 26 characters of A-Z0-9 (its idLength; the link dir entries). */
export const SHORT_NAME = /^[A-Z0-9]{26}$/;
/** A snapshot's short name: 6 characters, so 500 lowers (the kernel's most) fit in one page relative to l/. */
export const SNAPSHOT_SHORT_NAME = /^[A-Z0-9]{6}$/;
const SHORT_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function newShortName(length = 26): string {
  const bytes = randomBytes(length);
  let s = '';
  for (const b of bytes) s += SHORT_ALPHABET[b % 36];
  return s;
}

/** A cache id or container id: 64 hex characters, as Docker's. */
export const ID = /^[0-9a-f]{64}$/;

export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** A volume name, as Docker accepts them. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const hexOf = (d: Digest): string => d.slice('sha256:'.length);

export class StoreLayout {
  readonly root: string;
  readonly overlay: string;
  readonly links: string;
  readonly layerdb: string;
  readonly imagedb: string;
  readonly repositories: string;
  readonly containers: string;
  readonly volumes: string;
  readonly locks: string;
  readonly snapshots: string;

  constructor(root: string) {
    this.root = root;
    this.overlay = join(root, 'overlay');
    this.links = join(this.overlay, 'l');
    this.layerdb = join(root, 'layerdb', 'sha256');
    this.imagedb = join(root, 'imagedb', 'sha256');
    this.repositories = join(root, 'repositories.json');
    this.containers = join(root, 'containers');
    this.volumes = join(root, 'volumes');
    this.locks = join(root, 'locks');
    this.snapshots = join(root, 'snapshots');
  }

  /** Every directory a store has, parents first. */
  get dirs(): string[] {
    return [this.root, this.overlay, this.links, join(this.root, 'layerdb'), this.layerdb, join(this.root, 'imagedb'), this.imagedb, this.containers, this.volumes, this.locks, this.snapshots];
  }

  layerDir(cacheId: string): string {
    return join(this.overlay, cacheId);
  }
  diff(cacheId: string): string {
    return join(this.overlay, cacheId, 'diff');
  }
  work(cacheId: string): string {
    return join(this.overlay, cacheId, 'work');
  }
  /** A container's mount points the image lacks (a read-only layer: Docker's -init). */
  init(cacheId: string): string {
    return join(this.overlay, cacheId, 'init');
  }
  merged(cacheId: string): string {
    return join(this.overlay, cacheId, 'merged');
  }
  /** A snapshot's record: named by the sha256 of its key (containerd's keys hold '/' and spaces). */
  snapshotRecord(key: string): string {
    return join(this.snapshots, `${createHash('sha256').update(key).digest('hex')}.json`);
  }
  link(short: string): string {
    return join(this.links, short);
  }
  layerRecord(chainId: Digest): string {
    return join(this.layerdb, `${hexOf(chainId)}.json`);
  }
  /** The layer's tar-split: its tar, rebuilt byte for byte from its diff (oci/tar/split.ts). */
  tarSplit(chainId: Digest): string {
    return join(this.layerdb, `${hexOf(chainId)}.tar-split.gz`);
  }
  imageRecord(id: Digest): string {
    return join(this.imagedb, `${hexOf(id)}.json`);
  }
  containerRecord(id: string): string {
    return join(this.containers, `${id}.json`);
  }
  volume(name: string): string {
    return join(this.volumes, name);
  }
  volumeData(name: string): string {
    return join(this.volumes, name, '_data');
  }
  volumeRecord(name: string): string {
    return join(this.volumes, name, 'volume.json');
  }
  /** Taken shared by everything that makes or uses layers, exclusively by what deletes them. */
  get gcLock(): string {
    return join(this.locks, 'gc.lock');
  }
  /** Taken on the way to gc.lock: held exclusively by a deletion waiting for it (see context.ts). */
  get gcTurnstile(): string {
    return join(this.locks, 'gc-turnstile.lock');
  }
  /** Around read-modify-write of shared records (tags, container names). */
  get metaLock(): string {
    return join(this.locks, 'meta.lock');
  }
  /** Held by what mounts, unmounts, commits or removes one container: one of them at a time. */
  containerLock(id: string): string {
    return join(this.locks, `container-${id}.lock`);
  }
  /** Held while one layer is applied, so two imports of it apply it once. */
  layerLock(chainId: Digest): string {
    return join(this.locks, `layer-${hexOf(chainId)}.lock`);
  }
}
