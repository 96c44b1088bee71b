/**
 * `docker save` archives: `manifest.json` is `[{Config, RepoTags, Layers}]`, paths inside the
 * archive. Docker before 25 writes the config as `<hex>.json` and each layer as the uncompressed
 * `<v1-id>/layer.tar` (a symlink to an earlier one when two images share it); Docker ≥ 25 writes
 * an OCI image layout alongside, and its `Config`/`Layers` are `blobs/sha256/<hex>` paths of it.
 * `repositories` (`{name: {tag: top-layer-v1-id}}`) repeats what RepoTags says and is not read.
 */
import { imageError } from './types.js';
import { treePath } from './tree.js';

export const DOCKER_MANIFEST = 'manifest.json';

export interface DockerSaveEntry {
  /** The config's path in the tree. */
  config: string;
  /** `busybox:latest`, as Docker shows it; empty for an image saved by id. */
  repoTags: string[];
  /** Each layer's path in the tree, bottom first. */
  layers: string[];
}

export function checkDockerManifest(v: unknown): DockerSaveEntry[] {
  const where = DOCKER_MANIFEST;
  if (!Array.isArray(v)) throw imageError(`${where}: expected an array of images, found ${v === null ? 'null' : typeof v}`);
  return v.map((item: unknown, i): DockerSaveEntry => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw imageError(`${where}: [${i}]: expected an object`, { field: `[${i}]` });
    const e = item as Record<string, unknown>;
    if (typeof e.Config !== 'string') throw imageError(`${where}: [${i}].Config: expected a string`, { field: `[${i}].Config` });
    // RepoTags is null for an image saved by id.
    if (e.RepoTags !== undefined && e.RepoTags !== null && !(Array.isArray(e.RepoTags) && e.RepoTags.every((t) => typeof t === 'string'))) {
      throw imageError(`${where}: [${i}].RepoTags: expected an array of strings`, { field: `[${i}].RepoTags` });
    }
    if (!Array.isArray(e.Layers)) throw imageError(`${where}: [${i}].Layers: expected an array`, { field: `[${i}].Layers` });
    return {
      config: treePath(e.Config, where, `[${i}].Config`),
      repoTags: (e.RepoTags as string[] | null | undefined) ?? [],
      layers: e.Layers.map((l: unknown, j) => treePath(l as string, where, `[${i}].Layers[${j}]`)),
    };
  });
}

/**
 * The RepoTag of `images` that `ref` names as Docker would read it: `busybox` is
 * `busybox:latest`, `docker.io/library/busybox:latest` is `busybox:latest`. `ref` itself when
 * it is one of them or names none.
 */
export function dockerRefIn(refs: ReadonlyArray<string | undefined>, ref: string): string {
  if (refs.includes(ref) || ref.includes('@')) return ref;
  const lastPart = ref.slice(ref.lastIndexOf('/') + 1);
  const full = fullImageName(lastPart.includes(':') ? ref : `${ref}:latest`);
  return refs.find((r) => r !== undefined && fullImageName(r) === full) ?? ref;
}

/**
 * A RepoTag in full, as containerd names images (`busybox:latest` →
 * `docker.io/library/busybox:latest`), to match Docker ≥ 25's `io.containerd.image.name`.
 */
export function fullImageName(tag: string): string {
  const slash = tag.indexOf('/');
  const first = slash < 0 ? '' : tag.slice(0, slash);
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  if (hasHost) return tag;
  return slash < 0 ? `docker.io/library/${tag}` : `docker.io/${tag}`;
}
