/**
 * push: an image of the store to a registry, as `docker push` does. Each layer the repository
 * has already (HEAD) is skipped; one another repository of the same registry has (the image was
 * pulled from or pushed to it) is mounted across, no bytes moved; the rest are uploaded: a
 * layer whose blob is its plain tar (a commit's) is rebuilt byte for byte, so its digest is the
 * one the manifest names and the manifest goes up unchanged; a compressed blob cannot be made
 * again byte for byte (its compressor's choices are lost), so the tar is gzip'd afresh and the
 * manifest rewritten with the new digests, as docker does. Config, then manifest, last.
 */
import { pipeline, Readable, Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { digestOf, Hasher, type Digest } from '../oci/digest.js';
import { MediaType, type OciManifest } from '../oci/image/types.js';
import type { StoredImage } from '../store/save.js';
import type { Store } from '../store/store.js';
import { OverlaySpecError } from '../spec/errors.js';
import { RegistryClient, type ClientOptions } from './client.js';
import { formatReference, parseReference, repoDigest, type ImageReference } from './reference.js';

export interface PushProgress {
  /** The layer's index, bottom first, and how many; -1 for the config. */
  layer: number;
  layers: number;
  /** The blob's digest in the store's manifest. */
  digest: Digest;
  status: 'preparing' | 'exists' | 'mounted' | 'pushing' | 'pushed';
  /** Bytes sent so far (of the rebuilt tar, before compression). */
  bytes: number;
  /** 'mounted': the repository it was mounted from. */
  from?: string;
}

export interface PushOptions extends ClientOptions {
  onProgress?: (p: PushProgress) => void;
  /** Layers uploaded at once (default 3, as docker's max-concurrent-uploads is 5). */
  concurrency?: number;
}

export interface PushResult {
  /** The reference pushed to, in full. */
  reference: string;
  /** The manifest's digest in the registry, and its size (docker push's last line). */
  digest: Digest;
  size: number;
  /** Whether the manifest went up as the store had it (false: layers were compressed anew). */
  sameManifest: boolean;
  layers: Array<{ digest: Digest; status: 'exists' | 'mounted' | 'pushed'; from?: string }>;
}

type LayerPlan = StoredImage['layers'][number];

const isPlainTar = (l: LayerPlan) => (l.mediaType === MediaType.ociLayer || l.mediaType === MediaType.dockerLayer) && l.digest === l.diffId;

/** `image` (a name or id in the store) to `reference` (default: the image's own name). */
export async function push(store: Store, image: string, reference: string = image, options: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(reference);
  if (ref.digest !== undefined) throw parseErrorDigest(reference);
  const stored = await store.openImage(image);
  const client = new RegistryClient(ref.domain, options);
  try {
    const repo = ref.repository;
    // Repositories of the same registry known to hold the image's blobs (where it was pulled from or pushed to).
    const sources = stored.repoDigests
      .map((rd) => rd.slice(0, rd.indexOf('@')))
      .map((name) => {
        try {
          return parseReference(name);
        } catch {
          return undefined;
        }
      })
      .filter((r): r is ImageReference => r !== undefined && r.domain === ref.domain && r.repository !== repo)
      .map((r) => r.repository);
    const results: PushResult['layers'] = new Array(stored.layers.length);
    const newBlobs = new Map<number, { digest: Digest; size: number; mediaType: string }>();
    const progress = (i: number, digest: Digest, status: PushProgress['status'], bytes = 0, from?: string) =>
      options.onProgress?.({ layer: i, layers: stored.layers.length, digest, status, bytes, ...(from !== undefined ? { from } : {}) });
    const limit = Math.max(1, options.concurrency ?? 3);
    let next = 0;
    // One layer failing stops the others from starting theirs; those under way finish or fail,
    // and push() returns only then (the stored image and the client are closed after them).
    let failed = false;
    const worker = async () => {
      while (next < stored.layers.length && !failed) {
        const i = next++;
        const layer = stored.layers[i]!;
        progress(i, layer.digest, 'preparing');
        const { status, from } = await pushLayer(client, stored, layer, repo, sources, (bytes) => progress(i, layer.digest, 'pushing', bytes), (blob) => newBlobs.set(i, blob));
        results[i] = { digest: newBlobs.get(i)?.digest ?? layer.digest, status, ...(from !== undefined ? { from } : {}) };
        progress(i, layer.digest, status, 0, from);
      }
    };
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(limit, stored.layers.length) }, () =>
        worker().catch((e: unknown) => {
          failed = true;
          throw e;
        }),
      ),
    );
    const rejected = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;

    const config = Buffer.from(stored.config);
    if (!(await client.hasBlob(repo, stored.id))) await client.putBlob(repo, config, stored.id);

    let manifestBytes = Buffer.from(stored.manifest);
    const manifest = JSON.parse(stored.manifest) as OciManifest & { mediaType?: string };
    const mediaType = manifest.mediaType ?? MediaType.ociManifest;
    // A tar gzip'd anew can come out byte for byte as it came in (the same compressor and level):
    // then the manifest stands as it was.
    for (const [i, blob] of newBlobs) if (blob.digest === stored.layers[i]!.digest) newBlobs.delete(i);
    if (newBlobs.size > 0) {
      const docker = mediaType === MediaType.dockerManifest;
      manifest.layers = manifest.layers.map((d, i) => {
        const blob = newBlobs.get(i);
        return blob ? { ...d, mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip, digest: blob.digest, size: blob.size } : d;
      });
      manifestBytes = Buffer.from(JSON.stringify(manifest, null, 3));
    }
    const digest = digestOf(manifestBytes);
    await client.putManifest(repo, ref.tag ?? digest, manifestBytes, mediaType);
    await store.addRepoDigest(stored.id, repoDigest(ref, digest));
    return { reference: formatReference(ref), digest, size: manifestBytes.length, sameManifest: newBlobs.size === 0, layers: results };
  } finally {
    stored.close();
    client.close();
  }
}

function parseErrorDigest(reference: string): Error {
  return new OverlaySpecError([{ field: 'reference', problem: `'${reference}' has a digest: push to a name[:tag]` }]);
}

async function pushLayer(
  client: RegistryClient,
  stored: StoredImage,
  layer: LayerPlan,
  repo: string,
  sources: string[],
  onBytes: (n: number) => void,
  newBlob: (b: { digest: Digest; size: number; mediaType: string }) => void,
): Promise<{ status: 'exists' | 'mounted' | 'pushed'; from?: string }> {
  if (await client.hasBlob(repo, layer.digest)) return { status: 'exists' };
  for (const from of sources) if (await client.mountBlob(repo, layer.digest, from)) return { status: 'mounted', from };
  const plain = isPlainTar(layer);
  // Tried again from the start (the tar is rebuilt again) when the upload fails on the way.
  for (let attempt = 0; ; attempt++) {
    let sent = 0;
    let hash = new Hasher();
    let size = 0;
    const make = () => {
      sent = 0;
      size = 0;
      hash = new Hasher();
      const tar = Readable.from(
        (async function* () {
          for await (const c of stored.layerTar(layer.chainId)) {
            sent += c.length;
            onBytes(sent);
            yield c;
          }
        })(),
      );
      const count = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb(null, chunk);
        },
      });
      // pipeline() destroys every stream on a failure; the last one carries it to the request.
      return plain ? pipeline(tar, count, () => {}) : pipeline(tar, createGzip(), count, () => {});
    };
    try {
      const digest = await client.streamBlob(repo, make, () => hash.digest());
      if (!plain) newBlob({ digest, size, mediaType: MediaType.ociLayerGzip });
      else if (digest !== layer.digest) throw new Error(`layer ${layer.chainId}: rebuilt as ${digest}, not ${layer.digest}`);
      return { status: 'pushed' };
    } catch (e) {
      if (attempt >= 2 || (e as { code?: string }).code === 'ERR_DIGEST_MISMATCH') throw e;
    }
  }
}
