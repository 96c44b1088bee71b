/**
 * What opening a store does: finish or remove what a crash left, and repair the short links.
 *
 * It runs only when it gets gc.lock exclusively without waiting: every operation that makes or
 * uses layers holds it shared, so then nothing is in progress and anything half-made belongs to
 * a dead process. Records are the commit points (a layer, an image, a container exists once its
 * record does), so the rule is simple: a directory no record names is garbage, and a layer no
 * image or container uses is garbage; a record is never removed while something needs it.
 */
import { lstat, readFile, readlink, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { names, removeFile, removeTree, StoreLock, TEMP_FILE } from './files.js';
import { lowerFile, mountedIn, mountedPaths, type StoreContext } from './context.js';
import { ID } from './layout.js';
import { snapshotOwners } from './snapshots.js';
import type { ContainerRecord, LayerRecord } from './records.js';
import { TEMP_VOLUME } from './volumes.js';

export interface Recovery {
  /** False when another process was busy with the store (nothing was checked; the next open will). */
  ran: boolean;
  /** What was removed: temp files, directories no record names, layers nothing uses. */
  removed: string[];
  /** Short links and lower files written again. */
  repaired: string[];
  /** Directories no record names that were left alone because something is mounted in them. */
  inUse: string[];
}

export async function recover(ctx: StoreContext): Promise<Recovery> {
  const report: Recovery = { ran: false, removed: [], repaired: [], inUse: [] };
  const gc = await StoreLock.take(ctx.layout.gcLock, 'exclusive', false);
  if (!gc) return report;
  // meta.lock too, for the whole run (after gc.lock, the protocol's order): a tag, a container
  // unmount or removal and a volume creation write under meta.lock alone, without gc.lock, and
  // their temp files and half-made volumes are not a dead process's leftovers.
  let meta: StoreLock | undefined;
  try {
    meta = await ctx.lock(ctx.layout.metaLock, 'exclusive');
    report.ran = true;
    const { layout } = ctx;
    // Temp files of interrupted atomic writes, and volumes half-made or half-removed.
    for (const dir of [layout.root, layout.layerdb, layout.imagedb, layout.containers, layout.snapshots]) {
      for (const n of await names(dir)) {
        if (TEMP_FILE.test(n)) {
          await removeFile(join(dir, n));
          report.removed.push(join(dir, n));
        }
      }
    }
    for (const n of await names(layout.volumes)) {
      const p = join(layout.volumes, n);
      if (TEMP_VOLUME.test(n)) {
        await removeTree(p);
        report.removed.push(p);
      } else {
        for (const m of await names(p)) if (TEMP_FILE.test(m)) await removeFile(join(p, m));
      }
    }

    // Tar-splits renamed into place by an import that died before the layer's record.
    for (const n of await names(layout.layerdb)) {
      const m = /^([0-9a-f]{64})\.tar-split\.gz$/.exec(n);
      if (m && !(await lstat(join(layout.layerdb, `${m[1]}.json`)).catch(() => undefined))) {
        await removeFile(join(layout.layerdb, n));
        report.removed.push(join(layout.layerdb, n));
      }
    }

    // Layers nothing uses (an import that died before its image record, an rm that died mid-sweep).
    const swept = await ctx.sweep();
    for (const id of swept.removed) report.removed.push(layout.layerRecord(id));

    // A layer record whose directory is gone cannot serve: it is damage, not a crash (records
    // go before directories); it stays for `check` to report, and its image fails to mount.
    const layers = await ctx.layers();
    const containers = await ctx.containers();
    const owners = new Map<string, LayerRecord | ContainerRecord>();
    for (const l of layers.values()) owners.set(l.cacheId, l);
    for (const c of containers) owners.set(c.cacheId, c);
    // containerd's snapshots (the snapshotter's) own their directories and short links too.
    const snapshots = await snapshotOwners(ctx);
    const snapshotDirs = new Set(snapshots.map((r) => r.cacheId));

    // Directories no record names: layers applied by an import that died, containers whose
    // create died, removals that died after the record went.
    const mountPoints = await mountedPaths();
    for (const n of await names(layout.overlay)) {
      if (n === 'l') continue;
      if (!ID.test(n) || owners.has(n) || snapshotDirs.has(n)) continue;
      const dir = join(layout.overlay, n);
      // Something is mounted there (a container removed by hand while mounted): never remove a
      // live overlay's upper under it; say so instead, and the next open tries again.
      if (mountedIn(mountPoints, dir)) {
        report.inUse.push(dir);
        continue;
      }
      await removeTree(dir);
      report.removed.push(dir);
    }

    // Short links: each record's own, pointing at its diff; anything else in l/ goes.
    const wanted = new Map<string, string>();
    for (const [cacheId, r] of owners) {
      const link = r.link;
      const linkFile = join(layout.layerDir(cacheId), 'link');
      const onDisk = (await readFile(linkFile, 'utf8').catch(() => undefined))?.trim();
      if (onDisk !== link) {
        await writeFile(linkFile, link);
        report.repaired.push(linkFile);
      }
      wanted.set(link, `../${cacheId}/diff`);
    }
    for (const r of snapshots) wanted.set(r.link, `../${r.cacheId}/diff`);
    for (const n of await names(layout.links)) {
      const p = layout.link(n);
      if (wanted.get(n) === (await readlink(p).catch(() => undefined))) continue;
      await unlink(p).catch(() => {});
      if (!wanted.has(n)) report.removed.push(p);
    }
    for (const [link, target] of wanted) {
      const p = layout.link(link);
      const st = await lstat(p).catch(() => undefined);
      if (st) continue;
      await symlink(target, p);
      report.repaired.push(p);
    }
    // lower files: the short names below each layer, top first.
    for (const [cacheId, r] of owners) {
      const below = await ctx.chain(r.parent, layers).catch(() => undefined);
      if (below === undefined) continue;
      const path = join(layout.layerDir(cacheId), 'lower');
      const want = lowerFile(below);
      const have = await readFile(path, 'utf8').catch(() => undefined);
      if (want === '' ? have === undefined : have === want) continue;
      if (want === '') await unlink(path);
      else await writeFile(path, want);
      report.repaired.push(path);
    }

    // Tags of images that are gone.
    const repos = await ctx.repositories();
    const ids = new Set((await ctx.images()).map((i) => i.id));
    const stale = Object.keys(repos.refs).filter((r) => !ids.has(repos.refs[r] as Digest));
    if (stale.length > 0) {
      for (const r of stale) delete repos.refs[r];
      await ctx.writeRepositories(repos);
      report.repaired.push(layout.repositories);
    }

    // Lock files of layers (made on demand; none is held now).
    const containerIds = new Set(containers.map((c) => c.id));
    for (const n of await names(layout.locks)) {
      if (n.startsWith('layer-')) await removeFile(join(layout.locks, n));
      const m = /^container-([0-9a-f]{64})\.lock$/.exec(n);
      if (m && !containerIds.has(m[1]!)) await removeFile(join(layout.locks, n));
    }
    return report;
  } finally {
    meta?.release();
    gc.release();
  }
}
