/** ovl system df / ovl system prune: the store's disk, as docker system df and prune print it. */
import { createInterface } from 'node:readline/promises';
import { EXIT_OK, UsageError, type Values } from '../command.js';
import { dockerSize, dockerTable, reclaimable, shortId, since } from '../docker-format.js';
import { err, json, out, stdio } from '../output.js';
import { splitRef } from '../../store/records.js';
import type { UsageRow } from '../../store/usage.js';
import { storeOf } from '../store.js';

/** docker system df: TYPE TOTAL ACTIVE SIZE RECLAIMABLE; -v: the images, containers and volumes. */
export async function df(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('expected no arguments');
  const store = await storeOf(values);
  const usage = await store.df({ verify: values.verify === true });
  if (values.json) {
    json(usage);
    return EXIT_OK;
  }
  const { images, containers, volumes } = usage;
  if (!values.verbose) {
    const row = (type: string, r: UsageRow) => [type, String(r.total), String(r.active), dockerSize(r.size, 4), reclaimable(r.reclaimable, r.size)];
    out(dockerTable([['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], row('Images', images), row('Containers', containers), row('Local Volumes', volumes)]).join('\n'));
  } else {
    // docker's verbose sections; each image once (its first tag, as docker system df -v shows it).
    const imageRows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS']];
    for (const i of images.items) {
      const { repository, tag } = i.refs[0] !== undefined ? splitRef(i.refs[0]) : { repository: '<none>', tag: '<none>' };
      imageRows.push([repository, tag, shortId(i.id), since(i.created), dockerSize(i.size), dockerSize(i.sharedSize, 4), dockerSize(i.uniqueSize, 4), String(i.containers)]);
    }
    const volumeCount = new Map((await store.containers()).map((c) => [c.id, c.mounts.filter((m) => m.type === 'volume').length]));
    const containerRows = [['CONTAINER ID', 'IMAGE', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES']];
    for (const c of containers.items) {
      containerRows.push([shortId(c.id), c.image, String(volumeCount.get(c.id) ?? 0), dockerSize(c.size), since(c.created), c.mounted ? 'Mounted' : 'Created', c.name]);
    }
    const volumeRows = [['VOLUME NAME', 'LINKS', 'SIZE'], ...volumes.items.map((v) => [v.name, String(v.links), dockerSize(v.size, 4)])];
    out('Images space usage:\n');
    out(dockerTable(imageRows).join('\n'));
    out('\nContainers space usage:\n');
    out(dockerTable(containerRows).join('\n'));
    out('\nLocal Volumes space usage:\n');
    out(dockerTable(volumeRows).join('\n'));
  }
  for (const m of usage.mismatches ?? []) {
    err(`WARNING: layer ${m.layer}: its files take ${m.actual} bytes, its record says ${m.recorded}`);
  }
  return EXIT_OK;
}

const WARNING = [
  'WARNING! This will remove:',
  '  - all unmounted containers',
  '  - all dangling images',
  '  - all layers that no image or container uses',
  '',
  'Are you sure you want to continue? [y/N] ',
].join('\n');

/** docker's prompt; only on a terminal (a script's stdin is not asked). */
async function confirmed(): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: stdio('stdout') });
  try {
    const answer = await rl.question(WARNING);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** docker system prune: "Deleted Containers:", "Deleted Images:", "Total reclaimed space: …". */
export async function prune(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('expected no arguments');
  if (!values.force && process.stdin.isTTY && !(await confirmed())) return EXIT_OK;
  const store = await storeOf(values);
  const r = await store.prune();
  if (values.json) {
    json(r);
    return EXIT_OK;
  }
  if (r.containers.length > 0) out(['Deleted Containers:', ...r.containers, ''].join('\n'));
  if (r.images.length + r.layers.length > 0) out(['Deleted Images:', ...[...r.images, ...r.layers].map((d) => `deleted: ${d}`), ''].join('\n'));
  out(`Total reclaimed space: ${dockerSize(r.reclaimed, 4)}`);
  return EXIT_OK;
}
