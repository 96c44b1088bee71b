/**
 * Images in the store: import from a layout or archive (a layer the store has is not applied
 * again), list with shared and unique sizes, history, tag, remove.
 */
import { rename, stat } from 'node:fs/promises';
import { applyLayer } from '../oci/apply.js';
import { MediaType } from '../oci/image/types.js';
import { storedLayerTar } from './layer-tar.js';
import type { Digest } from '../oci/digest.js';
import { MAX_JSON_BYTES, openImageSource, type ImageReader, type OciConfig, type ResolvedImage, type ResolvedLayer } from '../oci/image.js';
import type { PlatformSpec } from '../oci/image/select.js';
import { abortError } from '../oci/source.js';
import { OverlayError } from '../spec/errors.js';
import { removeFile, writeRecord } from './files.js';
import { nowIso, type StoreContext } from './context.js';
import { normalizeRef, shortId, splitRef, type ImageRecord, type LayerRecord } from './records.js';

export interface ImportProgress {
  /** The image (its ref in the source, or its manifest digest). */
  image: string;
  /** The layer's index, bottom first, and how many the image has. */
  layer: number;
  layers: number;
  digest: Digest;
  /** 'exists': the store had it (nothing downloaded or applied); 'applying' with bytes; 'done'. */
  status: 'exists' | 'waiting' | 'applying' | 'done';
  /** Compressed bytes read so far, of `total`. */
  bytes: number;
  total: number;
  /**
   * The layer is rebuilt from a copy the store holds on another base (same diffID), not read
   * from the source; `bytes` and `total` then count the stored tar's bytes.
   */
  local?: boolean;
}

export interface ImportOptions {
  /** The image's ref in the source; omitted: its only image. */
  ref?: string;
  /** Every image of the source (each for the running platform, or `platform`). */
  all?: boolean;
  /** Tag the imported image so (default: its name in the source when that is a full name: `busybox:1.36`). */
  tag?: string;
  platform?: PlatformSpec;
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
  /** How many layers are read and applied at once (default 1; a registry pull reads 3, as docker). */
  concurrency?: number;
  /** `name@sha256:…` to record as the image's RepoDigest for its repository (a pull's). */
  repoDigest?: string;
}

export interface ImportedImage {
  id: Digest;
  refs: string[];
  manifestDigest: Digest;
  /** Per layer, bottom first: whether this import applied it or the store had it. */
  layers: Array<{ chainId: Digest; diffId: Digest; digest: Digest; applied: boolean; reused: boolean; size: number }>;
}

export interface ImageSummary {
  id: Digest;
  /** Its tags (`name:tag`); none: a dangling image (`<none>`). */
  refs: string[];
  /** The config's `created`. */
  created?: string;
  added: string;
  /** Every layer's size (as `docker images` SIZE). */
  size: number;
  /** What it shares with other images (layers another image also has). */
  sharedSize: number;
  uniqueSize: number;
  layers: number;
  /** How many containers use it. */
  containers: number;
  os?: string;
  architecture?: string;
}

export interface HistoryEntry {
  /** The image id on the top entry, `<missing>` below (as docker history). */
  id: string;
  created?: string;
  createdBy: string;
  /** The layer's size; 0 for an entry that made no layer. */
  size: number;
  comment: string;
  emptyLayer: boolean;
}

/** A name the source gives that can be a tag here (`busybox:1.36`, `docker.io/x/y:1`); a bare tag (`latest`) cannot. */
function nameInSource(ref: string | undefined): string | undefined {
  if (ref === undefined || !/[:/]/.test(ref)) return undefined;
  try {
    return normalizeRef(ref);
  } catch {
    return undefined;
  }
}

export async function importImages(ctx: StoreContext, source: string | ImageReader, options: ImportOptions = {}): Promise<ImportedImage[]> {
  const tag = options.tag !== undefined ? normalizeRef(options.tag, 'tag') : undefined;
  const local = typeof source === 'string' ? await openImageSource(source) : undefined;
  const opened: ImageReader = local ?? (source as ImageReader);
  const label = typeof source === 'string' ? `'${source}'` : 'the source';
  try {
    let refs: Array<string | undefined> = [options.ref];
    if (options.all) {
      const all = await opened.images();
      refs = [...new Set(all.map((i) => i.ref ?? i.manifestDigest))];
      if (tag !== undefined && refs.length > 1) throw new OverlayError('ERR_OVERLAY_SPEC', `--tag names one image, and ${label} has ${refs.length}`);
    }
    const out: ImportedImage[] = [];
    for (const ref of refs) {
      const image = await opened.resolve(ref, options.platform);
      out.push(await importOne(ctx, opened, image, tag ?? nameInSource(image.name) ?? nameInSource(image.ref), options));
    }
    return out;
  } finally {
    await local?.close();
  }
}

async function importOne(ctx: StoreContext, source: ImageReader, image: ResolvedImage, tag: string | undefined, options: ImportOptions): Promise<ImportedImage> {
  const label = image.ref ?? image.manifestDigest;
  const id = image.configDigest;
  const gc = await ctx.useLayers();
  // One failing layer stops the others (their downloads and applies) before the error is thrown.
  const stop = new AbortController();
  let sweepAfter = false;
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  try {
    const limit = limiter(Math.max(1, Math.floor(options.concurrency ?? 1)));
    // Layers are applied side by side (each into its own empty directory); a layer's record is
    // written once every layer below it has one, so the records, the commit points, come bottom up.
    const records: Array<Promise<{ record: LayerRecord; applied: boolean; reused: boolean }>> = [];
    for (const [i, layer] of image.layers.entries()) {
      const progress = (status: ImportProgress['status'], bytes = 0, extra: Partial<ImportProgress> = {}) =>
        options.onProgress?.({ image: label, layer: i, layers: image.layers.length, digest: layer.digest, status, bytes, total: layer.size, ...extra });
      const below = (async () => (await Promise.all(records.slice(0, i))).map((r) => r.record).reverse())();
      below.catch(() => {});
      records.push(
        limit(() => {
          if (signal.aborted) throw abortError(signal);
          return ensureLayer(ctx, source, layer, below, progress, signal);
        }),
      );
      records[i]!.catch(() => stop.abort());
    }
    const settled = await Promise.allSettled(records);
    const errors = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (errors.length > 0) {
      // The layers this import applied before another failed are no image's: they go (below,
      // once this import's shared lock is let go), so a failed import leaves nothing behind.
      sweepAfter = settled.some((r) => r.status === 'fulfilled' && r.value.applied);
      // The cause, not the aborts it made of the other layers.
      throw errors.find((e) => !isOurAbort(e, stop)) ?? errors[0];
    }
    const done = settled.map((r) => (r as PromiseFulfilledResult<{ record: LayerRecord; applied: boolean; reused: boolean }>).value);
    const layers: ImportedImage['layers'] = done.map(({ record, applied, reused }, i) => ({
      chainId: record.chainId,
      diffId: record.diffId,
      digest: image.layers[i]!.digest,
      applied,
      reused,
      size: record.size,
    }));
    // Byte for byte (both verified against their digests as they are read): the id is the
    // config's digest, and a push sends the manifest as it was.
    // The config the store keeps for this id already is the same bytes (the id is their digest).
    const known = await ctx.image(id);
    const record: ImageRecord = {
      id,
      config: known?.config ?? (await readBlobText(source, id)),
      manifestDigest: image.manifestDigest,
      manifest: await readBlobText(source, image.manifestDigest),
      layers: image.layers.map((l) => ({ chainId: l.chainId, digest: l.digest, mediaType: l.mediaType, size: l.size })),
      added: nowIso(),
    };
    // The image is in the store once its record is (every layer's is already). Under meta.lock:
    // the record another import of the same image wrote (its repoDigests) is kept and added to.
    await ctx.withMeta(async () => {
      const before = await ctx.image(id);
      if (before) record.added = before.added;
      const repoDigests = mergeRepoDigest(before?.repoDigests, options.repoDigest);
      if (repoDigests.length > 0) record.repoDigests = repoDigests;
      await writeRecord(ctx.layout.imageRecord(id), record);
    });
    const refs = tag !== undefined ? await tagImage(ctx, id, tag) : await refsOf(ctx, id);
    return { id, refs, manifestDigest: image.manifestDigest, layers };
  } finally {
    gc.release();
    if (sweepAfter) {
      // gc.lock exclusively: after every import in progress (whose layers then have images).
      const del = await ctx.deleteLayers().catch(() => undefined);
      if (del) await ctx.sweep().catch(() => {}).finally(() => del.release());
    }
  }
}

/** Whether `e` is the abort this import raised itself to stop the other layers (not the cause). */
function isOurAbort(e: unknown, stop: AbortController): boolean {
  return stop.signal.aborted && (e as Error)?.name === 'AbortError';
}

/** `list` with `repoDigest` in place of any other digest of its repository (docker keeps one per repository). */
export function mergeRepoDigest(list: readonly string[] | undefined, repoDigest: string | undefined): string[] {
  const out = [...(list ?? [])];
  if (repoDigest === undefined) return out;
  const repo = repoDigest.slice(0, repoDigest.indexOf('@'));
  return [...out.filter((d) => d.slice(0, d.indexOf('@')) !== repo), repoDigest].sort();
}

/** Runs at most `n` of the functions given at once, in the order given. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const queue: Array<() => void> = [];
  const next = () => {
    if (running >= n) return;
    const start = queue.shift();
    if (start) {
      running++;
      start();
    }
  };
  return <T>(fn: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        (async () => fn())()
          .then(resolve, reject)
          .finally(() => {
            running--;
            next();
          });
      });
      next();
    });
}

/**
 * The layer `layer` on top of `below`: the store's, or applied now into a new layer directory.
 * Under the layer's lock, so two imports of it apply it once (the second waits, then finds it).
 * A layer the store holds under another chain (the same blob on another base) is rebuilt from
 * the stored copy instead of being read from the source again.
 */
async function ensureLayer(
  ctx: StoreContext,
  source: ImageReader,
  layer: ResolvedLayer,
  belowPromise: Promise<LayerRecord[]>,
  progress: (status: ImportProgress['status'], bytes?: number, extra?: Partial<ImportProgress>) => void,
  signal: AbortSignal,
): Promise<{ record: LayerRecord; applied: boolean; reused: boolean }> {
  const have = await ctx.layer(layer.chainId);
  if (have) {
    progress('exists');
    return { record: have, applied: false, reused: false };
  }
  progress('waiting');
  const lock = await ctx.lock(ctx.layout.layerLock(layer.chainId), 'exclusive');
  try {
    const now = await ctx.layer(layer.chainId);
    if (now) {
      progress('exists');
      return { record: now, applied: false, reused: false };
    }
    const { cacheId, link } = await ctx.makeLayerDir([]);
    const split = ctx.tempTarSplit(layer.chainId);
    try {
      const copy = await storedCopy(ctx, layer);
      let applied;
      if (copy) {
        // The same tar, already here: rebuilt from its files and tar-split (checked against the
        // diffID as it is applied), no download.
        applied = await applyLayer(storedLayerTar(ctx, copy), ctx.layout.diff(cacheId), {
          mediaType: MediaType.ociLayer,
          diffId: layer.diffId,
          tarSplit: split,
          signal,
          onProgress: (p) => progress('applying', p.bytes, { local: true, total: copy.size }),
        });
      } else {
        const blob = await source.blob(layer.digest, { mediaType: layer.mediaType, verify: false, signal });
        applied = await applyLayer(blob, ctx.layout.diff(cacheId), {
          mediaType: layer.mediaType,
          digest: layer.digest,
          diffId: layer.diffId,
          tarSplit: split,
          signal,
          onProgress: (p) => progress('applying', p.compressedBytes),
        });
      }
      // The layers below have their records (the commit points go bottom up); this one names them.
      const below = await belowPromise;
      await ctx.writeLower(cacheId, below);
      await rename(split, ctx.layout.tarSplit(layer.chainId));
      const record: LayerRecord = {
        chainId: layer.chainId,
        diffId: layer.diffId,
        ...(below[0] ? { parent: below[0].chainId } : {}),
        cacheId,
        link,
        size: applied.size,
        digest: layer.digest,
        mediaType: layer.mediaType,
        compressedSize: copy ? layer.size : applied.compressedBytes,
        entries: applied.entries,
        created: nowIso(),
      };
      await writeRecord(ctx.layout.layerRecord(layer.chainId), record);
      progress('done', copy ? 0 : applied.compressedBytes, copy ? { local: true } : {});
      return { record, applied: true, reused: copy !== undefined };
    } catch (e) {
      await removeFile(split).catch(() => {});
      await ctx.removeLayerDir(cacheId, link).catch(() => {});
      throw e;
    }
  } finally {
    lock.release();
  }
}

/** A stored layer whose tar is `layer`'s (the same diffID, on another base), with its tar-split. */
async function storedCopy(ctx: StoreContext, layer: ResolvedLayer): Promise<LayerRecord | undefined> {
  for (const record of (await ctx.layers()).values()) {
    if (record.diffId !== layer.diffId || record.chainId === layer.chainId) continue;
    if (await stat(ctx.layout.tarSplit(record.chainId)).catch(() => undefined)) return record;
  }
  return undefined;
}

async function readBlobText(source: ImageReader, digest: Digest): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await source.blob(digest)) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) throw new OverlayError('ERR_IMAGE', `blob ${digest}: over the ${MAX_JSON_BYTES}-byte limit for a JSON document`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The tags of image `id`, sorted. */
export async function refsOf(ctx: StoreContext, id: Digest): Promise<string[]> {
  const { refs } = await ctx.repositories();
  return Object.keys(refs)
    .filter((r) => refs[r] === id)
    .sort();
}

/** Points `ref` at image `id` (moving it from any other image, as docker tag does); the image's tags. */
export async function tagImage(ctx: StoreContext, id: Digest, ref: string): Promise<string[]> {
  const name = normalizeRef(ref, 'tag');
  return ctx.withMeta(async () => {
    // Checked under meta.lock, where image rm and prune remove images: the image found before
    // may be gone since (removed by another process), and a tag must name an image the store has.
    if (!(await ctx.image(id))) throw new OverlayError('ERR_NOT_FOUND', `No such image: ${id}`);
    const repos = await ctx.repositories();
    repos.refs[name] = id;
    await ctx.writeRepositories(repos);
    return Object.keys(repos.refs)
      .filter((r) => repos.refs[r] === id)
      .sort();
  });
}

/**
 * The image `name` names: a tag (`busybox`, `busybox:1.36`), an id (`sha256:…` or its hex),
 * or a unique prefix of an id's hex of at least 4 characters (as docker). ERR_NOT_FOUND
 * with docker's words.
 */
export async function findImage(ctx: StoreContext, name: string): Promise<{ record: ImageRecord; ref?: string }> {
  if (typeof name !== 'string' || name === '') throw new OverlayError('ERR_OVERLAY_SPEC', 'an image name or id is needed');
  const { refs } = await ctx.repositories();
  let ref: string | undefined;
  try {
    ref = normalizeRef(name);
  } catch {
    ref = undefined;
  }
  if (ref !== undefined && refs[ref] !== undefined) {
    const record = await ctx.image(refs[ref]!);
    if (record) return { record, ref };
  }
  const hex = name.replace(/^sha256:/, '');
  if (/^[0-9a-f]{4,64}$/.test(hex)) {
    const matches = (await ctx.images()).filter((i) => i.id.slice(7).startsWith(hex));
    if (matches.length === 1) return { record: matches[0]! };
    if (matches.length > 1) throw new OverlayError('ERR_CONFLICT', `'${name}' is ambiguous: it begins ${matches.length} image ids`);
  }
  throw new OverlayError('ERR_NOT_FOUND', `No such image: ${name}`);
}

export async function listImages(ctx: StoreContext): Promise<ImageSummary[]> {
  const [images, layers, containers, { refs }] = await Promise.all([ctx.images(), ctx.layers(), ctx.containers(), ctx.repositories()]);
  // How many images use each layer: a layer of two images is shared by both.
  const users = new Map<Digest, number>();
  for (const img of images) for (const l of img.layers) users.set(l.chainId, (users.get(l.chainId) ?? 0) + 1);
  const out: ImageSummary[] = [];
  for (const img of images) {
    let size = 0;
    let shared = 0;
    for (const l of img.layers) {
      const s = layers.get(l.chainId)?.size ?? 0;
      size += s;
      if ((users.get(l.chainId) ?? 0) > 1) shared += s;
    }
    const config = parseConfig(img);
    out.push({
      id: img.id,
      refs: Object.keys(refs)
        .filter((r) => refs[r] === img.id)
        .sort(),
      ...(config.created !== undefined ? { created: config.created } : {}),
      added: img.added,
      size,
      sharedSize: shared,
      uniqueSize: size - shared,
      layers: img.layers.length,
      containers: containers.filter((c) => c.image === img.id).length,
      ...(config.os !== undefined ? { os: config.os } : {}),
      ...(config.architecture !== undefined ? { architecture: config.architecture } : {}),
    });
  }
  // Newest first, as docker images.
  return out.sort((a, b) => (b.created ?? b.added).localeCompare(a.created ?? a.added) || a.id.localeCompare(b.id));
}

export function parseConfig(img: ImageRecord): OciConfig {
  return JSON.parse(img.config) as OciConfig;
}

/** docker history: the config's history newest first, each with its layer's size. */
export async function imageHistory(ctx: StoreContext, name: string): Promise<HistoryEntry[]> {
  const { record } = await findImage(ctx, name);
  const layers = await ctx.layers();
  const config = parseConfig(record);
  const history = Array.isArray(config.history) ? config.history : [];
  const out: HistoryEntry[] = [];
  let layer = 0;
  for (const h of history) {
    const empty = h.empty_layer === true;
    const size = empty ? 0 : (layers.get(record.layers[layer]?.chainId as Digest)?.size ?? 0);
    if (!empty) layer++;
    out.push({
      id: '<missing>',
      ...(typeof h.created === 'string' ? { created: h.created } : {}),
      createdBy: typeof h.created_by === 'string' ? h.created_by : '',
      size,
      comment: typeof h.comment === 'string' ? h.comment : '',
      emptyLayer: empty,
    });
  }
  // Layers the history does not account for (an image without history): one entry each.
  for (; layer < record.layers.length; layer++) {
    out.push({ id: '<missing>', createdBy: '', size: layers.get(record.layers[layer]!.chainId)?.size ?? 0, comment: '', emptyLayer: false });
  }
  out.reverse();
  if (out[0]) out[0].id = record.id;
  return out;
}

export interface RemovedImage {
  /** Tags removed (docker: "Untagged: busybox:latest"). */
  untagged: string[];
  /** The image id and the layers removed with it (docker: "Deleted: sha256:…"). */
  deleted: Digest[];
  reclaimed: number;
}

/**
 * docker rmi: a tag that is not the image's last only goes; otherwise the image goes (with its
 * tags) and then every layer nothing else uses. A container that uses it refuses (ERR_CONFLICT)
 * unless `force`, and then the image goes but its layers stay while the container lives.
 */
export async function removeImage(ctx: StoreContext, name: string, options: { force?: boolean } = {}): Promise<RemovedImage> {
  // The sweep's lock first, then meta (the order every operation takes them in).
  const gc = await ctx.deleteLayers();
  try {
    const { record, ref } = await findImage(ctx, name);
    const removedImage = await ctx.withMeta(async () => {
      const repos = await ctx.repositories();
      const tags = Object.keys(repos.refs).filter((r) => repos.refs[r] === record.id);
      // A tag given, and the image has others: the tag only goes, forced or not (as docker rmi).
      if (ref !== undefined && tags.length > 1) {
        delete repos.refs[ref];
        await ctx.writeRepositories(repos);
        return { untagged: [ref], gone: false };
      }
      // By id, an image tagged in several repositories: docker refuses unless forced.
      const repos2 = new Set(tags.map((t) => splitRef(t).repository));
      if (ref === undefined && repos2.size > 1 && !options.force) {
        throw new OverlayError('ERR_CONFLICT', `conflict: unable to delete ${shortId(record.id)} (must be forced) - image is referenced in multiple repositories`);
      }
      const users = (await ctx.containers()).filter((c) => c.image === record.id);
      if (users.length > 0 && !options.force) {
        throw new OverlayError(
          'ERR_CONFLICT',
          `conflict: unable to remove image ${ref ?? shortId(record.id)} (must force) - container ${shortId(users[0]!.id)} (${users[0]!.name}) is using it`,
        );
      }
      for (const t of tags) delete repos.refs[t];
      if (tags.length > 0) await ctx.writeRepositories(repos);
      // Untagged first: a crash here leaves a dangling image, which prune removes.
      await removeFile(ctx.layout.imageRecord(record.id));
      return { untagged: tags.sort(), gone: true };
    });
    if (!removedImage.gone) return { untagged: removedImage.untagged, deleted: [], reclaimed: 0 };
    const swept = await ctx.sweep();
    return { untagged: removedImage.untagged, deleted: [record.id, ...swept.removed], reclaimed: swept.reclaimed };
  } finally {
    gc.release();
  }
}

/**
 * docker image inspect's view of an image: its id and tags, the config's fields Docker shows,
 * its size, the diffIDs, and GraphDriver (overlay2: the top layer's diff as UpperDir, the rest as
 * LowerDir, top first).
 */
export async function inspectImage(ctx: StoreContext, name: string): Promise<Record<string, unknown>> {
  const { record } = await findImage(ctx, name);
  const layers = await ctx.layers();
  const chain = await ctx.chain(record.layers.at(-1)?.chainId, layers);
  const config = parseConfig(record) as OciConfig & { author?: string; variant?: string };
  const refs = await refsOf(ctx, record.id);
  const data: Record<string, string> = {};
  if (chain[0]) data.UpperDir = ctx.layout.diff(chain[0].cacheId);
  if (chain.length > 1) data.LowerDir = chain.slice(1).map((l) => ctx.layout.diff(l.cacheId)).join(':');
  return {
    Id: record.id,
    RepoTags: refs,
    RepoDigests: record.repoDigests ?? [],
    ...(config.created !== undefined ? { Created: config.created } : {}),
    ...(config.author !== undefined ? { Author: config.author } : {}),
    Config: config.config ?? {},
    Architecture: config.architecture,
    ...(config.variant !== undefined ? { Variant: config.variant } : {}),
    Os: config.os,
    Size: chain.reduce((n, l) => n + l.size, 0),
    GraphDriver: { Name: 'overlay2', Data: data },
    RootFS: { Type: 'layers', Layers: config.rootfs?.diff_ids ?? [] },
    Metadata: { Added: record.added, ManifestDigest: record.manifestDigest },
  };
}
