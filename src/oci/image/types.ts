/**
 * The JSON documents of an image, as far as this library relies on them, and their shape checks.
 * OCI image-spec (descriptor.md, image-index.md, manifest.md, config.md) and Docker's schema 2
 * equivalents, which differ only in their media types. Every check names the blob and the field,
 * so `ERR_IMAGE: manifest sha256:ab…: layers[2].digest: expected a string` says where to look.
 * Fields not relied on are kept as they are (an image's config is handed on whole).
 */
import { OverlayError } from '../../spec/errors.js';
import { isDigest, type Digest } from '../digest.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** Docker's schema 1 (signed or not): refused, it has no config and no diffIDs. */
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export const isIndexMediaType = (mt: string | undefined): boolean => mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
export const isManifestMediaType = (mt: string | undefined): boolean => mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
export const isSchema1MediaType = (mt: string | undefined): boolean => mt === MediaType.dockerSchema1 || mt === MediaType.dockerSchema1Signed;

/** The annotation naming a ref in an image layout's index.json (image-layout.md). */
export const REF_NAME = 'org.opencontainers.image.ref.name';
/** The full image name containerd and Docker ≥ 25 put beside it (`docker.io/library/busybox:latest`). */
export const IMAGE_NAME = 'io.containerd.image.name';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
  features?: string[];
}

export interface OciDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: OciDescriptor[];
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  annotations?: Record<string, string>;
}

export interface OciHistory {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface OciConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: Digest[] };
  history?: OciHistory[];
  [key: string]: unknown;
}

export const imageError = (message: string, context: { path?: string; field?: string } = {}) => new OverlayError('ERR_IMAGE', message, context);

// A digest, as descriptor.md writes its grammar: algorithm ":" encoded, with
// algorithm-component ([a-z0-9]+) joined by one of [+._-]; sha256's encoded part is 64 lowercase hex.
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * A digest from an untrusted document, checked: the grammar of descriptor.md, and sha256 (the one
 * algorithm verified here). This is what keeps a blob path `blobs/<alg>/<hex>` inside the layout.
 */
export function checkDigest(value: unknown, where: string, field: string): Digest {
  if (typeof value !== 'string') throw fieldError(where, field, 'expected a digest string', value);
  if (!DIGEST.test(value)) throw imageError(`${where}: ${field}: not a digest: ${JSON.stringify(value).slice(0, 100)}`, { field });
  if (!isDigest(value)) {
    throw imageError(`${where}: ${field}: unsupported digest ${JSON.stringify(value).slice(0, 100)} (only sha256 with 64 lowercase hex digits)`, { field });
  }
  return value;
}

/** The path of a blob inside a layout: `blobs/sha256/<hex>`, for a checked digest only. */
export function blobPath(digest: Digest): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value).slice(0, 60)}`;
}

function fieldError(where: string, field: string, expected: string, value: unknown): OverlayError {
  return imageError(`${where}: ${field}: ${expected}, found ${describe(value)}`, { field });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function obj(v: unknown, where: string, field: string): Record<string, unknown> {
  if (!isObject(v)) throw fieldError(where, field, 'expected an object', v);
  return v;
}
function str(v: unknown, where: string, field: string): string {
  if (typeof v !== 'string') throw fieldError(where, field, 'expected a string', v);
  return v;
}
function optStr(v: unknown, where: string, field: string): string | undefined {
  return v === undefined ? undefined : str(v, where, field);
}
function arr(v: unknown, where: string, field: string): unknown[] {
  if (!Array.isArray(v)) throw fieldError(where, field, 'expected an array', v);
  return v;
}
function stringMap(v: unknown, where: string, field: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  const o = obj(v, where, field);
  for (const [k, s] of Object.entries(o)) str(s, where, `${field}.${k}`);
  return o as Record<string, string>;
}
function schemaVersion2(doc: Record<string, unknown>, where: string): void {
  if (doc.schemaVersion === 1) {
    throw imageError(`${where}: a Docker schema 1 manifest: not supported (it has no config and no diffIDs); pull or convert it to schema 2 or OCI first`);
  }
  if (doc.schemaVersion !== 2) throw fieldError(where, 'schemaVersion', 'expected 2', doc.schemaVersion);
}

export function checkPlatform(v: unknown, where: string, field: string): Platform {
  const p = obj(v, where, field);
  str(p.os, where, `${field}.os`);
  str(p.architecture, where, `${field}.architecture`);
  optStr(p.variant, where, `${field}.variant`);
  return p as unknown as Platform;
}

/** A descriptor: mediaType, digest and size are required; `size` is checked, never used to allocate. */
export function checkDescriptor(v: unknown, where: string, field: string): OciDescriptor {
  const d = obj(v, where, field);
  str(d.mediaType, where, `${field}.mediaType`);
  checkDigest(d.digest, where, `${field}.digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw fieldError(where, `${field}.size`, 'expected a non-negative integer', d.size);
  stringMap(d.annotations, where, `${field}.annotations`);
  if (d.platform !== undefined) checkPlatform(d.platform, where, `${field}.platform`);
  return d as unknown as OciDescriptor;
}

/** An image index (OCI) or manifest list (Docker). `where` names the blob (`index.json`, `index sha256:…`). */
export function checkIndex(v: unknown, where: string): OciIndex {
  const doc = obj(v, where, '(document)');
  schemaVersion2(doc, where);
  const mt = optStr(doc.mediaType, where, 'mediaType');
  if (mt !== undefined && !isIndexMediaType(mt)) throw imageError(`${where}: mediaType: ${mt} is not an image index`, { field: 'mediaType' });
  arr(doc.manifests, where, 'manifests').forEach((m, i) => checkDescriptor(m, where, `manifests[${i}]`));
  stringMap(doc.annotations, where, 'annotations');
  return doc as unknown as OciIndex;
}

export function checkManifest(v: unknown, where: string): OciManifest {
  const doc = obj(v, where, '(document)');
  schemaVersion2(doc, where);
  const mt = optStr(doc.mediaType, where, 'mediaType');
  if (mt !== undefined && !isManifestMediaType(mt)) {
    throw imageError(`${where}: mediaType: ${mt} is not an image manifest${isIndexMediaType(mt) ? ' (it is an index)' : ''}`, { field: 'mediaType' });
  }
  if (mt === undefined && Array.isArray(doc.manifests)) throw imageError(`${where}: an image index where an image manifest was expected`);
  checkDescriptor(doc.config, where, 'config');
  arr(doc.layers, where, 'layers').forEach((l, i) => checkDescriptor(l, where, `layers[${i}]`));
  stringMap(doc.annotations, where, 'annotations');
  return doc as unknown as OciManifest;
}

export function checkConfig(v: unknown, where: string): OciConfig {
  const doc = obj(v, where, '(document)');
  optStr(doc.os, where, 'os');
  optStr(doc.architecture, where, 'architecture');
  optStr(doc.variant, where, 'variant');
  const rootfs = obj(doc.rootfs, where, 'rootfs');
  if (rootfs.type !== 'layers') throw fieldError(where, 'rootfs.type', "expected 'layers'", rootfs.type);
  arr(rootfs.diff_ids, where, 'rootfs.diff_ids').forEach((d, i) => checkDigest(d, where, `rootfs.diff_ids[${i}]`));
  if (doc.history !== undefined) {
    arr(doc.history, where, 'history').forEach((h, i) => {
      const e = obj(h, where, `history[${i}]`);
      optStr(e.created_by, where, `history[${i}].created_by`);
      if (e.empty_layer !== undefined && typeof e.empty_layer !== 'boolean') throw fieldError(where, `history[${i}].empty_layer`, 'expected a boolean', e.empty_layer);
    });
  }
  return doc as OciConfig;
}
