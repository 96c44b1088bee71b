/**
 * Writing an OCI image layout from layer tars: the blobs (layers, config, manifest), `oci-layout`
 * and `index.json` with the ref annotation. Used by the tests to make images, and the base of
 * `docker save`-style output later. Blobs are written to a temporary name and renamed, so a
 * blob that exists is complete; one already there is not written again.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressionOfMediaType, createDecompressor } from '../compression.js';
import { digestOf, Hasher, type Digest } from '../digest.js';
import { hostPlatform, type PlatformSpec } from './select.js';
import { blobPath, checkIndex, MediaType, REF_NAME, type OciConfig, type OciDescriptor, type OciIndex, type OciManifest } from './types.js';

export interface WriteLayer {
  /** The layer blob, as it is to be stored (a tar, or a compressed tar). */
  path?: string;
  data?: Buffer;
  /** Default: an uncompressed OCI layer. */
  mediaType?: string;
  /** The uncompressed tar's digest; computed (the blob decompressed as its media type says) when not given. */
  diffId?: Digest;
  /** config.history's `created_by` for this layer. */
  createdBy?: string;
}

export interface WriteLayoutOptions {
  layers: WriteLayer[];
  /**
   * Fields of the config. The defaults: the platform, `rootfs` from the layers' diffIDs, one
   * `history` entry per layer; any field given here replaces its default (tests use that to
   * write a broken config).
   */
  config?: Partial<OciConfig>;
  /** `org.opencontainers.image.ref.name` in index.json (a tag: `latest`, `1.0`). */
  ref?: string;
  /** Default: the running platform. Written to the config and to the index descriptor. */
  platform?: PlatformSpec;
  /** OCI (default) or Docker schema 2 media types for the manifest and config. */
  format?: 'oci' | 'docker';
  /** Add the manifest to index.json (default true; an index of the caller's own can list it instead). */
  index?: boolean;
  /** Manifest annotations. */
  annotations?: Record<string, string>;
}

export interface WrittenImage {
  /** The manifest's descriptor, as index.json lists it. */
  descriptor: OciDescriptor;
  manifestDigest: Digest;
  manifest: OciManifest;
  configDigest: Digest;
  config: OciConfig;
  layers: Array<{ digest: Digest; diffId: Digest; size: number; mediaType: string }>;
}

/** Writes `bytes` as a blob of the layout at `dir`; its descriptor. */
export async function writeBlob(dir: string, bytes: Buffer, mediaType: string): Promise<OciDescriptor> {
  const digest = digestOf(bytes);
  const path = join(dir, blobPath(digest));
  if (!(await exists(path))) {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  }
  return { mediaType, digest, size: bytes.length };
}

/** Writes `index.json` (and `oci-layout`) listing `manifests`. */
export async function writeIndex(dir: string, manifests: OciDescriptor[], annotations?: Record<string, string>): Promise<OciIndex> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index: OciIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests, ...(annotations ? { annotations } : {}) };
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
  return index;
}

/**
 * Writes an image into the OCI layout at `dir` (created if missing): its layer blobs, config and
 * manifest; and, unless `index: false`, lists it in index.json (after what is there already,
 * replacing an entry with the same ref).
 */
export async function writeOciLayout(dir: string, options: WriteLayoutOptions): Promise<WrittenImage> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const docker = options.format === 'docker';
  const platform = options.platform ?? hostPlatform();
  const layers: WrittenImage['layers'] = [];
  for (const [i, layer] of options.layers.entries()) {
    const mediaType = layer.mediaType ?? (docker ? MediaType.dockerLayer : MediaType.ociLayer);
    layers.push({ ...(await writeLayerBlob(dir, layer, mediaType, i)), mediaType });
  }
  const config: OciConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: options.layers.map((l, i) => ({ created_by: l.createdBy ?? `layer ${i}` })),
    ...options.config,
  };
  const configDesc = await writeBlob(dir, Buffer.from(JSON.stringify(config)), docker ? MediaType.dockerConfig : MediaType.ociConfig);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.dockerManifest : MediaType.ociManifest,
    config: configDesc,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(options.annotations ? { annotations: options.annotations } : {}),
  };
  const manifestDesc = await writeBlob(dir, Buffer.from(JSON.stringify(manifest)), manifest.mediaType!);
  const descriptor: OciDescriptor = {
    ...manifestDesc,
    platform: { os: platform.os, architecture: platform.architecture, ...(platform.variant !== undefined ? { variant: platform.variant } : {}) },
    ...(options.ref !== undefined ? { annotations: { [REF_NAME]: options.ref } } : {}),
  };
  if (options.index !== false) {
    let listed: OciDescriptor[] = [];
    const indexPath = join(dir, 'index.json');
    if (await exists(indexPath)) {
      listed = checkIndex(JSON.parse(await readFile(indexPath, 'utf8')), indexPath).manifests;
      if (options.ref !== undefined) listed = listed.filter((d) => d.annotations?.[REF_NAME] !== options.ref);
    }
    await writeIndex(dir, [...listed, descriptor]);
  }
  return { descriptor, manifestDigest: manifestDesc.digest, manifest, configDigest: configDesc.digest, config, layers };
}

/** Copies one layer into the blobs, hashing it (and its uncompressed tar for the diffID) on the way. */
async function writeLayerBlob(dir: string, layer: WriteLayer, mediaType: string, i: number): Promise<{ digest: Digest; diffId: Digest; size: number }> {
  const source = (): Readable => {
    if (layer.data !== undefined) return Readable.from([layer.data]);
    if (layer.path !== undefined) return createReadStream(layer.path);
    throw new TypeError(`writeOciLayout: layers[${i}]: give path or data`);
  };
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const tmp = join(dir, 'blobs', `.layer-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const blob = new Hasher();
  const diff = new Hasher();
  // The diffID is the digest of the tar: of the blob decompressed (a PassThrough when it is not).
  const decompress = layer.diffId === undefined ? createDecompressor(compressionOfMediaType(mediaType)) : undefined;
  try {
    await Promise.all([
      pipeline(
        source(),
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const c of chunks) {
            blob.update(c);
            // Waits for the decompressor, or for its end (an error, which fails the other pipeline).
            if (decompress && !decompress.write(c)) {
              // Both listeners go once either fires: one left per wait would pile up over a big layer.
              await new Promise<void>((r) => {
                const done = () => {
                  decompress.off('drain', done).off('close', done);
                  r();
                };
                decompress.on('drain', done).on('close', done);
              });
            }
            if (decompress?.destroyed) throw new Error('the layer could not be decompressed');
            yield c;
          }
          decompress?.end();
        },
        createWriteStream(tmp),
      ),
      decompress &&
        pipeline(decompress, async (chunks: AsyncIterable<Buffer>) => {
          for await (const c of chunks) diff.update(c);
        }),
    ]);
    const digest = blob.digest();
    const path = join(dir, blobPath(digest));
    if (await exists(path)) await rm(tmp, { force: true });
    else await rename(tmp, path);
    return { digest, diffId: layer.diffId ?? diff.digest(), size: blob.bytes };
  } catch (err) {
    decompress?.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
