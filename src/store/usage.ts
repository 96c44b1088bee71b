/**
 * docker system df and docker system prune over the store. Sizes come from the records (kept as
 * layers are applied and containers unmounted), so df reads no diff directory but those that can
 * be changing now: mounted containers' writable layers, and volumes. `verify` walks them all.
 */
import type { Digest } from '../oci/digest.js';
import type { OverlayError } from '../spec/errors.js';
import { diskUsage, removeFile } from './files.js';
import { mountedPaths, type StoreContext } from './context.js';
import { removeLocked } from './containers.js';
import { listImages, type ImageSummary } from './images.js';
import { listVolumes, volumeUsers } from './volumes.js';

export interface UsageRow {
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

export interface ContainerUsage {
  id: string;
  name: string;
  image: string;
  size: number;
  mounted: boolean;
  created: string;
}

export interface VolumeUsage {
  name: string;
  /** How many containers name it. */
  links: number;
  size: number;
}

export interface DiskUsage {
  images: UsageRow & { items: ImageSummary[] };
  containers: UsageRow & { items: ContainerUsage[] };
  volumes: UsageRow & { items: VolumeUsage[] };
  /** With `verify`: every layer whose files do not take what its record says, and what they take. */
  mismatches?: Array<{ layer: Digest; recorded: number; actual: number }>;
}

export async function diskUsageReport(ctx: StoreContext, options: { verify?: boolean } = {}): Promise<DiskUsage> {
  const [images, layers, containers, volumes] = await Promise.all([listImages(ctx), ctx.layers(), ctx.containers(), listVolumes(ctx)]);
  const imageRecords = await ctx.images();
  // Images: each layer once, however many images share it.
  const all = new Set<Digest>();
  const active = new Set<Digest>();
  const activeImages = new Set(containers.map((c) => c.image));
  for (const img of imageRecords) {
    for (const l of img.layers) {
      all.add(l.chainId);
      if (activeImages.has(img.id)) active.add(l.chainId);
    }
  }
  // A container keeps its layers even when its image is gone.
  for (const c of containers) for (const l of await ctx.chain(c.parent, layers)) active.add(l.chainId);
  const sizeOf = (set: Iterable<Digest>) => [...set].reduce((n, id) => n + (layers.get(id)?.size ?? 0), 0);
  const imageSize = sizeOf(all);
  const imageRow = {
    total: images.length,
    active: images.filter((i) => activeImages.has(i.id)).length,
    size: imageSize,
    reclaimable: sizeOf([...all].filter((id) => !active.has(id))),
    items: images,
  };

  const containerItems: ContainerUsage[] = [];
  const mountPoints = await mountedPaths();
  for (const c of containers) {
    const mounted = mountPoints.has(ctx.layout.merged(c.cacheId));
    const size = mounted || options.verify ? diskUsage(ctx.layout.diff(c.cacheId)).size : c.size;
    containerItems.push({ id: c.id, name: c.name, image: c.imageName, size, mounted, created: c.created });
  }
  const containerSize = containerItems.reduce((n, c) => n + c.size, 0);
  const containerRow = {
    total: containerItems.length,
    active: containerItems.filter((c) => c.mounted).length,
    size: containerSize,
    reclaimable: containerItems.filter((c) => !c.mounted).reduce((n, c) => n + c.size, 0),
    items: containerItems,
  };

  const volumeItems: VolumeUsage[] = [];
  for (const v of volumes) volumeItems.push({ name: v.Name, links: (await volumeUsers(ctx, v.Name)).length, size: diskUsage(v.Mountpoint).size });
  const volumeRow = {
    total: volumeItems.length,
    active: volumeItems.filter((v) => v.links > 0).length,
    size: volumeItems.reduce((n, v) => n + v.size, 0),
    reclaimable: volumeItems.filter((v) => v.links === 0).reduce((n, v) => n + v.size, 0),
    items: volumeItems,
  };

  const report: DiskUsage = { images: imageRow, containers: containerRow, volumes: volumeRow };
  if (options.verify) {
    report.mismatches = [];
    for (const [id, l] of layers) {
      const actual = diskUsage(ctx.layout.diff(l.cacheId)).size;
      if (actual !== l.size) report.mismatches.push({ layer: id, recorded: l.size, actual });
    }
  }
  return report;
}

export interface PruneResult {
  /** Containers removed (unmounted ones), by name. */
  containers: string[];
  /** Dangling images removed (no tag, no container). */
  images: Digest[];
  /** Layers removed (nothing used them any more). */
  layers: Digest[];
  /** Bytes freed: the layers' and the containers' writable layers'. */
  reclaimed: number;
}

/**
 * docker system prune: unmounted containers, dangling images, then every layer nothing uses.
 * Waits for operations in progress (an import's layers are not swept under it); a mounted
 * container, and every layer it stands on, stays.
 */
export async function prune(ctx: StoreContext): Promise<PruneResult> {
  const gc = await ctx.deleteLayers();
  try {
    const result: PruneResult = { containers: [], images: [], layers: [], reclaimed: 0 };
    const mountPoints = await mountedPaths();
    for (const c of await ctx.containers()) {
      if (mountPoints.has(ctx.layout.merged(c.cacheId))) continue;
      const size = diskUsage(ctx.layout.diff(c.cacheId)).size;
      try {
        // Under its lock (a store mount cannot start while this prune holds gc.lock); removeLocked
        // refuses one mounted meanwhile by other means.
        await ctx.withContainer(c.id, c.name, (now) => removeLocked(ctx, now));
      } catch (e) {
        // Removed meanwhile by a container rm that started before this prune, or mounted by hand.
        const code = (e as OverlayError).code;
        if (code === 'ERR_NOT_FOUND' || code === 'ERR_CONFLICT') continue;
        throw e;
      }
      result.containers.push(c.name);
      result.reclaimed += size;
    }
    await ctx.withMeta(async () => {
      const { refs } = await ctx.repositories();
      const tagged = new Set(Object.values(refs));
      const used = new Set((await ctx.containers()).map((c) => c.image));
      for (const img of await ctx.images()) {
        if (tagged.has(img.id) || used.has(img.id)) continue;
        await removeFile(ctx.layout.imageRecord(img.id));
        result.images.push(img.id);
      }
    });
    const swept = await ctx.sweep();
    result.layers = swept.removed;
    result.reclaimed += swept.reclaimed;
    return result;
  } finally {
    gc.release();
  }
}
