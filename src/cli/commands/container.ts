/**
 * ovl container: the store's containers, in docker's words (create, ls, diff, commit, rm,
 * inspect) and podman's where docker has none (mount prints the merged dir, umount).
 */
import type { ContainerSummary } from '../../store/containers.js';
import { EXIT_OK, UsageError, type Values } from '../command.js';
import { dockerTable, shortId, since } from '../docker-format.js';
import { json, out } from '../output.js';
import { eachName, storeOf } from '../store.js';
import { idMapFlags } from '../idmap.js';

const strings = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : []);

/** docker create: a container (a writable layer over IMAGE) with its volumes and tmpfs; its full id. */
export async function create(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('expected one IMAGE');
  const store = await storeOf(values);
  const map = idMapFlags(values, 'userns-map');
  if (values.userns !== undefined && values.userns !== 'auto') throw new UsageError(`--userns takes 'auto' (a range from /etc/subuid and /etc/subgid), not '${String(values.userns)}'; give a map with --userns-map`);
  if (values.userns !== undefined && map) throw new UsageError('--userns auto picks the map: give it or --userns-map/--uidmap/--gidmap, not both');
  const c = await store.createContainer(positionals[0]!, {
    ...(typeof values.name === 'string' ? { name: values.name } : {}),
    volumes: strings(values.volume),
    tmpfs: strings(values.tmpfs),
    ...(map ? { userns: map } : values.userns === 'auto' ? { userns: 'auto' as const } : {}),
  });
  if (values.json) json(c);
  else out(c.id);
  return EXIT_OK;
}

/** docker ps -a: every container (-a is accepted: a container here is mounted or not, never running). */
export async function ls(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('expected no arguments');
  const store = await storeOf(values);
  const all = await store.containers();
  if (values.json) {
    json(all);
    return EXIT_OK;
  }
  const id = (c: ContainerSummary) => (values['no-trunc'] ? c.id : shortId(c.id));
  if (values.quiet) {
    for (const c of all) out(id(c));
    return EXIT_OK;
  }
  const rows = [['CONTAINER ID', 'IMAGE', 'CREATED', 'STATUS', 'NAMES']];
  for (const c of all) rows.push([id(c), c.imageName, since(c.created), c.mounted ? 'Mounted' : 'Created', c.name]);
  out(dockerTable(rows).join('\n'));
  return EXIT_OK;
}

/**
 * podman mount: mounts each container (its volumes and tmpfs with it) and prints its merged dir;
 * without a name, the mounted containers and their dirs.
 */
export async function mount(values: Values, positionals: string[]): Promise<number> {
  const store = await storeOf(values);
  if (positionals.length === 0) {
    const mounted = (await store.containers()).filter((c) => c.mounted);
    if (values.json) json(mounted.map((c) => ({ id: c.id, name: c.name, merged: c.merged })));
    else for (const c of mounted) out(`${shortId(c.id)}  ${c.merged}`);
    return EXIT_OK;
  }
  const done: unknown[] = [];
  const code = await eachName(positionals, async (name) => {
    const m = await store.mountContainer(name);
    if (values.json) done.push({ name, ...m });
    else out(m.merged);
  });
  if (values.json) json(done);
  return code;
}

/** podman umount: its volumes and tmpfs, then the overlay; prints each name (one not mounted too). */
export async function umount(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one container NAME');
  const store = await storeOf(values);
  const done: unknown[] = [];
  const code = await eachName(positionals, async (name) => {
    const unmounted = await store.unmountContainer(name, { lazy: values.lazy === true });
    if (values.json) done.push({ name, unmounted });
    else out(name);
  });
  if (values.json) json(done);
  return code;
}

/** docker diff: `A /path`, `C /path`, `D /path`. */
export async function diff(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('expected one container NAME');
  const store = await storeOf(values);
  const changes = await store.diff(positionals[0]!);
  if (values.json) json(changes);
  else for (const c of changes) out(`${c.kind} ${c.path}`);
  return EXIT_OK;
}

/** docker commit: the container's changes as a new image (tagged REF when given); prints its id. */
export async function commit(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('expected a container NAME and an optional REF (name[:tag])');
  const store = await storeOf(values);
  const image = await store.commit(positionals[0]!, {
    ...(positionals[1] !== undefined ? { ref: positionals[1] } : {}),
    ...(typeof values.message === 'string' ? { message: values.message } : {}),
    ...(typeof values.author === 'string' ? { author: values.author } : {}),
  });
  if (values.json) json(image);
  else out(image.id);
  return EXIT_OK;
}

/** docker rm: each container (-f: unmounted first); prints each name as given. */
export async function rm(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one container NAME');
  const store = await storeOf(values);
  const removed: unknown[] = [];
  const code = await eachName(positionals, async (name) => {
    removed.push(await store.removeContainer(name, { force: values.force === true }));
    if (!values.json) out(name);
  });
  if (values.json) json(removed);
  return code;
}

/** docker inspect: a JSON array, one object per container found; a missing one fails (exit 1) after it. */
export async function inspect(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one container NAME');
  const store = await storeOf(values);
  const found: unknown[] = [];
  const code = await eachName(positionals, async (name) => {
    found.push(await store.inspectContainer(name));
  });
  json(found);
  return code;
}
