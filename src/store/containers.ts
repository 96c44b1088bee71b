/**
 * Containers: a writable layer over an image's layers (overlay/<cache-id>/{diff,work,merged}),
 * mounted with the library's own mountOverlay() with its volumes and tmpfs beside it, diffed,
 * committed to a new image, removed.
 */
import { chmod, lchown, lstat, mkdir, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import type { Stats } from 'node:fs';
import { changes, type Change } from '../layers/changes.js';
import { resolvePath } from '../layers/lookup.js';
import { applyLayer } from '../oci/apply.js';
import { digestOf, type Digest } from '../oci/digest.js';
import { exportLayer } from '../oci/export.js';
import { MediaType, type OciConfig, type OciManifest } from '../oci/image.js';
import { bindMount, tmpfsMount } from '../mount/volumes.js';
import { mountOverlay } from '../mount/overlay.js';
import { unmountOverlay } from '../mount/unmount.js';
import { findOverlay } from '../read/inspect.js';
import { OverlayError, OverlaySpecError, type SpecProblem } from '../spec/errors.js';
import type { MountHandle, OverlayMount } from '../mount/handle.js';
import { diskUsage, removeFile, writeRecord } from './files.js';
import { mountedIn, mountedPaths, nowIso, type StoreContext } from './context.js';
import { findImage, parseConfig, tagImage } from './images.js';
import { newId, VOLUME_NAME } from './layout.js';
import { shortId, type ContainerMount, type ContainerRecord, type ImageRecord, type LayerRecord } from './records.js';
import { ensureVolume } from './volumes.js';
import { containerIdMap, outsideRoot, type SubordinateIdFiles } from './userns.js';
import type { IdMap } from '../spec/types.js';

export interface CreateContainerOptions {
  /** Default: a generated name (adjective_noun, as docker's). */
  name?: string;
  /** docker run -v: `NAME:/path[:ro]` (a named volume, made if missing) or `/host/path:/path[:ro]`. */
  volumes?: string[];
  /** docker run --tmpfs: `/path[:size=100m,mode=1777]`. */
  tmpfs?: string[];
  /**
   * Run in a user namespace with this id map (podman --uidmap/--gidmap), or 'auto' (podman
   * --userns=auto: 65536 ids /etc/subuid and /etc/subgid grant the user 'containers', not
   * another container's). The image's layers are mounted idmapped through it: one copy for
   * every container, no chown; the writable layer's root is owned by the container's root.
   */
  userns?: IdMap | 'auto';
  /** Where 'auto' reads the subordinate ids (default /etc/subuid, /etc/subgid). */
  subordinateIds?: SubordinateIdFiles;
}

export interface ContainerSummary {
  id: string;
  name: string;
  image: Digest;
  imageName: string;
  created: string;
  /** Mounted at `merged` now (in this mount namespace). */
  mounted: boolean;
  merged: string;
  mounts: ContainerMount[];
}

export interface MountedContainer {
  merged: string;
  /** The mount strategy the library chose (see mountOverlay). */
  strategy: string;
  /** Already mounted before this call: nothing was done. */
  already: boolean;
}

const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Parses docker run's `-v` and `--tmpfs` values; ERR_OVERLAY_SPEC naming each bad one. */
export function parseMounts(volumes: readonly string[] = [], tmpfs: readonly string[] = []): ContainerMount[] {
  const problems: SpecProblem[] = [];
  const out: ContainerMount[] = [];
  const destination = (field: string, d: string | undefined): string | undefined => {
    if (d === undefined || !isAbsolute(d)) {
      problems.push({ field, problem: `the destination '${d ?? ''}' must be an absolute path in the container` });
      return undefined;
    }
    const n = normalize(d);
    if (n === '/') {
      problems.push({ field, problem: 'cannot mount over the container\'s root (/)' });
      return undefined;
    }
    return n.replace(/\/$/, '');
  };
  volumes.forEach((v, i) => {
    const field = `volumes[${i}]`;
    const parts = v.split(':');
    if (parts.length < 2 || parts.length > 3) return void problems.push({ field, problem: `'${v}' is not SOURCE:/path[:ro|rw]` });
    const [source, dest, mode] = parts as [string, string, string | undefined];
    if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return void problems.push({ field, problem: `'${mode}' is not ro or rw` });
    const d = destination(field, dest);
    if (d === undefined) return;
    const readOnly = mode === 'ro';
    if (isAbsolute(source)) out.push({ type: 'bind', source: normalize(source), destination: d, readOnly });
    else if (VOLUME_NAME.test(source)) out.push({ type: 'volume', name: source, destination: d, readOnly });
    else problems.push({ field, problem: `'${source}' is neither a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*) nor an absolute host path` });
  });
  tmpfs.forEach((t, i) => {
    const field = `tmpfs[${i}]`;
    const colon = t.indexOf(':');
    const d = destination(field, colon < 0 ? t : t.slice(0, colon));
    if (d === undefined) return;
    const m: ContainerMount = { type: 'tmpfs', destination: d };
    for (const opt of colon < 0 ? [] : t.slice(colon + 1).split(',')) {
      const [k, val] = opt.split('=') as [string, string | undefined];
      if (k === 'size' && val && /^\d+[kmg%]?$/i.test(val)) m.size = val;
      else if (k === 'mode' && val && /^[0-7]{3,4}$/.test(val)) m.mode = parseInt(val, 8);
      else problems.push({ field, problem: `'${opt}' is not size=N[k|m|g|%] or mode=OCTAL` });
    }
    out.push(m);
  });
  const seen = new Set<string>();
  for (const m of out) {
    if (seen.has(m.destination)) problems.push({ field: 'mounts', problem: `two mounts at '${m.destination}'` });
    seen.add(m.destination);
  }
  if (problems.length > 0) throw new OverlaySpecError(problems);
  return out;
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'gentle', 'happy', 'keen', 'lucid', 'nifty', 'quirky', 'serene', 'vivid', 'witty', 'zen'];
const NAMES = ['curie', 'dijkstra', 'euler', 'hopper', 'knuth', 'lovelace', 'noether', 'ritchie', 'shannon', 'thompson', 'torvalds', 'turing'];
const pick = <T>(a: readonly T[]): T => a[Math.floor(Math.random() * a.length)]!;

export async function createContainer(ctx: StoreContext, image: string, options: CreateContainerOptions = {}): Promise<ContainerSummary> {
  if (options.name !== undefined && !CONTAINER_NAME.test(options.name)) {
    throw new OverlaySpecError([{ field: 'name', problem: `'${options.name}' is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)` }]);
  }
  const mounts = parseMounts(options.volumes, options.tmpfs);
  const gc = await ctx.useLayers();
  try {
    const { record: img, ref } = await findImage(ctx, image);
    const top = img.layers.at(-1)?.chainId;
    const lowers = await ctx.chain(top);
    const { cacheId, link } = await ctx.makeLayerDir(lowers, true);
    try {
      const init = mounts.length > 0 && (await makeInitLayer(ctx.layout.init(cacheId), lowers.map((l) => ctx.layout.diff(l.cacheId)), mounts));
      return await ctx.withMeta(async () => {
        const others = await ctx.containers();
        const taken = new Set(others.map((c) => c.name));
        let name = options.name;
        if (name !== undefined && taken.has(name)) throw new OverlayError('ERR_CONFLICT', `Conflict. The container name "/${name}" is already in use`);
        for (let i = 0; name === undefined; i++) {
          const n = `${pick(ADJECTIVES)}_${pick(NAMES)}${i > 8 ? i : ''}`;
          if (!taken.has(n)) name = n;
        }
        // Picked under the metadata lock: two containers made at once never get one range.
        const idmap = options.userns === undefined ? undefined : await containerIdMap(options.userns, others, options.subordinateIds);
        if (idmap) {
          // The container's root writes at /: the writable layer's root is its (as containerd
          // does for a remapped snapshot). Nothing else is chowned.
          const [uid, gid] = [outsideRoot(idmap.uid), outsideRoot(idmap.gid)];
          if (uid !== undefined || gid !== undefined) await lchown(ctx.layout.diff(cacheId), uid ?? -1, gid ?? -1); // -1: left as it is
        }
        const record: ContainerRecord = {
          id: newId(),
          name,
          image: img.id,
          imageName: ref ?? shortId(img.id),
          ...(top ? { parent: top } : {}),
          cacheId,
          link,
          created: nowIso(),
          mounts,
          ...(init ? { init: true } : {}),
          size: 0,
          ...(idmap ? { idmap } : {}),
        };
        // The container exists once its record does.
        await writeRecord(ctx.layout.containerRecord(record.id), record);
        return summary(ctx, record, false);
      });
    } catch (e) {
      await ctx.removeLayerDir(cacheId, link).catch(() => {});
      throw e;
    }
  } finally {
    gc.release();
  }
}

function summary(ctx: StoreContext, c: ContainerRecord, mounted: boolean): ContainerSummary {
  return { id: c.id, name: c.name, image: c.image, imageName: c.imageName, created: c.created, mounted, merged: ctx.layout.merged(c.cacheId), mounts: c.mounts };
}

/** The container `name` names: its name, its id, or a unique prefix of its id (as docker). */
export async function findContainer(ctx: StoreContext, name: string): Promise<ContainerRecord> {
  if (typeof name !== 'string' || name === '') throw new OverlayError('ERR_OVERLAY_SPEC', 'a container name or id is needed');
  const all = await ctx.containers();
  const byName = all.find((c) => c.name === name.replace(/^\//, ''));
  if (byName) return byName;
  if (/^[0-9a-f]{1,64}$/.test(name)) {
    const matches = all.filter((c) => c.id.startsWith(name));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new OverlayError('ERR_CONFLICT', `'${name}' is ambiguous: it begins ${matches.length} container ids`);
  }
  throw new OverlayError('ERR_NOT_FOUND', `No such container: ${name}`);
}

/** Whether the container's overlay is mounted at its merged dir (in this mount namespace). */
export async function isMounted(ctx: StoreContext, c: ContainerRecord): Promise<boolean> {
  return (await findOverlay(ctx.layout.merged(c.cacheId))) !== undefined;
}

export async function listContainers(ctx: StoreContext): Promise<ContainerSummary[]> {
  const all = await ctx.containers();
  const mountPoints = await mountedPaths();
  const out: ContainerSummary[] = [];
  // A mount point says it is mounted; findOverlay then says it is ours (an overlay), for the few that are.
  for (const c of all) out.push(summary(ctx, c, mountPoints.has(ctx.layout.merged(c.cacheId)) && (await isMounted(ctx, c))));
  return out.sort((a, b) => b.created.localeCompare(a.created) || a.name.localeCompare(b.name));
}

/** The container's layers top first: its writable layer's lowers (its init layer, the image's), as lowerdir= takes them. */
async function lowerDirs(ctx: StoreContext, c: ContainerRecord, known?: Map<Digest, LayerRecord>): Promise<string[]> {
  const image = (await ctx.chain(c.parent, known)).map((l) => ctx.layout.diff(l.cacheId));
  return c.init ? [ctx.layout.init(c.cacheId), ...image] : image;
}

/**
 * Docker's -init layer: the mount points of `mounts` that the image (`layers`, top first) lacks,
 * made in `dir`. A mount point reached through a symlink of the image is refused (it would lead
 * outside the container), and so is one under a file. True when anything was made.
 */
async function makeInitLayer(dir: string, layers: readonly string[], mounts: readonly ContainerMount[]): Promise<boolean> {
  let made = false;
  // Directories of the image the init layer must hold too (to reach a mount point below): they
  // take the image's mode, owner and times, which the init layer's copy would otherwise hide.
  const copied = new Map<string, string>();
  for (const m of mounts) {
    const isFile = m.type === 'bind' && !(await stat(m.source).catch(() => undefined))?.isDirectory();
    const parts = m.destination.split('/').filter(Boolean);
    let inImage = true;
    for (const [i, part] of parts.entries()) {
      const path = `/${parts.slice(0, i + 1).join('/')}`;
      const last = i === parts.length - 1;
      if (inImage) {
        const r = layers.length > 0 ? await resolvePath(layers, path) : ({ found: false } as const);
        if (r.found && r.kind === 'symlink') throw new OverlayError('ERR_LAYER_UNSAFE', `cannot mount at '${m.destination}': '${path}' is a symlink in the image`, { path });
        if (r.found && r.kind !== 'dir' && !(last && isFile)) throw new OverlayError('ERR_CONFLICT', `cannot mount at '${m.destination}': '${path}' is not a directory in the image`, { path });
        if (r.found) {
          if (!last) copied.set(join(dir, ...parts.slice(0, i + 1)), r.realPath);
          continue;
        }
        inImage = false;
      }
      const at = join(dir, ...parts.slice(0, i + 1));
      if (last && isFile) await writeFile(at, '', { flag: 'a' });
      else await mkdir(at, { recursive: true, mode: 0o755 });
      made = true;
    }
  }
  // Deepest first: a directory's times are set after everything below it is made.
  for (const [at, real] of [...copied].sort(([a], [b]) => b.length - a.length)) {
    const st = await lstat(at).catch(() => undefined);
    if (!st) continue;
    const from = await lstat(real);
    await chmod(at, from.mode & 0o7777);
    await lchown(at, from.uid, from.gid);
    await utimes(at, from.atime, from.mtime);
  }
  return made;
}

/**
 * A directory at `rel` inside `root` (the merged view), made where missing; a symlink on the
 * way is refused (a volume is never mounted where an image's link points: outside the container).
 */
async function mountPointInside(root: string, rel: string, file: boolean): Promise<string> {
  const parts = rel.split('/').filter(Boolean);
  let at = root;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    const last = i === parts.length - 1;
    let st: Stats | undefined;
    try {
      st = await lstat(at);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st?.isSymbolicLink()) throw new OverlayError('ERR_LAYER_UNSAFE', `cannot mount at '/${parts.join('/')}': '/${parts.slice(0, i + 1).join('/')}' is a symlink in the container`, { path: at });
    if (st === undefined) {
      if (last && file) await writeFile(at, '', { flag: 'wx' });
      else await mkdir(at, { mode: 0o755 });
    } else if (!last && !st.isDirectory()) {
      throw new OverlayError('ERR_CONFLICT', `cannot mount at '/${parts.join('/')}': '/${parts.slice(0, i + 1).join('/')}' is not a directory in the container`, { path: at });
    } else if (last && st.isDirectory() === file) {
      // The kernel refuses a directory over a file and a file over a directory (EINVAL): say which.
      const what = file ? 'a file cannot be mounted over the directory' : 'a directory cannot be mounted over the file';
      throw new OverlayError('ERR_CONFLICT', `cannot mount at '/${parts.join('/')}': ${what} there in the container`, { path: at });
    }
  }
  return at;
}

/**
 * Mounts the container: its image's layers (top first) and its writable layer at merged/,
 * then its volumes and tmpfs mounts beside, in order. All or nothing: a failure takes down
 * what this call mounted. Already mounted: nothing is done.
 */
export async function mountContainer(ctx: StoreContext, name: string): Promise<MountedContainer> {
  const gc = await ctx.useLayers();
  try {
    const found = await findContainer(ctx, name);
    return await ctx.withContainer(found.id, name, async (c) => {
      const merged = ctx.layout.merged(c.cacheId);
      // Parents first (docker sorts by depth): a tmpfs at /a mounted after a volume at /a/b would hide it.
      const mounts = [...c.mounts].sort((a, b) => depth(a.destination) - depth(b.destination));
      let overlay: OverlayMount | undefined;
      let strategy = c.strategy ?? 'unknown';
      let missing = mounts;
      if (await isMounted(ctx, c)) {
        // Mounted: complete what a mount or unmount that died half-way left (a volume not mounted
        // would leave its writes in the writable layer).
        const table = await mountedPaths();
        missing = mounts.filter((m) => !table.has(join(merged, m.destination)));
        if (missing.length === 0) return { merged, strategy, already: true };
      } else {
        overlay = await mountOverlay({
          lower: await lowerDirs(ctx, c),
          upper: ctx.layout.diff(c.cacheId),
          work: ctx.layout.work(c.cacheId),
          target: merged,
          ...(c.idmap ? { idmap: c.idmap } : {}),
        });
        strategy = overlay.strategy;
      }
      const beside: MountHandle[] = [];
      try {
        for (const m of missing) {
          if (m.type === 'tmpfs') {
            const at = await mountPointInside(merged, m.destination, false);
            beside.push(await tmpfsMount(at, { beneath: merged, ...(m.size !== undefined ? { size: m.size } : {}), ...(m.mode !== undefined ? { mode: m.mode } : {}) }));
            continue;
          }
          const source = m.type === 'volume' ? await ensureVolume(ctx, m.name) : m.source;
          const isFile = !(await stat(source)).isDirectory();
          const at = await mountPointInside(merged, m.destination, isFile);
          // Attached onto the mount point opened beneath merged with no symlink on the way: one
          // swapped in after the check above cannot send it outside the container.
          beside.push(await bindMount(source, at, { readOnly: m.readOnly, recursive: true, beneath: merged }));
        }
        if (overlay) {
          await ctx.withMeta(async () => {
            const now = await ctx.container(c.id);
            if (now) await writeRecord(ctx.layout.containerRecord(c.id), { ...now, strategy });
          });
        }
      } catch (e) {
        for (const h of beside.reverse()) await h.unmount().catch(() => {});
        await overlay?.unmount().catch(() => {});
        throw e;
      }
      return { merged, strategy, already: false };
    });
  } finally {
    gc.release();
  }
}

const depth = (path: string): number => path.split('/').filter(Boolean).length;

/**
 * Unmounts the container: its volumes and tmpfs first (innermost first), then its overlay; the
 * writable layer's size is measured then and kept (df reads it, not the disk). False when it
 * was not mounted.
 */
export async function unmountContainer(ctx: StoreContext, name: string, options: { lazy?: boolean } = {}): Promise<boolean> {
  const gc = await ctx.useLayers();
  try {
    const found = await findContainer(ctx, name);
    return await ctx.withContainer(found.id, name, async (c) => {
      const merged = ctx.layout.merged(c.cacheId);
      if (!(await isMounted(ctx, c))) return false;
      await unmountOverlay(merged, { recursive: true, ...(options.lazy ? { detach: true } : {}) });
      const size = diskUsage(ctx.layout.diff(c.cacheId)).size;
      await ctx.withMeta(async () => {
        const now = await ctx.container(c.id);
        if (now) await writeRecord(ctx.layout.containerRecord(c.id), { ...now, size });
      });
      return true;
    });
  } finally {
    gc.release();
  }
}

/** docker diff: the writable layer's changes against the image (A added, C changed, D deleted). */
export async function containerChanges(ctx: StoreContext, name: string): Promise<Change[]> {
  const c = await findContainer(ctx, name);
  const out: Change[] = [];
  for await (const ch of changes(ctx.layout.diff(c.cacheId), await lowerDirs(ctx, c))) out.push(ch);
  return out;
}

export interface CommitOptions {
  /** Tag the new image so. */
  ref?: string;
  /** The history entry's comment (docker commit -m) and author (-a). */
  message?: string;
  author?: string;
}

export interface CommittedImage {
  id: Digest;
  refs: string[];
  /** The new layer: its chainID and diffID, and whether it was new to the store. */
  layer: { chainId: Digest; diffId: Digest; size: number };
}

/**
 * docker commit: the writable layer's changes exported as an OCI layer (oci/export) and applied
 * as a new store layer on top of the image's, and a new image of it: the image's config with
 * the diffID appended and a history entry. For a consistent layer, commit an unmounted
 * container (or one nothing writes to meanwhile).
 */
export async function commitContainer(ctx: StoreContext, name: string, options: CommitOptions = {}): Promise<CommittedImage> {
  const gc = await ctx.useLayers();
  try {
    const found = await findContainer(ctx, name);
    return await ctx.withContainer(found.id, name, async (c) => {
      const base = await ctx.image(c.image);
      if (!base) throw new OverlayError('ERR_NOT_FOUND', `No such image: ${shortId(c.image)} (container ${c.name}'s image was removed)`);
      const record = await commitLayer(ctx, c);
      const image = newImage(base, record, c, options);
      await writeRecord(ctx.layout.imageRecord(image.id), image);
      const refs = options.ref !== undefined ? await tagImage(ctx, image.id, options.ref) : [];
      return { id: image.id, refs, layer: { chainId: record.chainId, diffId: record.diffId, size: record.size } };
    });
  } finally {
    gc.release();
  }
}

/**
 * The container's changes as a store layer on its image's: exported, applied into a new layer
 * directory (with its tar-split), recorded under its chainID; the layer the store has when the
 * same changes were committed before (the new directory then goes).
 */
async function commitLayer(ctx: StoreContext, c: ContainerRecord): Promise<LayerRecord> {
  const lowers = await ctx.chain(c.parent);
  const { cacheId, link } = await ctx.makeLayerDir(lowers);
  // Named for the base's chain: the new layer's is known once its tar is.
  const split = ctx.tempTarSplit(c.parent ?? c.image);
  let record: LayerRecord;
  try {
    // A container in a user namespace wrote the host's ids: the layer gets its own back.
    const exported = exportLayer(
      ctx.layout.diff(c.cacheId),
      lowers.map((l) => ctx.layout.diff(l.cacheId)),
      c.idmap ? { idMap: c.idmap } : {},
    );
    const [applied, result] = await Promise.all([applyLayer(exported.stream, ctx.layout.diff(cacheId), { tarSplit: split }), exported.result]);
    // ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)) (image-spec config.md).
    const chainId = c.parent === undefined ? result.diffId : digestOf(`${c.parent} ${result.diffId}`);
    const lock = await ctx.lock(ctx.layout.layerLock(chainId), 'exclusive');
    try {
      const have = await ctx.layer(chainId);
      if (have) {
        record = have;
        await removeFile(split);
      } else {
        await rename(split, ctx.layout.tarSplit(chainId));
        record = {
          chainId,
          diffId: result.diffId,
          ...(c.parent ? { parent: c.parent } : {}),
          cacheId,
          link,
          size: applied.size,
          digest: result.diffId,
          mediaType: MediaType.ociLayer,
          compressedSize: result.bytes,
          entries: result.entries,
          created: nowIso(),
        };
        await writeRecord(ctx.layout.layerRecord(chainId), record);
      }
    } finally {
      lock.release();
    }
  } catch (e) {
    await removeFile(split).catch(() => {});
    await ctx.removeLayerDir(cacheId, link).catch(() => {});
    throw e;
  }
  if (record.cacheId !== cacheId) await ctx.removeLayerDir(cacheId, link);
  return record;
}

/** The committed image: the base's config with the layer appended, and a manifest for it. */
function newImage(base: ImageRecord, layer: LayerRecord, c: ContainerRecord, options: CommitOptions): ImageRecord {
  const created = nowIso();
  const config = parseConfig(base);
  const history = [
    ...(Array.isArray(config.history) ? config.history : []),
    { created, created_by: `ovl container commit ${c.name}`, ...(options.message ? { comment: options.message } : {}), ...(options.author ? { author: options.author } : {}) },
  ];
  const next: OciConfig = {
    ...config,
    created,
    ...(options.author ? { author: options.author } : {}),
    rootfs: { type: 'layers', diff_ids: [...(config.rootfs?.diff_ids ?? []), layer.diffId] },
    history,
  };
  const configText = JSON.stringify(next);
  const id = digestOf(configText);
  const manifest: OciManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: id, size: Buffer.byteLength(configText) },
    layers: [
      ...base.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      // The layer's blob as recorded (a layer committed before may have come in compressed).
      { mediaType: layer.mediaType, digest: layer.digest, size: layer.compressedSize },
    ],
  } as OciManifest;
  const manifestText = JSON.stringify(manifest);
  return {
    id,
    config: configText,
    manifestDigest: digestOf(manifestText),
    manifest: manifestText,
    layers: [...base.layers, { chainId: layer.chainId, digest: layer.digest, mediaType: layer.mediaType, size: layer.compressedSize }],
    added: created,
  };
}

/**
 * docker rm: the container's record, then its writable layer. A mounted container refuses
 * (ERR_CONFLICT) unless `force`, which unmounts it first. Its named volumes stay.
 */
export async function removeContainer(ctx: StoreContext, name: string, options: { force?: boolean } = {}): Promise<ContainerRecord> {
  const gc = await ctx.useLayers();
  try {
    const found = await findContainer(ctx, name);
    return await ctx.withContainer(found.id, name, (c) => removeLocked(ctx, c, options));
  } finally {
    gc.release();
  }
}

/** removeContainer's work, under the container's lock (prune calls it holding gc.lock exclusively). */
export async function removeLocked(ctx: StoreContext, c: ContainerRecord, options: { force?: boolean } = {}): Promise<ContainerRecord> {
  let paths = await mountedPaths();
  if (paths.has(ctx.layout.merged(c.cacheId))) {
    if (!options.force) throw new OverlayError('ERR_CONFLICT', `You cannot remove a mounted container ${shortId(c.id)} (${c.name}). Unmount it before removing, or use force`);
    await unmountOverlay(ctx.layout.merged(c.cacheId), { recursive: true });
    paths = await mountedPaths();
  }
  // Anything still mounted under it (a copy in this namespace, a mount of another process): refuse
  // before the record goes, rather than remove a live overlay's upper under it.
  const dir = ctx.layout.layerDir(c.cacheId);
  if (mountedIn(paths, dir)) throw new OverlayError('ERR_CONFLICT', `container ${c.name} is still mounted in '${dir}': unmount it first`, { path: dir });
  await ctx.withMeta(async () => {
    await removeFile(ctx.layout.containerRecord(c.id));
  });
  await ctx.removeLayerDir(c.cacheId, c.link);
  // Its lock file goes with it (a waiter on it then finds no record: ERR_NOT_FOUND).
  await removeFile(ctx.layout.containerLock(c.id));
  return c;
}

/** docker inspect's view of a container: its GraphDriver data and mounts. */
export async function inspectContainer(ctx: StoreContext, name: string): Promise<Record<string, unknown>> {
  const c = await findContainer(ctx, name);
  const lowers = await lowerDirs(ctx, c);
  const mounted = await isMounted(ctx, c);
  return {
    Id: c.id,
    Name: `/${c.name}`,
    Created: c.created,
    Image: c.image,
    Config: { Image: c.imageName },
    State: { Status: mounted ? 'mounted' : 'created', Mounted: mounted },
    // podman's words for a container's id maps.
    ...(c.idmap
      ? { HostConfig: { IDMappings: { UidMap: c.idmap.uid.map((r) => `${r.inside}:${r.outside}:${r.count}`), GidMap: c.idmap.gid.map((r) => `${r.inside}:${r.outside}:${r.count}`) } } }
      : {}),
    GraphDriver: {
      Name: 'overlay2',
      Data: {
        ...(lowers.length > 0 ? { LowerDir: lowers.join(':') } : {}),
        MergedDir: ctx.layout.merged(c.cacheId),
        UpperDir: ctx.layout.diff(c.cacheId),
        WorkDir: ctx.layout.work(c.cacheId),
      },
    },
    Mounts: c.mounts.map((m) =>
      m.type === 'tmpfs'
        ? { Type: 'tmpfs', Destination: m.destination, ...(m.size ? { Size: m.size } : {}) }
        : m.type === 'volume'
          ? { Type: 'volume', Name: m.name, Source: ctx.layout.volumeData(m.name), Destination: m.destination, Driver: 'local', RW: !m.readOnly }
          : { Type: 'bind', Source: m.source, Destination: m.destination, RW: !m.readOnly },
    ),
    ...(c.strategy ? { Strategy: c.strategy } : {}),
  };
}

