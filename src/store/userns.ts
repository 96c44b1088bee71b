/**
 * Containers in user namespaces: their id maps, given (`--userns-map 0:100000:65536`) or picked
 * as podman's `--userns=auto` picks them, from the subordinate ids /etc/subuid and /etc/subgid
 * grant the user `containers`, a range no other container of the store has.
 */
import { readFile } from 'node:fs/promises';
import { OverlaySpecError, type SpecProblem } from '../spec/errors.js';
import { checkIdMap } from '../spec/shape.js';
import type { IdMap, IdRange } from '../spec/types.js';
import type { ContainerRecord } from './records.js';

/** The ids a container gets with 'auto': a whole 16-bit id space, as Kubernetes gives a pod. */
export const AUTO_SIZE = 65536;
/** The user whose subordinate ids 'auto' takes (podman's). */
export const AUTO_USER = 'containers';

/** Where the subordinate ids come from (tests give files of their own). */
export interface SubordinateIdFiles {
  uid: string;
  gid: string;
}

export const SUBORDINATE_ID_FILES: SubordinateIdFiles = { uid: '/etc/subuid', gid: '/etc/subgid' };

/** The ranges `user` has in a subuid/subgid file ("name:start:count" lines). */
export function subordinateRanges(text: string, user: string): Array<{ start: number; count: number }> {
  const out: Array<{ start: number; count: number }> = [];
  for (const line of text.split('\n')) {
    const [name, start, count] = line.trim().split(':');
    if (name !== user || start === undefined || count === undefined) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s >= 0 && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

/**
 * The first `size` ids of `granted` that overlap none of `used` (outside ids of other
 * containers), at a multiple of `size` from the start of a grant; undefined when none is left.
 */
export function freeRange(granted: ReadonlyArray<{ start: number; count: number }>, used: readonly IdRange[], size: number): number | undefined {
  for (const g of granted) {
    for (let s = g.start; s + size <= g.start + g.count; s += size) {
      if (!used.some((u) => s < u.outside + u.count && u.outside < s + size)) return s;
    }
  }
  return undefined;
}

/** The map of a new container: `given` checked, or for 'auto' a free range of the grants. */
export async function containerIdMap(given: IdMap | 'auto', others: readonly ContainerRecord[], files: SubordinateIdFiles = SUBORDINATE_ID_FILES): Promise<IdMap> {
  if (given !== 'auto') {
    const problems = checkIdMap(given);
    if (problems.length === 0 && !Array.isArray((given as { gid?: unknown }).gid)) problems.push({ field: 'idmap.gid', problem: 'must be given with uid' });
    if (problems.length > 0) throw new OverlaySpecError(problems.map((p) => ({ field: p.field.replace(/^idmap/, 'userns'), problem: p.problem })));
    const map = { uid: [...given.uid], gid: [...given.gid] };
    const foreign = await idsNotOurs(map);
    if (foreign.length > 0) throw new OverlaySpecError(foreign);
    return map;
  }
  const pick = async (kind: 'uid' | 'gid'): Promise<number> => {
    let text: string;
    try {
      text = await readFile(files[kind], 'utf8');
    } catch (e) {
      throw new OverlaySpecError([{ field: 'userns', problem: `'auto' takes ${kind}s from ${files[kind]}, which cannot be read (${(e as NodeJS.ErrnoException).code})` }]);
    }
    const granted = subordinateRanges(text, AUTO_USER);
    if (granted.length === 0) {
      throw new OverlaySpecError([
        { field: 'userns', problem: `'auto' takes ${kind}s from the ranges ${files[kind]} grants the user '${AUTO_USER}' (as podman does), and it grants none: add a line such as '${AUTO_USER}:2147483647:2147483648'` },
      ]);
    }
    const used = others.flatMap((c) => c.idmap?.[kind] ?? []);
    const start = freeRange(granted, used, AUTO_SIZE);
    if (start === undefined) {
      throw new OverlaySpecError([{ field: 'userns', problem: `no ${AUTO_SIZE} ${kind}s are left in what ${files[kind]} grants '${AUTO_USER}': every range is another container's` }]);
    }
    return start;
  };
  const [uid, gid] = [await pick('uid'), await pick('gid')];
  return { uid: [{ inside: 0, outside: uid, count: AUTO_SIZE }], gid: [{ inside: 0, outside: gid, count: AUTO_SIZE }] };
}

/**
 * Problems of a map whose outside ids this process's user namespace does not have (a rootless
 * store in `unshare -Ur` has one uid): the kernel would refuse the chown and the idmap (EINVAL,
 * EPERM) without saying why.
 */
export async function idsNotOurs(map: IdMap): Promise<SpecProblem[]> {
  const problems: SpecProblem[] = [];
  for (const kind of ['uid', 'gid'] as const) {
    let own: Array<{ start: number; count: number }>;
    try {
      own = (await readFile(`/proc/self/${kind}_map`, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/).map(Number))
        .map(([inside, , count]) => ({ start: inside!, count: count! }));
    } catch {
      continue; // no /proc: the kernel will say
    }
    const covered = (a: number, n: number) => own.some((o) => a >= o.start && a + n <= o.start + o.count);
    for (const [i, r] of map[kind].entries()) {
      if (covered(r.outside, r.count)) continue;
      const mine = own.map((o) => (o.count === 1 ? `${o.start}` : `${o.start}…${o.start + o.count - 1}`)).join(', ');
      problems.push({
        field: `userns.${kind}[${i}]`,
        problem: `maps to ${kind}s ${r.outside}…${r.outside + r.count - 1}, which this user namespace does not have (it has ${mine}): a rootless store maps only ids it was given (start it with subordinate ids, e.g. podman unshare or unshare --map-auto)`,
      });
    }
  }
  return problems;
}

/** The host id of the container's root (inside 0), if its map covers it. */
export function outsideRoot(ranges: readonly IdRange[]): number | undefined {
  const r = ranges.find((x) => x.inside === 0);
  return r?.outside;
}
