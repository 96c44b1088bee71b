/**
 * The store's metadata records, their shape checks (a record is read from disk: trusted only
 * once checked), and image references as Docker writes them.
 */
import { isDigest, type Digest } from '../oci/digest.js';
import { OverlaySpecError } from '../spec/errors.js';
import { checkIdMap } from '../spec/shape.js';
import type { IdMap } from '../spec/types.js';
import { ID, SHORT_NAME } from './layout.js';

/** layerdb/sha256/<chainID>.json: one image layer. */
export interface LayerRecord {
  chainId: Digest;
  /** sha256 of the layer's uncompressed tar. */
  diffId: Digest;
  /** The chainID of the layer below, absent for a bottom layer. */
  parent?: Digest;
  /** overlay/<cacheId> holds its files. */
  cacheId: string;
  /** Its short name: overlay/l/<link> → ../<cacheId>/diff. */
  link: string;
  /** What its files take (file contents and symlink targets), counted when it was applied. */
  size: number;
  /** The blob it was applied from: its digest, media type and size (as a registry or a layout holds it). */
  digest: Digest;
  mediaType: string;
  compressedSize: number;
  entries: number;
  created: string;
}

/** One layer of an image, as its manifest lists it. */
export interface ImageLayer {
  chainId: Digest;
  digest: Digest;
  mediaType: string;
  size: number;
}

/** imagedb/sha256/<id>.json: one image; its id is its config's digest. */
export interface ImageRecord {
  id: Digest;
  /** The config, byte for byte (its sha256 is the id). */
  config: string;
  manifestDigest: Digest;
  /** The manifest, byte for byte. */
  manifest: string;
  /** Bottom first. */
  layers: ImageLayer[];
  /** When it came into this store. */
  added: string;
  /**
   * `name@sha256:…` of the manifest in each repository it was pulled from or pushed to (docker's
   * RepoDigests): one per repository. A push asks those repositories to lend their blobs.
   */
  repoDigests?: string[];
}

/** A volume or tmpfs beside a container's root filesystem. */
export type ContainerMount =
  | { type: 'volume'; name: string; destination: string; readOnly: boolean }
  | { type: 'bind'; source: string; destination: string; readOnly: boolean }
  | { type: 'tmpfs'; destination: string; size?: string; mode?: number };

/** containers/<id>.json: one container (its writable layer is overlay/<cacheId>). */
export interface ContainerRecord {
  id: string;
  name: string;
  /** The image id, and the name it was created from. */
  image: Digest;
  imageName: string;
  /** The chainID of the image's top layer (the container keeps its layers alive), absent for an image without layers. */
  parent?: Digest;
  cacheId: string;
  link: string;
  created: string;
  mounts: ContainerMount[];
  /**
   * Docker's -init layer: overlay/<cacheId>/init holds the mount points the image lacks, as a
   * read-only layer between the image's and the writable one, so neither diff nor commit shows them.
   */
  init?: boolean;
  /** The writable layer's size when it was last unmounted (a mounted one is measured when asked). */
  size: number;
  /** The strategy of its last mount. */
  strategy?: string;
  /**
   * Its user namespace's id map: the image's layers are mounted idmapped through it (one copy for
   * every container), and its writable layer holds the host's ids (commit maps them back).
   */
  idmap?: IdMap;
}

/** volumes/<name>/volume.json */
export interface VolumeRecord {
  name: string;
  created: string;
  labels: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown): v is string => typeof v === 'string';

export function isLayerRecord(v: unknown): v is LayerRecord {
  return (
    isObject(v) &&
    isDigest(v.chainId) &&
    isDigest(v.diffId) &&
    (v.parent === undefined || isDigest(v.parent)) &&
    isText(v.cacheId) &&
    ID.test(v.cacheId) &&
    isText(v.link) &&
    SHORT_NAME.test(v.link) &&
    isCount(v.size) &&
    isDigest(v.digest) &&
    isText(v.mediaType) &&
    isCount(v.compressedSize) &&
    isCount(v.entries) &&
    isText(v.created)
  );
}

export function isImageRecord(v: unknown): v is ImageRecord {
  return (
    isObject(v) &&
    isDigest(v.id) &&
    isText(v.config) &&
    isDigest(v.manifestDigest) &&
    isText(v.manifest) &&
    Array.isArray(v.layers) &&
    v.layers.every((l) => isObject(l) && isDigest(l.chainId) && isDigest(l.digest) && isText(l.mediaType) && isCount(l.size)) &&
    isText(v.added) &&
    (v.repoDigests === undefined || (Array.isArray(v.repoDigests) && v.repoDigests.every(isText)))
  );
}

function isContainerMount(m: unknown): m is ContainerMount {
  if (!isObject(m) || !isText(m.destination)) return false;
  if (m.type === 'volume') return isText(m.name) && typeof m.readOnly === 'boolean';
  if (m.type === 'bind') return isText(m.source) && typeof m.readOnly === 'boolean';
  if (m.type === 'tmpfs') return (m.size === undefined || isText(m.size)) && (m.mode === undefined || isCount(m.mode));
  return false;
}

export function isContainerRecord(v: unknown): v is ContainerRecord {
  return (
    isObject(v) &&
    isText(v.id) &&
    ID.test(v.id) &&
    isText(v.name) &&
    isDigest(v.image) &&
    isText(v.imageName) &&
    (v.parent === undefined || isDigest(v.parent)) &&
    isText(v.cacheId) &&
    ID.test(v.cacheId) &&
    isText(v.link) &&
    SHORT_NAME.test(v.link) &&
    isText(v.created) &&
    Array.isArray(v.mounts) &&
    v.mounts.every(isContainerMount) &&
    (v.idmap === undefined || (isObject(v.idmap) && checkIdMap(v.idmap).length === 0 && Array.isArray(v.idmap.gid))) &&
    (v.init === undefined || typeof v.init === 'boolean') &&
    isCount(v.size) &&
    (v.strategy === undefined || isText(v.strategy))
  );
}

export function isVolumeRecord(v: unknown): v is VolumeRecord {
  return isObject(v) && isText(v.name) && isText(v.created) && isObject(v.labels) && Object.values(v.labels).every(isText);
}

/** repositories.json: `name:tag` → image id. */
export interface Repositories {
  refs: Record<string, Digest>;
}

export function isRepositories(v: unknown): v is Repositories {
  return isObject(v) && isObject(v.refs) && Object.values(v.refs).every(isDigest);
}

// Docker's reference grammar (distribution/reference): lowercase path components separated by
// '/', each of [a-z0-9] runs joined by '.', '_', '__' or '-'s; an optional registry host
// (with a '.' or ':' or 'localhost') first; a tag of [\w][\w.-]{0,127}.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)';
const NAME = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;

/**
 * A reference as the store keeps it: `name:tag`, `:latest` when no tag is given (as Docker).
 * ERR_OVERLAY_SPEC naming `field` when it is not one.
 */
export function normalizeRef(ref: string, field = 'reference'): string {
  const bad = (problem: string) => new OverlaySpecError([{ field, problem: `'${ref}' ${problem}` }]);
  if (typeof ref !== 'string' || ref === '') throw new OverlaySpecError([{ field, problem: 'must be a non-empty image reference (name[:tag])' }]);
  if (ref.includes('@')) throw bad('has a digest: tag images by name[:tag]');
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const hasTag = colon > slash;
  const name = hasTag ? ref.slice(0, colon) : ref;
  const tag = hasTag ? ref.slice(colon + 1) : 'latest';
  if (name.length > 255 || !NAME.test(name)) throw bad('is not a valid image name (lowercase letters, digits, and . _ - / between them)');
  if (!TAG.test(tag)) throw bad('has an invalid tag (letters, digits, _ . -; at most 128)');
  // Docker Hub's names as docker shows them: docker.io/library/busybox and library/busybox are busybox.
  const short = name.replace(/^(?:docker\.io\/|index\.docker\.io\/|registry-1\.docker\.io\/)?library\/(?=[^/]+$)/, '').replace(/^(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  return `${short}:${tag}`;
}

/** Splits a normalized ref into Docker's REPOSITORY and TAG columns. */
export function splitRef(ref: string): { repository: string; tag: string } {
  const colon = ref.lastIndexOf(':');
  return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
}

/** The 12-character id Docker prints. */
export const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);
