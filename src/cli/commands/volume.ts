/** ovl volume: the store's named volumes, in docker volume's words. */
import { createInterface } from 'node:readline/promises';
import type { VolumeInfo } from '../../store/volumes.js';
import { EXIT_OK, UsageError, type Values } from '../command.js';
import { dockerSize, dockerTable } from '../docker-format.js';
import { json, out, stdio } from '../output.js';
import { eachName, storeOf } from '../store.js';

/** `--label k=v` values as docker volume create takes them (a label without `=` has an empty value). */
function labels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of Array.isArray(v) ? (v as string[]) : []) {
    const eq = l.indexOf('=');
    if (eq === 0) throw new UsageError(`--label '${l}' has no key`);
    if (eq < 0) out[l] = '';
    else out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

/** docker volume create: prints its name (a random one when NAME is not given). */
export async function create(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 1) throw new UsageError('expected at most one NAME');
  const store = await storeOf(values);
  const v = await store.createVolume(positionals[0], { labels: labels(values.label) });
  if (values.json) json(v);
  else out(v.Name);
  return EXIT_OK;
}

/** docker volume ls: DRIVER and VOLUME NAME. */
export async function ls(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('expected no arguments');
  const store = await storeOf(values);
  const all = await store.volumes();
  if (values.json) json(all);
  else if (values.quiet) for (const v of all) out(v.Name);
  else out(dockerTable([['DRIVER', 'VOLUME NAME'], ...all.map((v) => [v.Driver, v.Name])]).join('\n'));
  return EXIT_OK;
}

/** docker volume rm: prints each name removed; one in use by a container is refused unless -f. */
export async function rm(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one volume NAME');
  const store = await storeOf(values);
  const removed: string[] = [];
  const code = await eachName(positionals, async (name) => {
    await store.removeVolume(name, { force: values.force === true });
    removed.push(name);
    if (!values.json) out(name);
  });
  if (values.json) json(removed);
  return code;
}

/** docker volume inspect: a JSON array of the volumes found; a missing one fails (exit 1). */
export async function inspect(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('expected at least one volume NAME');
  const store = await storeOf(values);
  const found: VolumeInfo[] = [];
  const code = await eachName(positionals, async (name) => {
    found.push(await store.inspectVolume(name));
  });
  json(found);
  return code;
}

/** docker volume prune: "Deleted Volumes:", then "Total reclaimed space: …"; asks only on a terminal. */
export async function prune(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('expected no arguments');
  if (!values.force && process.stdin.isTTY) {
    const what = values.all ? 'all local volumes not used by at least one container' : 'anonymous local volumes not used by at least one container';
    const rl = createInterface({ input: process.stdin, output: stdio('stdout') });
    try {
      const answer = await rl.question(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) return EXIT_OK;
    } finally {
      rl.close();
    }
  }
  const store = await storeOf(values);
  const r = await store.pruneVolumes({ all: values.all === true });
  if (values.json) {
    json(r);
    return EXIT_OK;
  }
  if (r.volumes.length > 0) out(['Deleted Volumes:', ...r.volumes, ''].join('\n'));
  out(`Total reclaimed space: ${dockerSize(r.reclaimed, 4)}`);
  return EXIT_OK;
}
