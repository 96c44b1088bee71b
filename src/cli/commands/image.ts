/**
 * ovl image: images in OCI layouts, oci-archives and docker save archives (ls SOURCE, unpack),
 * and in the store (import, ls, history, tag, rm), the store's in docker's words and formats.
 */
import { existsSync } from 'node:fs';
import { openImageSource } from '../../oci/image.js';
import { unpackImage } from '../../oci/unpack.js';
import type { RemovedImage } from '../../store/images.js';
import type { SavedImage } from '../../store/save.js';
import { splitRef } from '../../store/records.js';
import { EXIT_OK, storeCommand, UsageError, xattrNamespace, type Values } from '../command.js';
import { dockerSize, dockerTable, ellipsis, shortId, since } from '../docker-format.js';
import { json, out, table } from '../output.js';
import { humanBytes, interruptible, LayerBoard, Progress } from '../progress.js';
import { eachName, storeOf } from '../store.js';

/**
 * SOURCE[:REF]: a path may hold ':' and a ref does (busybox:1.36), so the source is the shortest
 * prefix that exists on disk and the ref is the rest.
 */
export function splitSourceRef(arg: string): { source: string; ref?: string } {
  if (existsSync(arg)) return { source: arg };
  for (let i = arg.indexOf(':'); i > 0; i = arg.indexOf(':', i + 1)) {
    if (existsSync(arg.slice(0, i))) return { source: arg.slice(0, i), ref: arg.slice(i + 1) };
  }
  return { source: arg };
}

function platformOf(v: unknown): { os: string; architecture: string; variant?: string } | undefined {
  if (typeof v !== 'string') return undefined;
  const [os, architecture, variant, extra] = v.split('/');
  if (!os || !architecture || extra !== undefined) throw new UsageError('--platform is os/arch[/variant], e.g. linux/arm64/v8');
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** ovl image ls: the store's images (docker images), or with SOURCE the images of a layout or archive. */
export async function ls(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) return (await storeCommand(listStore)(values, positionals)) ?? EXIT_OK;
  if (positionals.length !== 1) throw new UsageError('expected at most one SOURCE (an OCI layout, an oci-archive or a docker save archive)');
  for (const o of ['root', 'quiet', 'no-trunc']) {
    if (values[o] !== undefined) throw new UsageError(`--${o} is for the store's images: give no SOURCE with it`);
  }
  const source = await openImageSource(positionals[0]!);
  try {
    const images = await source.images();
    if (values.json) {
      json({ kind: source.kind, images });
      return EXIT_OK;
    }
    const rows = [['REF', 'PLATFORM', 'MANIFEST']];
    for (const i of images) {
      const p = i.platform ? [i.platform.os, i.platform.architecture, i.platform.variant].filter(Boolean).join('/') : '';
      rows.push([i.ref ?? '<none>', p, i.manifestDigest]);
    }
    out(table(rows).join('\n'));
    return EXIT_OK;
  } finally {
    await source.close();
  }
}

export async function unpack(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 2) throw new UsageError('expected SOURCE[:REF] and DIR');
  const split = splitSourceRef(positionals[0]!);
  const ref = (values.ref as string | undefined) ?? split.ref;
  const platform = platformOf(values.platform);
  const namespace = values.namespace === undefined ? undefined : xattrNamespace(values.namespace);
  const progress = new Progress('unpacking', { json: values.json === true });
  const ac = interruptible();
  try {
    const r = await unpackImage(split.source, positionals[1]!, {
      ...(ref !== undefined ? { ref } : {}),
      ...(platform ? { platform } : {}),
      ...(values.flatten ? { flatten: true } : {}),
      ...(values['xattr-whiteouts'] ? { whiteouts: 'xattr' as const } : {}),
      ...(namespace ? { namespace } : {}),
      signal: ac.signal,
      onProgress: (p) => progress.update({ bytes: p.compressedBytes, entries: p.entries, total: p.size }),
    });
    progress.done();
    if (values.json) {
      json({ ...r, layers: r.layers.map(({ applied, ...l }) => ({ ...l, entries: applied.entries, bytes: applied.bytes })) });
      return EXIT_OK;
    }
    out(`${r.ref ?? r.manifestDigest}: ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}`);
    out(
      table(
        r.layers.map((l, i) => [`  ${i}`, l.dir, l.diffId.slice(0, 19), `${l.applied.entries} entries`, humanBytes(l.applied.bytes), l.createdBy ? l.createdBy.slice(0, 60) : '']),
      ).join('\n'),
    );
    if (r.lower.length > 0) out(`lowerdir=${r.lower.join(':')}`);
    return EXIT_OK;
  } finally {
    ac.release();
    progress.done();
  }
}

/** ovl image import: docker load (a layout or an archive into the store), with docker load's words. */
export async function importCommand(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('expected one SOURCE[:REF] (an OCI layout, an oci-archive or a docker save archive)');
  const split = splitSourceRef(positionals[0]!);
  if (values.all && split.ref !== undefined) throw new UsageError('--all imports every image of SOURCE: give no :REF with it');
  if (values.all && values.tag !== undefined) throw new UsageError('--tag names one image: give no --all with it');
  const platform = platformOf(values.platform);
  const store = await storeOf(values);
  const board = new LayerBoard({ json: values.json === true, plain: out });
  const ac = interruptible();
  try {
    const imported = await store.importImage(split.source, {
      ...(split.ref !== undefined ? { ref: split.ref } : {}),
      ...(values.all ? { all: true } : {}),
      ...(typeof values.tag === 'string' ? { tag: values.tag } : {}),
      ...(platform ? { platform } : {}),
      signal: ac.signal,
      onProgress: (p) => {
        const id = shortId(p.digest);
        if (p.status === 'exists') board.set(id, 'Already exists', { settled: true });
        else if (p.status === 'waiting') board.set(id, 'Waiting');
        else if (p.status === 'applying') board.set(id, 'Loading layer', { bytes: p.bytes, total: p.total });
        else board.set(id, 'Load complete', { settled: true });
      },
    });
    board.done();
    if (values.json) {
      json(imported);
      return EXIT_OK;
    }
    for (const image of imported) {
      if (image.refs.length === 0) out(`Loaded image ID: ${image.id}`);
      for (const ref of image.refs) out(`Loaded image: ${ref}`);
    }
    return EXIT_OK;
  } finally {
    ac.release();
    board.done();
  }
}

/** docker images: one row per tag (`<none>` for a dangling image), newest first. */
async function listStore(values: Values): Promise<number> {
  const store = await storeOf(values);
  const images = await store.images();
  if (values.json) {
    json(images);
    return EXIT_OK;
  }
  const id = (i: { id: string }) => (values['no-trunc'] ? i.id : shortId(i.id));
  if (values.quiet) {
    for (const i of new Set(images.map(id))) out(i);
    return EXIT_OK;
  }
  const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const image of images) {
    const refs = image.refs.length > 0 ? image.refs.map(splitRef) : [{ repository: '<none>', tag: '<none>' }];
    for (const r of refs) rows.push([r.repository, r.tag, id(image), since(image.created), dockerSize(image.size)]);
  }
  out(dockerTable(rows).join('\n'));
  return EXIT_OK;
}

/** docker history: newest first, `<missing>` below the top, CREATED BY cut at 45 unless --no-trunc. */
export async function history(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('expected one IMAGE');
  const store = await storeOf(values);
  const entries = await store.history(positionals[0]!);
  if (values.json) {
    json(entries);
    return EXIT_OK;
  }
  const full = values['no-trunc'] === true;
  const rows = [['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
  for (const h of entries) {
    const createdBy = h.createdBy.replaceAll('\t', ' ');
    rows.push([h.id === '<missing>' || full ? h.id : shortId(h.id), since(h.created), full ? createdBy : ellipsis(createdBy, 45), dockerSize(h.size), h.comment]);
  }
  out(dockerTable(rows).join('\n'));
  return EXIT_OK;
}

/** docker tag: SOURCE (a name or an id) gets the name TARGET too; silent, as docker. */
export async function tag(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 2) throw new UsageError('expected SOURCE and TARGET');
  const store = await storeOf(values);
  const refs = await store.tag(positionals[0]!, positionals[1]!);
  if (values.json) json({ refs });
  return EXIT_OK;
}

/** docker image inspect: one JSON array of every IMAGE found (each one not found: its error, exit 1). */
export async function inspect(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one IMAGE');
  const store = await storeOf(values);
  const found: unknown[] = [];
  const code = await eachName(positionals, async (name) => {
    found.push(await store.inspectImage(name));
  });
  json(found);
  return code;
}

/** docker save, as an OCI layout: each IMAGE written into DIR; its id and manifest digest with --json. */
export async function save(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one IMAGE');
  if (typeof values.output !== 'string' || values.output === '') throw new UsageError('-o DIR is needed: the OCI layout to write');
  const store = await storeOf(values);
  const saved: SavedImage[] = [];
  const code = await eachName(positionals, async (name) => {
    saved.push(await store.saveImage(name, values.output as string, values.gzip ? { compression: 'gzip' } : {}));
  });
  if (values.json) json(saved);
  return code;
}

/** docker rmi: `Untagged: x` and `Deleted: sha256:…` lines; each IMAGE in turn, exit 1 if one failed. */
export async function rm(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one IMAGE');
  const store = await storeOf(values);
  const removed: RemovedImage[] = [];
  const code = await eachName(positionals, async (name) => {
    const r = await store.removeImage(name, { force: values.force === true });
    removed.push(r);
    if (values.json) return;
    for (const t of r.untagged) out(`Untagged: ${t}`);
    for (const d of r.deleted) out(`Deleted: ${d}`);
  });
  if (values.json) json(removed);
  return code;
}
