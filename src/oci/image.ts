/**
 * Reading images from disk: an OCI image layout directory, an oci-archive (the same tree as one
 * tar file) and a `docker save` archive (old Docker's `<id>/layer.tar` tree, or Docker ≥ 25's,
 * which is an OCI layout plus manifest.json). One reader for all three: it lists the images
 * (refs and platforms), resolves one to its manifest, config and layers (with diffIDs and
 * chainIDs), and streams blobs, each verified against its digest as it is read.
 *
 * Nothing here trusts the documents: every field relied on is shape-checked (ERR_IMAGE names
 * the blob and the field), a digest must be sha256 before it becomes a path, `size` fields are
 * never used to allocate, and a JSON document is read only when it is at most 4 MiB.
 */
import { stat } from 'node:fs/promises';
import { pipeline, Readable, Transform } from 'node:stream';
import { openTarTree } from './image/archive.js';
import { detectCompression, DETECT_BYTES } from './compression.js';
import { chainIds, digestMismatch, digestOf, Hasher, type Digest } from './digest.js';
import { checkDockerManifest, DOCKER_MANIFEST, dockerRefIn, fullImageName, type DockerSaveEntry } from './image/docker-save.js';
import { formatPlatform, platformMatches, selectImage, type ImageRef, type PlatformSpec } from './image/select.js';
import { DirTree, type FileTree } from './image/tree.js';
import {
  blobPath,
  checkConfig,
  checkDigest,
  checkIndex,
  checkManifest,
  IMAGE_NAME,
  imageError,
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  MediaType,
  REF_NAME,
  type OciConfig,
  type OciDescriptor,
  type OciManifest,
} from './image/types.js';

export type { ImageRef, PlatformSpec } from './image/select.js';
export { hostPlatform, platformMatches } from './image/select.js';
export { MediaType, type OciConfig, type OciDescriptor, type OciHistory, type OciIndex, type OciManifest, type Platform } from './image/types.js';

/** The largest JSON document (index, manifest, config) read into memory. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** How deep indexes may nest (an index of indexes of …). */
const MAX_INDEX_DEPTH = 8;

export type ImageSourceKind = 'oci-layout' | 'oci-archive' | 'docker-archive';

export interface ImageSource {
  kind: ImageSourceKind;
  path: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ImageReader {
  /**
   * Every image the source holds. An index of indexes (a multi-platform image) is flattened to
   * its manifests, each with its platform and the ref of the index it is listed under.
   * Docker's attestation manifests (`vnd.docker.reference.type`) are left out.
   */
  images(): Promise<ImageRef[]>;
  /**
   * One image, with all that unpacking it needs. `ref` omitted: the source's only image (a
   * source with several refs is ERR_IMAGE listing them); a `sha256:` ref names a manifest.
   * `platform` defaults to the running one.
   */
  resolve(ref?: string, platform?: PlatformSpec): Promise<ResolvedImage>;
  /**
   * A blob's bytes. The stream fails with ERR_DIGEST_MISMATCH at its end when they do not hash
   * to `digest`; the call fails with ERR_IMAGE when there is no such blob (or the digest is not
   * a sha256 digest). `mediaType` only names the blob in messages. `verify: false` leaves the
   * check to a consumer that hashes the bytes anyway (applyLayer, given the digest), so a layer
   * is not hashed twice. `signal` stops a blob read from the network (a local read ends when its
   * consumer stops).
   */
  blob(digest: Digest, options?: { mediaType?: string; verify?: boolean; signal?: AbortSignal }): Promise<Readable>;
  /** A JSON blob of at most MAX_JSON_BYTES (bigger is refused), verified, then parsed. */
  readJson<T>(digest: Digest): Promise<T>;
}

export interface ResolvedLayer {
  /** The blob's digest, as the manifest lists it (of the compressed bytes). */
  digest: Digest;
  mediaType: string;
  /** The manifest's size for the blob (informative: checked by the digest, never allocated). */
  size: number;
  /** sha256 of the uncompressed tar, from config.rootfs.diff_ids. */
  diffId: Digest;
  /** The layer's identity with everything below it. */
  chainId: Digest;
  /** The `created_by` of its config.history entry (empty_layer entries skipped). */
  createdBy?: string;
}

export interface ResolvedImage {
  ref?: string;
  /** The image's full name where the layout gives one (`io.containerd.image.name`). */
  name?: string;
  manifestDigest: Digest;
  manifest: OciManifest;
  config: OciConfig;
  configDigest: Digest;
  /** The platform it was chosen for: the index's, else the config's. */
  platform?: PlatformSpec;
  /** Bottom first, as in the manifest. */
  layers: ResolvedLayer[];
}

/**
 * Opens what is at `path`: a directory with `oci-layout` (an OCI image layout), a directory with
 * `manifest.json` (an extracted `docker save`), a tar file holding `manifest.json` (a `docker
 * save` archive, whichever Docker wrote it) or `oci-layout` (an oci-archive). A tar's entries are
 * indexed once (headers only); blobs are read as byte ranges of it, never extracted.
 */
export async function openImageSource(path: string): Promise<ImageSource & ImageReader> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw imageError(`'${path}': no such file or directory (expected an OCI image layout, an oci-archive or a docker save archive)`, { path });
    throw err;
  }
  const expected = 'expected an OCI image layout (a directory with oci-layout, index.json and blobs/), an oci-archive or a docker save archive (a tar file with oci-layout or manifest.json)';
  if (st.isDirectory()) {
    const probe = new DirTree(path, 'directory');
    if ((await probe.size('oci-layout')) !== undefined) return ImageReaderImpl.open('oci-layout', path, new DirTree(path, 'oci-layout'));
    if ((await probe.size(DOCKER_MANIFEST)) !== undefined) return ImageReaderImpl.open('docker-archive', path, new DirTree(path, 'docker save directory'));
    throw imageError(`'${path}': a directory with neither oci-layout nor manifest.json: ${expected}`, { path });
  }
  if (!st.isFile()) throw imageError(`'${path}': not a regular file or directory: ${expected}`, { path });
  const tree = await openTarTree(path);
  try {
    if ((await tree.size(DOCKER_MANIFEST)) !== undefined) return await ImageReaderImpl.open('docker-archive', path, tree);
    if ((await tree.size('oci-layout')) !== undefined) return await ImageReaderImpl.open('oci-archive', path, tree);
    if ((await tree.size('repositories')) !== undefined) {
      throw imageError(`'${path}': a docker save archive from before Docker 1.10 (repositories and no manifest.json): not supported`, { path });
    }
    throw imageError(`'${path}': a tar file with neither oci-layout nor manifest.json at its root: ${expected}`, { path });
  } catch (err) {
    await tree.close();
    throw err;
  }
}

/** A manifest as an index lists it, before the docker refs are worked out. */
interface Listed extends ImageRef {
  /** `io.containerd.image.name` (Docker ≥ 25 and containerd write it). */
  imageName?: string;
}

class ImageReaderImpl implements ImageSource, ImageReader {
  readonly #tree: FileTree;
  readonly #label: string;
  /** Manifests made up for an old docker save archive, which has none: digest → JSON bytes. */
  readonly #synthesized = new Map<Digest, Buffer>();
  /** Blobs a docker save archive keeps under another path (`<id>/layer.tar`, `<hex>.json`). */
  readonly #aliases = new Map<Digest, string>();
  #images: Promise<ImageRef[]> | undefined;

  readonly kind: ImageSourceKind;
  readonly path: string;

  private constructor(kind: ImageSourceKind, path: string, tree: FileTree) {
    this.kind = kind;
    this.path = path;
    this.#tree = tree;
    this.#label = `${kind} '${path}'`;
  }

  static async open(kind: ImageSourceKind, path: string, tree: FileTree): Promise<ImageReaderImpl> {
    const reader = new ImageReaderImpl(kind, path, tree);
    if (kind !== 'docker-archive' || (await tree.size('oci-layout')) !== undefined) await reader.#checkLayoutVersion();
    return reader;
  }

  async close(): Promise<void> {
    await this.#tree.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #checkLayoutVersion(): Promise<void> {
    const doc = this.#parse(await this.#tree.read('oci-layout', MAX_JSON_BYTES), 'oci-layout') as { imageLayoutVersion?: unknown } | null;
    const v = doc?.imageLayoutVersion;
    if (typeof v !== 'string') throw imageError(`${this.#label}: oci-layout: imageLayoutVersion: expected a string`, { field: 'imageLayoutVersion' });
    if (!/^1\.\d+\.\d+$/.test(v)) throw imageError(`${this.#label}: oci-layout: imageLayoutVersion ${JSON.stringify(v)}: only 1.x layouts are read`, { field: 'imageLayoutVersion' });
  }

  #parse(buf: Buffer, what: string): unknown {
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw imageError(`${this.#label}: ${what}: not valid JSON: ${(err as Error).message}`);
    }
  }

  async #readFileJson(path: string): Promise<unknown> {
    return this.#parse(await this.#tree.read(path, MAX_JSON_BYTES), path);
  }

  // ---- blobs ----

  /** An old docker save archive's blobs are known by digest once it is listed (see #synthesize). */
  async #listed(): Promise<void> {
    if (this.kind === 'docker-archive') await this.images();
  }

  async blob(digest: Digest, options: { mediaType?: string; verify?: boolean; signal?: AbortSignal } = {}): Promise<Readable> {
    const d = checkDigest(digest, this.#label, 'digest');
    await this.#listed();
    const what = `blob ${d}${options.mediaType ? ` (${options.mediaType})` : ''}`;
    const made = this.#synthesized.get(d);
    if (made) return Readable.from([made], { objectMode: false });
    const path = this.#aliases.get(d) ?? blobPath(d);
    if ((await this.#tree.size(path)) === undefined) throw imageError(`${this.#label}: ${what}: missing (${path})`, { path });
    const stream = await this.#tree.open(path);
    return options.verify === false ? stream : verifying(stream, d, `${this.#label}: ${what}`);
  }

  async readJson<T>(digest: Digest): Promise<T> {
    await this.#listed();
    return this.#readJson<T>(digest);
  }

  /** readJson without the listing first (the listing itself uses it). */
  async #readJson<T>(digest: Digest): Promise<T> {
    const d = checkDigest(digest, this.#label, 'digest');
    const made = this.#synthesized.get(d);
    if (made) return JSON.parse(made.toString('utf8')) as T;
    const path = this.#aliases.get(d) ?? blobPath(d);
    const size = await this.#tree.size(path);
    if (size === undefined) throw imageError(`${this.#label}: blob ${d}: missing (${path})`, { path });
    if (size > MAX_JSON_BYTES) throw imageError(`${this.#label}: blob ${d}: ${size} bytes, over the ${MAX_JSON_BYTES}-byte limit for a JSON document`, { path });
    const buf = await this.#tree.read(path, MAX_JSON_BYTES);
    const actual = digestOf(buf);
    if (actual !== d) throw digestMismatch(`${this.#label}: blob`, d, actual, path);
    return this.#parse(buf, `blob ${d}`) as T;
  }

  // ---- listing ----

  images(): Promise<ImageRef[]> {
    // Listed once per open source; a failure is not remembered (the next call tries again).
    this.#images ??= this.#list().catch((err: unknown) => {
      this.#images = undefined;
      throw err;
    });
    return this.#images.then((list) => list.map((i) => ({ ...i, ...(i.platform ? { platform: { ...i.platform } } : {}) })));
  }

  async #list(): Promise<ImageRef[]> {
    const hasIndex = (await this.#tree.size('index.json')) !== undefined;
    if (this.kind !== 'docker-archive') {
      if (!hasIndex) throw imageError(`${this.#label}: index.json: missing`, { path: 'index.json' });
      return dedupe((await this.#listIndex()).map(({ imageName, ...ref }) => (imageName !== undefined ? { ...ref, name: imageName } : ref)));
    }
    const entries = checkDockerManifest(await this.#readFileJson(DOCKER_MANIFEST));
    const out: ImageRef[] = [];
    const unmatched = new Set(entries);
    if (hasIndex && (await this.#tree.size('oci-layout')) !== undefined) {
      // Docker ≥ 25: the OCI index says which manifest and platform; manifest.json the RepoTags.
      const byConfig = new Map<string, DockerSaveEntry>();
      for (const e of entries) byConfig.set(await this.#configDigestOf(e), e);
      const tagOf = new Map(entries.flatMap((e) => e.repoTags.map((t) => [fullImageName(t), t] as const)));
      for (const listed of await this.#listIndex()) {
        const entry = await this.#entryOf(listed, byConfig);
        const { imageName, ...ref } = listed;
        if (entry === undefined) {
          // Not one manifest.json lists (another platform of the image, whose blobs Docker did
          // not save): named by the RepoTag its full name is, so one ref lists all platforms.
          const tag = imageName === undefined ? undefined : (tagOf.get(imageName) ?? imageName);
          out.push(tag === undefined ? ref : { ...ref, ref: tag });
          continue;
        }
        unmatched.delete(entry);
        const named = imageName === undefined ? [] : entry.repoTags.filter((t) => t === imageName || fullImageName(t) === imageName);
        const tags = named.length > 0 ? named : entry.repoTags;
        if (tags.length === 0) {
          const { ref: _, ...rest } = ref;
          out.push(rest);
        }
        for (const tag of tags) out.push({ ...ref, ref: tag });
      }
    }
    // Docker before 25 (or an image the index does not list): no manifest on disk; one is made.
    for (const entry of entries.filter((e) => unmatched.has(e))) out.push(...(await this.#synthesize(entry)));
    return dedupe(out);
  }

  /** index.json, nested indexes flattened, each manifest with the ref it is listed under. */
  async #listIndex(): Promise<Listed[]> {
    const index = checkIndex(await this.#readFileJson('index.json'), `${this.#label}: index.json`);
    const out: Listed[] = [];
    const walk = async (descriptors: OciDescriptor[], ref: string | undefined, imageName: string | undefined, depth: number): Promise<void> => {
      for (const d of descriptors) {
        if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
        const r = ref ?? d.annotations?.[REF_NAME];
        const name = imageName ?? d.annotations?.[IMAGE_NAME];
        if (isIndexMediaType(d.mediaType)) {
          if (depth >= MAX_INDEX_DEPTH) throw imageError(`${this.#label}: index ${d.digest}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
          const child = checkIndex(await this.#readJson(d.digest), `${this.#label}: index ${d.digest}`);
          await walk(child.manifests, r, name, depth + 1);
          continue;
        }
        const item: Listed = { manifestDigest: d.digest, mediaType: d.mediaType };
        if (r !== undefined) item.ref = r;
        if (d.platform) item.platform = platformOf(d.platform);
        if (name !== undefined) item.imageName = name;
        out.push(item);
      }
    };
    await walk(index.manifests, undefined, undefined, 0);
    return out;
  }

  /** The manifest.json entry a listed manifest belongs to (by its config), if any. */
  async #entryOf(listed: Listed, byConfig: Map<string, DockerSaveEntry>): Promise<DockerSaveEntry | undefined> {
    if (!isManifestMediaType(listed.mediaType)) return undefined;
    // A manifest the archive lacks (another platform of a multi-platform index) names no entry.
    if ((await this.#tree.size(blobPath(listed.manifestDigest))) === undefined) return undefined;
    const manifest = checkManifest(await this.#readJson(listed.manifestDigest), `${this.#label}: manifest ${listed.manifestDigest}`);
    return byConfig.get(manifest.config.digest);
  }

  /** The digest of an entry's config: from its name when that is one (`blobs/sha256/<hex>`, `<hex>.json`), else hashed. */
  async #configDigestOf(e: DockerSaveEntry): Promise<string> {
    const m = /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.json)$/.exec(e.config);
    if (m) return `sha256:${m[1] ?? m[2]}`;
    return digestOf(await this.#tree.read(e.config, MAX_JSON_BYTES));
  }

  /**
   * An old docker save entry as an image: a Docker schema 2 manifest made from the config and the
   * layer files, whose blobs are then found by digest. Docker writes the layers uncompressed, so
   * their digest is their diffID; a compressed one (other tools write those) is hashed here.
   */
  async #synthesize(entry: DockerSaveEntry): Promise<ImageRef[]> {
    const configBytes = await this.#tree.read(entry.config, MAX_JSON_BYTES);
    const configDigest = digestOf(configBytes);
    const config = checkConfig(this.#parse(configBytes, entry.config), `${this.#label}: ${entry.config}`);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== entry.layers.length) {
      throw imageError(`${this.#label}: ${DOCKER_MANIFEST}: ${entry.config}: ${entry.layers.length} layers for ${diffIds.length} rootfs.diff_ids`);
    }
    this.#aliases.set(configDigest, entry.config);
    const layers: OciDescriptor[] = [];
    for (const [i, path] of entry.layers.entries()) {
      const size = await this.#tree.size(path);
      if (size === undefined) throw imageError(`${this.#label}: ${DOCKER_MANIFEST}: layer ${path}: missing`, { path });
      const compression = detectCompression(await this.#head(path, DETECT_BYTES));
      const compressed = compression === 'gzip' ? MediaType.dockerLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : undefined;
      const digest = compressed ? await this.#hashFile(path) : diffIds[i]!;
      this.#aliases.set(digest, path);
      layers.push({ mediaType: compressed ?? MediaType.dockerLayer, digest, size });
    }
    const manifest: OciManifest = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: configDigest, size: configBytes.length },
      layers,
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = digestOf(bytes);
    this.#synthesized.set(manifestDigest, bytes);
    const base: ImageRef = { manifestDigest, mediaType: MediaType.dockerManifest };
    if (config.os !== undefined && config.architecture !== undefined) base.platform = platformOf(config as PlatformSpec);
    return entry.repoTags.length === 0 ? [base] : entry.repoTags.map((ref) => ({ ...base, ref }));
  }

  async #head(path: string, n: number): Promise<Buffer> {
    const s = await this.#tree.open(path);
    try {
      const chunks: Buffer[] = [];
      let have = 0;
      for await (const c of s) {
        chunks.push(c as Buffer);
        have += (c as Buffer).length;
        if (have >= n) break;
      }
      return Buffer.concat(chunks).subarray(0, n);
    } finally {
      s.destroy();
    }
  }

  async #hashFile(path: string): Promise<Digest> {
    const h = new Hasher();
    for await (const c of await this.#tree.open(path)) h.update(c as Buffer);
    return h.digest();
  }

  // ---- resolving ----

  async resolve(ref?: string, platform?: PlatformSpec): Promise<ResolvedImage> {
    const images = await this.images();
    // A docker save archive's refs are RepoTags, named as Docker takes them (`busybox` is `busybox:latest`).
    const name = ref !== undefined && this.kind === 'docker-archive' ? dockerRefIn(images.map((i) => i.ref), ref) : ref;
    const chosen = selectImage(images, this.#label, name, platform);
    return resolveManifest(chosen, `${this.#label}: manifest ${chosen.manifestDigest}${chosen.ref !== undefined ? ` ('${chosen.ref}')` : ''}`, <T>(d: Digest) => this.#readJson<T>(d), platform, this.#label);
  }
}

/**
 * A chosen manifest (an image source's or a registry's) resolved to what unpacking needs: the
 * manifest and config read through `readJson` (which verifies their digests), their media types
 * and platform checked, each layer with its diffID and chainID. `at` names the manifest in errors.
 */
export async function resolveManifest(
  chosen: ImageRef,
  at: string,
  readJson: <T>(digest: Digest) => Promise<T>,
  platform: PlatformSpec | undefined,
  label: string,
): Promise<ResolvedImage> {
    if (isSchema1MediaType(chosen.mediaType)) {
      throw imageError(`${at}: a Docker schema 1 manifest (${chosen.mediaType}): not supported (it has no config and no diffIDs); convert it to schema 2 or OCI first`);
    }
    if (!isManifestMediaType(chosen.mediaType)) throw imageError(`${at}: ${chosen.mediaType} is not an image manifest`);
    const manifest = checkManifest(await readJson(chosen.manifestDigest), at);
    if (manifest.mediaType !== undefined && manifest.mediaType !== chosen.mediaType) {
      throw imageError(`${at}: its mediaType is ${manifest.mediaType}, its descriptor says ${chosen.mediaType}`, { field: 'mediaType' });
    }
    const configDigest = manifest.config.digest;
    const cmt = manifest.config.mediaType;
    if (cmt !== MediaType.ociConfig && cmt !== MediaType.dockerConfig) {
      throw imageError(`${at}: config.mediaType ${cmt}: not a container image config (an artifact?)`, { field: 'config.mediaType' });
    }
    const config = checkConfig(await readJson(configDigest), `${label}: config ${configDigest}`);
    const configPlatform = config.os !== undefined && config.architecture !== undefined ? platformOf(config as PlatformSpec) : undefined;
    if (platform !== undefined && chosen.platform === undefined && configPlatform !== undefined && !platformMatches(configPlatform, platform)) {
      throw imageError(`${at}: the image is for ${formatPlatform(configPlatform)}, not ${formatPlatform(platform)}`, { field: 'platform' });
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw imageError(`${at}: ${manifest.layers.length} layers, but its config ${configDigest} has ${diffIds.length} rootfs.diff_ids`, { field: 'rootfs.diff_ids' });
    }
    // history has one entry per layer once the empty_layer ones are left out; when it does not,
    // no createdBy is given rather than a wrong one.
    const history = (config.history ?? []).filter((h) => h.empty_layer !== true);
    const createdBy = history.length === diffIds.length ? history.map((h) => h.created_by) : [];
    const chains = chainIds(diffIds);
    const layers = manifest.layers.map((l, i): ResolvedLayer => {
      const layer: ResolvedLayer = { digest: l.digest, mediaType: l.mediaType, size: l.size, diffId: diffIds[i]!, chainId: chains[i]! };
      const by = createdBy[i];
      if (by !== undefined) layer.createdBy = by;
      return layer;
    });
    const out: ResolvedImage = { manifestDigest: chosen.manifestDigest, manifest, config, configDigest, layers };
    if (chosen.ref !== undefined) out.ref = chosen.ref;
    if (chosen.name !== undefined) out.name = chosen.name;
    const p = chosen.platform ?? configPlatform;
    if (p !== undefined) out.platform = p;
    return out;
}

function platformOf(p: PlatformSpec): PlatformSpec {
  const out: PlatformSpec = { os: p.os, architecture: p.architecture };
  if (typeof p.variant === 'string' && p.variant !== '') out.variant = p.variant;
  return out;
}

function dedupe(list: ImageRef[]): ImageRef[] {
  const seen = new Set<string>();
  return list.filter((i) => {
    const key = `${i.ref ?? ''}\0${i.manifestDigest}\0${formatPlatform(i.platform)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `src` passed through, hashed: the stream fails with ERR_DIGEST_MISMATCH at its end when the bytes are not `expected`. */
function verifying(src: Readable, expected: Digest, label: string): Readable {
  const hasher = new Hasher();
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hasher.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const actual = hasher.digest();
      cb(actual === expected ? null : digestMismatch(label, expected, actual));
    },
  });
  // Errors of either side reach the consumer through `out`; destroying `out` closes `src`.
  pipeline(src, out, () => {});
  return out;
}

