/**
 * unpackImage(): an image from an OCI layout or archive into one directory per layer (to mount
 * as an overlay's lowers) or into one directory, flattened (a chroot). Every blob is verified
 * while it is applied: its digest against the manifest, its diffID against the config.
 */
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { OverlaySpecError } from '../spec/errors.js';
import { applyLayer, type AppliedLayer, type ApplyOptions } from './apply.js';
import { abortError } from './source.js';
import type { Digest } from './digest.js';
import { openImageSource, type ImageReader, type ImageSource, type ResolvedImage } from './image.js';
import type { PlatformSpec } from './image/select.js';

export interface UnpackOptions extends Pick<ApplyOptions, 'whiteouts' | 'namespace' | 'preserveOwner' | 'idMap' | 'signal'> {
  /** The image's ref in the source; omitted: its only image. */
  ref?: string;
  /** The platform to pick from a multi-platform image; the running one by default. */
  platform?: PlatformSpec;
  /** Everything into `dir` itself, whiteouts applied (a root filesystem), instead of one dir per layer. */
  flatten?: boolean;
  /** Per layer: its index (bottom first) and what was applied so far. */
  onProgress?: (progress: { layer: number; layers: number; digest: Digest; compressedBytes: number; bytes: number; entries: number; size: number }) => void;
}

export interface UnpackedLayer {
  /** The layer's directory (with `flatten`: `dir` itself). */
  dir: string;
  digest: Digest;
  diffId: Digest;
  chainId: Digest;
  mediaType: string;
  createdBy?: string;
  applied: AppliedLayer;
}

export interface UnpackedImage {
  ref?: string;
  manifestDigest: Digest;
  configDigest: Digest;
  platform?: PlatformSpec;
  /** Bottom first, as in the manifest. */
  layers: UnpackedLayer[];
  /** The layer dirs top first, as an overlay's `lower` takes them (empty with `flatten`). */
  lower: string[];
}

/**
 * Unpacks the image `ref` of `source` (a path to an OCI layout, an oci-archive or a docker save
 * archive, or an already opened source) into `dir`: layer i (bottom first) into `dir/<i>`, or,
 * with `flatten`, all of them into `dir`. `dir` must be absent or empty.
 */
export async function unpackImage(source: string | (ImageSource & ImageReader), dir: string, options: UnpackOptions = {}): Promise<UnpackedImage> {
  if (typeof dir !== 'string' || dir === '') throw new OverlaySpecError([{ field: 'dir', problem: 'must be a non-empty path' }]);
  const target = resolve(dir);
  const opened = typeof source === 'string' ? await openImageSource(source) : source;
  try {
    const image = await opened.resolve(options.ref, options.platform);
    const made = await mkdir(target, { recursive: true });
    if ((await readdir(target)).length > 0) throw new OverlaySpecError([{ field: 'dir', problem: `'${dir}' is not empty: unpack into an empty or new directory` }]);
    let layers: UnpackedLayer[];
    const done: string[] = [];
    try {
      layers = await unpackLayers(opened, image, target, options, done);
    } catch (e) {
      // Half an image is no image: what this call made goes, and only that (another unpack
      // into the same new directory may have won the race for it and be writing there).
      if (options.flatten) {
        // Its content is this call's once a layer of it is there (the apply locks it meanwhile).
        if (done.length > 0) {
          if (made !== undefined) await rm(target, { recursive: true, force: true });
          else for (const name of await readdir(target)) await rm(join(target, name), { recursive: true, force: true });
        }
      } else {
        for (const layerDir of done) await rm(layerDir, { recursive: true, force: true });
      }
      if (made !== undefined) await rmdir(target).catch(() => {});
      throw e;
    }
    return {
      ...(image.ref !== undefined ? { ref: image.ref } : {}),
      manifestDigest: image.manifestDigest,
      configDigest: image.configDigest,
      ...(image.platform ? { platform: image.platform } : {}),
      layers,
      lower: options.flatten ? [] : layers.map((l) => l.dir).reverse(),
    };
  } finally {
    if (typeof source === 'string') await opened.close();
  }
}

/** `done`: the layer directories this call made (with `flatten`, the target once a layer is in it). */
async function unpackLayers(opened: ImageReader, image: ResolvedImage, target: string, options: UnpackOptions, done: string[]): Promise<UnpackedLayer[]> {
  const layers: UnpackedLayer[] = [];
  for (const [i, layer] of image.layers.entries()) {
    if (options.signal?.aborted) throw abortError(options.signal);
    const layerDir = options.flatten ? target : join(target, String(i));
    // A layer directory is this call's own: made here, new (EEXIST: another unpack made it),
    // so no apply lands on another's layer (an apply onto content writes into it).
    if (!options.flatten) {
      await mkdir(layerDir);
      done.push(layerDir);
    }
    // applyLayer hashes the blob as it applies and keeps nothing unless it is `layer.digest`.
    const blob = await opened.blob(layer.digest, { mediaType: layer.mediaType, verify: false });
    const applied = await applyLayer(blob, layerDir, {
      mediaType: layer.mediaType,
      digest: layer.digest,
      diffId: layer.diffId,
      ...(options.flatten ? { flatten: true } : {}),
      ...(options.whiteouts && !options.flatten ? { whiteouts: options.whiteouts } : {}),
      ...(options.namespace ? { namespace: options.namespace } : {}),
      ...(options.preserveOwner !== undefined ? { preserveOwner: options.preserveOwner } : {}),
      ...(options.idMap ? { idMap: options.idMap } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (p) => options.onProgress?.({ layer: i, layers: image.layers.length, digest: layer.digest, size: layer.size, ...p }),
    });
    layers.push({
      dir: layerDir,
      digest: layer.digest,
      diffId: layer.diffId,
      chainId: layer.chainId,
      mediaType: layer.mediaType,
      ...(layer.createdBy !== undefined ? { createdBy: layer.createdBy } : {}),
      applied,
    });
    if (options.flatten && done.length === 0) done.push(target);
  }
  return layers;
}
