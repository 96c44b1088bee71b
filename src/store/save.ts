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
import { rebuildTar } from '../oci/tar/split.js';
import { OverlayError } from '../spec/errors.js';
import type { StoreContext } from './context.js';
import { findImage, parseConfig } from './images.js';
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

/**
 * A stored layer's tar, rebuilt; fails with ERR_DIGEST_MISMATCH at its end when the result is not
 * the layer's diffID (its files were changed after it was applied).
 */
export async function* storedLayerTar(ctx: StoreContext, layer: LayerRecord): AsyncGenerator<Buffer> {
  const split = ctx.layout.tarSplit(layer.chainId);
  if (!(await stat(split).catch(() => undefined))) {
    throw new OverlayError('ERR_STORE', `layer ${layer.chainId} has no tar-split ('${split}'): its tar cannot be rebuilt`, { path: split });
  }
  const hash = new Hasher();
  for await (const chunk of rebuildTar(split, ctx.layout.diff(layer.cacheId))) {
    hash.update(chunk);
    yield chunk;
  }
  const actual = hash.digest();
  if (actual !== layer.diffId) throw digestMismatch(`layer ${layer.chainId} rebuilt from '${ctx.layout.diff(layer.cacheId)}' (its files changed after it was applied)`, layer.diffId, actual);
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
