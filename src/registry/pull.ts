/**
 * pull: an image from a registry into the store, as `docker pull` does. The index or manifest is
 * read and its digest checked, the platform chosen, then the store imports it: a layer it has
 * (by chainID) is not downloaded, one it holds on another base (same diffID) is rebuilt from that
 * copy, the rest stream from the registry (three at once) straight into the apply, each checked
 * against its digest and diffID as it goes. Nothing is in the store until every layer is.
 */
import type { Digest } from '../oci/digest.js';
import type { PlatformSpec } from '../oci/image/select.js';
import type { ImportedImage, ImportProgress } from '../store/images.js';
import type { Store } from '../store/store.js';
import { RegistryClient, type ClientOptions } from './client.js';
import { formatReference, parseReference, repoDigest, storeName } from './reference.js';
import { RegistryImage } from './source.js';

export interface PullOptions extends ClientOptions {
  /** The platform to take from a multi-platform image (default: the running one). */
  platform?: PlatformSpec;
  /** Layers downloaded at once (default 3, as docker's max-concurrent-downloads). */
  concurrency?: number;
  onProgress?: (p: ImportProgress) => void;
}

export interface PullResult {
  /** The image id (its config's digest). */
  id: Digest;
  /** The reference in full (`docker.io/library/busybox:latest`). */
  reference: string;
  /** The store's tag for it (`busybox:latest`); none when pulled by digest. */
  name?: string;
  /** The digest the reference resolved to (a multi-platform image's index), as docker pull prints it. */
  digest: Digest;
  /** The image's manifest (for the platform chosen). */
  manifestDigest: Digest;
  /** `busybox@sha256:…` (docker's RepoDigest). */
  repoDigest: string;
  /** 'downloaded': something new came in or the tag moved; 'up to date': the tag already named this image. */
  status: 'downloaded' | 'up to date';
  layers: ImportedImage['layers'];
}

export async function pull(store: Store, reference: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(reference);
  const client = new RegistryClient(ref.domain, options);
  try {
    // A config the store has (an image it holds: the id is the config's digest) is not fetched again.
    const local = async (digest: Digest): Promise<Buffer | undefined> => {
      const img = await store.openImage(digest).catch(() => undefined);
      if (!img) return undefined;
      try {
        return img.id === digest ? Buffer.from(img.config) : undefined;
      } finally {
        img.close();
      }
    };
    const image = new RegistryImage(client, ref, local);
    const top = await image.top();
    const name = storeName(ref);
    const before = name !== undefined ? await store.image(name).then((i) => i.id, () => undefined) : undefined;
    const rd = repoDigest(ref, top.digest);
    const [imported] = await store.importImage(image, {
      ...(name !== undefined ? { tag: name } : {}),
      ...(options.platform ? { platform: options.platform } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      concurrency: options.concurrency ?? 3,
      repoDigest: rd,
    });
    const done = imported!;
    const fresh = done.layers.some((l) => l.applied);
    return {
      id: done.id,
      reference: formatReference(ref),
      ...(name !== undefined ? { name } : {}),
      digest: top.digest,
      manifestDigest: done.manifestDigest,
      repoDigest: rd,
      // Up to date: nothing came in and no tag moved (a pull by digest moves none).
      status: !fresh && (name === undefined || before === done.id) ? 'up to date' : 'downloaded',
      layers: done.layers,
    };
  } finally {
    client.close();
  }
}
