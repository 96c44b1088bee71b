/**
 * An image in a registry as an ImageReader (what the store imports from): the reference's
 * manifest or index (an index's manifests listed with their platforms), chosen and resolved as
 * a local layout's are, its blobs streamed from the registry.
 */
import { Readable } from 'node:stream';
import { digestMismatch, digestOf, Hasher, type Digest } from '../oci/digest.js';
import { MAX_JSON_BYTES, resolveManifest, type ImageReader, type ImageRef, type ResolvedImage } from '../oci/image.js';
import { selectImage, type PlatformSpec } from '../oci/image/select.js';
import { checkIndex, imageError, isIndexMediaType, isSchema1MediaType } from '../oci/image/types.js';
import { pullScope, readLimited, type FetchedManifest, type RegistryClient } from './client.js';
import { formatReference, type ImageReference } from './reference.js';

const MAX_INDEX_DEPTH = 4;

export class RegistryImage implements ImageReader {
  readonly reference: ImageReference;
  readonly #client: RegistryClient;
  readonly #label: string;
  /** Manifests and indexes fetched, by digest (each verified). */
  readonly #manifests = new Map<Digest, FetchedManifest>();
  /** JSON blobs (configs) read, by digest (each verified). */
  readonly #json = new Map<Digest, Buffer>();
  #top: Promise<FetchedManifest> | undefined;

  /** JSON blobs to be had without the network (the store's config of an image it has), or undefined. */
  readonly #local: ((digest: Digest) => Promise<Buffer | undefined>) | undefined;

  constructor(client: RegistryClient, reference: ImageReference, local?: (digest: Digest) => Promise<Buffer | undefined>) {
    this.#client = client;
    this.#local = local;
    this.reference = reference;
    this.#label = formatReference(reference);
  }

  /** The manifest or index the reference names (fetched once). */
  top(): Promise<FetchedManifest> {
    this.#top ??= this.#client.manifest(this.reference.repository, this.reference.digest ?? this.reference.tag!, this.#label).then((m) => {
      this.#manifests.set(m.digest, m);
      return m;
    });
    return this.#top;
  }

  async #manifest(digest: Digest): Promise<FetchedManifest> {
    const have = this.#manifests.get(digest);
    if (have) return have;
    const m = await this.#client.manifest(this.reference.repository, digest, `${this.#label} (manifest ${digest})`);
    this.#manifests.set(digest, m);
    return m;
  }

  async images(): Promise<ImageRef[]> {
    const top = await this.top();
    if (!isIndexMediaType(top.mediaType)) return [{ manifestDigest: top.digest, mediaType: top.mediaType }];
    const out: ImageRef[] = [];
    const walk = async (m: FetchedManifest, depth: number): Promise<void> => {
      const index = checkIndex(JSON.parse(m.bytes.toString('utf8')), `${this.#label}: index ${m.digest}`);
      for (const d of index.manifests) {
        if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') continue;
        if (isIndexMediaType(d.mediaType)) {
          if (depth >= MAX_INDEX_DEPTH) throw imageError(`${this.#label}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
          await walk(await this.#manifest(d.digest), depth + 1);
          continue;
        }
        const ref: ImageRef = { manifestDigest: d.digest, mediaType: d.mediaType };
        if (d.platform) ref.platform = { os: d.platform.os, architecture: d.platform.architecture, ...(d.platform.variant ? { variant: d.platform.variant } : {}) };
        out.push(ref);
      }
    };
    await walk(top, 0);
    return out;
  }

  async resolve(ref?: string, platform?: PlatformSpec): Promise<ResolvedImage> {
    const chosen = selectImage(await this.images(), this.#label, ref, platform);
    if (isSchema1MediaType(chosen.mediaType)) {
      throw imageError(`${this.#label}: a Docker schema 1 manifest (${chosen.mediaType}): not supported (it has no config and no diffIDs)`);
    }
    const at = `${this.#label}: manifest ${chosen.manifestDigest}`;
    return resolveManifest(chosen, at, <T>(d: Digest) => this.readJson<T>(d), platform, this.#label);
  }

  async readJson<T>(digest: Digest): Promise<T> {
    const bytes = this.#manifests.has(digest) || (await this.#isManifest(digest)) ? (await this.#manifest(digest)).bytes : await this.#jsonBlob(digest);
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (e) {
      throw imageError(`${this.#label}: blob ${digest}: not valid JSON: ${(e as Error).message}`);
    }
  }

  /** Whether a digest is one of the manifests the reference lists (else it is a blob: a config). */
  async #isManifest(digest: Digest): Promise<boolean> {
    return (await this.images()).some((i) => i.manifestDigest === digest);
  }

  async #jsonBlob(digest: Digest): Promise<Buffer> {
    const have = this.#json.get(digest) ?? (await this.#local?.(digest).catch(() => undefined));
    if (have && digestOf(have) === digest) {
      this.#json.set(digest, have);
      return have;
    }
    const stream = this.#client.blob(this.reference.repository, digest);
    const bytes = await readLimited(stream, MAX_JSON_BYTES, `${this.#label}: blob ${digest}`);
    const actual = digestOf(bytes);
    if (actual !== digest) throw digestMismatch(`${this.#label}: blob`, digest, actual);
    // Kept: the store reads the config again, byte for byte, for the image's record.
    this.#json.set(digest, bytes);
    return bytes;
  }

  async blob(digest: Digest, options: { mediaType?: string; verify?: boolean; signal?: AbortSignal } = {}): Promise<Readable> {
    const m = this.#manifests.get(digest)?.bytes ?? this.#json.get(digest);
    if (m) return Readable.from([m], { objectMode: false });
    const stream = this.#client.blob(this.reference.repository, digest, options.signal);
    if (options.verify === false) return stream;
    const label = `${this.#label}: blob ${digest}${options.mediaType ? ` (${options.mediaType})` : ''}`;
    const hasher = new Hasher();
    return Readable.from(
      (async function* () {
        for await (const c of stream as AsyncIterable<Buffer>) {
          hasher.update(c);
          yield c;
        }
        const actual = hasher.digest();
        if (actual !== digest) throw digestMismatch(label, digest, actual);
      })(),
      { objectMode: false },
    );
  }

  /** The scope a pull of this image needs. */
  get scope(): string {
    return pullScope(this.reference.repository);
  }
}
