/**
 * Images out of the store: each layer's tar rebuilt byte for byte from its files and its
 * tar-split (so its diffID, and the image id, are the ones that came in), written as an OCI
 * image layout that any tool (and this store's import) reads. What `docker save` does with
 * Docker's tar-split; what a push will send.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { digestMismatch, Hasher, type Digest } from '../oci/digest.js';
import { MediaType, type OciDescriptor, type OciManifest } from '../oci/image.js';
import { blobPath, checkIndex, IMAGE_NAME, REF_NAME } from '../oci/image/types.js';
import { writeBlob, writeIndex } from '../oci/image/write.js';
import { OverlayError } from '../spec/errors.js';
import type { StoreContext } from './context.js';
import { writeRecord } from './files.js';
import { findImage, mergeRepoDigest, parseConfig } from './images.js';
import { storedLayerTar } from './layer-tar.js';
import { normalizeRef, splitRef, type LayerRecord } from './records.js';

export interface SaveOptions {
  /** Layer blobs gzip'd (default: plain tars, as docker save writes them). */
  compression?: 'none' | 'gzip';
  /** The name to list it under in index.json (default: the name it was found by, or its first tag). */
  ref?: string;
}

export interface SavedImage {
  id: Digest;
  manifestDigest: Digest;
  ref?: string;
  layers: Array<{ diffId: Digest; digest: Digest; size: number }>;
}

/** Writes image `name` into the OCI layout at `dir` (made if missing; other images there stay). */
export async function saveImage(ctx: StoreContext, name: string, dir: string, options: SaveOptions = {}): Promise<SavedImage> {
  const gc = await ctx.useLayers();
  try {
    const { record, ref: foundAs } = await findImage(ctx, name);
    const layers = await ctx.layers();
    const chain = (await ctx.chain(record.layers.at(-1)?.chainId, layers)).reverse();
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const gzip = options.compression === 'gzip';
    const written: SavedImage['layers'] = [];
    for (const layer of chain) written.push({ diffId: layer.diffId, ...(await writeLayer(ctx, layer, dir, gzip)) });
    const config = parseConfig(record);
    const configDesc = await writeBlob(dir, Buffer.from(record.config), MediaType.ociConfig);
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: configDesc,
      layers: written.map((l) => ({ mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: l.digest, size: l.size })),
    };
    const manifestDesc = await writeBlob(dir, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
    const { refs } = await ctx.repositories();
    const fullName = options.ref !== undefined ? normalizeRef(options.ref, 'ref') : (foundAs ?? Object.keys(refs).find((r) => refs[r] === record.id));
    const descriptor: OciDescriptor = {
      ...manifestDesc,
      ...(config.os !== undefined && config.architecture !== undefined
        ? { platform: { os: config.os, architecture: config.architecture, ...(config.variant !== undefined ? { variant: config.variant } : {}) } }
        : {}),
      // The tag as the layout's ref (what skopeo and containerd read), the whole name beside it.
      ...(fullName !== undefined ? { annotations: { [REF_NAME]: splitRef(fullName).tag, [IMAGE_NAME]: fullName } } : {}),
    };
    const indexPath = join(dir, 'index.json');
    let listed: OciDescriptor[] = [];
    const text = await readFile(indexPath, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      listed = checkIndex(JSON.parse(text), indexPath).manifests;
      if (fullName !== undefined) listed = listed.filter((d) => d.annotations?.[IMAGE_NAME] !== fullName && d.annotations?.[REF_NAME] !== splitRef(fullName).tag);
    }
    await writeIndex(dir, [...listed, descriptor]);
    return { id: record.id, manifestDigest: manifestDesc.digest, ...(fullName !== undefined ? { ref: fullName } : {}), layers: written };
  } finally {
    gc.release();
  }
}

async function writeLayer(ctx: StoreContext, layer: LayerRecord, dir: string, gzip: boolean): Promise<{ digest: Digest; size: number }> {
  const tmp = join(dir, 'blobs', `.layer-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const blob = new Hasher();
  try {
    const hashing = async function* (chunks: AsyncIterable<Buffer>) {
      for await (const c of chunks) {
        blob.update(c);
        yield c;
      }
    };
    const tar = Readable.from(storedLayerTar(ctx, layer));
    if (gzip) await pipeline(tar, createGzip(), hashing, createWriteStream(tmp));
    else await pipeline(tar, hashing, createWriteStream(tmp));
    const digest = blob.digest();
    await rename(tmp, join(dir, blobPath(digest)));
    return { digest, size: blob.bytes };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** An image of the store opened for reading its blobs (what a push sends); close() when done. */
export interface StoredImage {
  id: Digest;
  /** The config and the manifest, byte for byte as they came in (or as commit made them). */
  config: string;
  manifest: string;
  manifestDigest: Digest;
  /** docker's RepoDigests: `name@sha256:…` per repository it came from or went to. */
  repoDigests: string[];
  /** Bottom first: the blob as the manifest lists it (digest, media type, size), and the stored layer's diffID. */
  layers: Array<{ chainId: Digest; diffId: Digest; digest: Digest; mediaType: string; size: number }>;
  /** A layer's tar, rebuilt byte for byte (its diffID checked at its end). */
  layerTar(chainId: Digest): AsyncGenerator<Buffer>;
  close(): void;
}

/** Opens image `name` for reading; its layers stay in the store (no prune sweeps them) until close(). */
export async function openStoredImage(ctx: StoreContext, name: string): Promise<StoredImage> {
  const gc = await ctx.useLayers();
  try {
    const { record } = await findImage(ctx, name);
    const layers = await ctx.layers();
    const byChain = new Map<Digest, LayerRecord>();
    const out: StoredImage['layers'] = [];
    for (const l of record.layers) {
      const stored = layers.get(l.chainId);
      if (!stored) throw new OverlayError('ERR_STORE', `image ${record.id}: layer ${l.chainId} is missing from the store`);
      byChain.set(l.chainId, stored);
      out.push({ chainId: l.chainId, diffId: stored.diffId, digest: l.digest, mediaType: l.mediaType, size: l.size });
    }
    let closed = false;
    return {
      id: record.id,
      config: record.config,
      manifest: record.manifest,
      manifestDigest: record.manifestDigest,
      repoDigests: record.repoDigests ?? [],
      layers: out,
      layerTar(chainId: Digest) {
        const layer = byChain.get(chainId);
        if (!layer) throw new OverlayError('ERR_NOT_FOUND', `image ${record.id} has no layer ${chainId}`);
        return storedLayerTar(ctx, layer);
      },
      close() {
        if (!closed) gc.release();
        closed = true;
      },
    };
  } catch (e) {
    gc.release();
    throw e;
  }
}

/** Records `repoDigest` (`name@sha256:…`) on image `id`, replacing the one its repository had (after a push). */
export async function addRepoDigest(ctx: StoreContext, id: Digest, repoDigest: string): Promise<void> {
  await ctx.withMeta(async () => {
    const record = await ctx.image(id);
    if (!record) throw new OverlayError('ERR_NOT_FOUND', `No such image: ${id}`);
    record.repoDigests = mergeRepoDigest(record.repoDigests, repoDigest);
    await writeRecord(ctx.layout.imageRecord(id), record);
  });
}
