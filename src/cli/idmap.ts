/** Id map flags, as podman spells them (`IN:OUT:COUNT`), for `ovl mount` and `ovl container create`. */
import type { IdRange } from '../spec/types.js';
import { UsageError, type Values } from './command.js';

/** `IN:OUT:COUNT` as a range; the spec's checks judge the numbers. */
export function idRange(flag: string, text: string): IdRange {
  const m = /^(\d+):(\d+):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--${flag} takes INSIDE:OUTSIDE:COUNT (e.g. 0:100000:65536), not '${text}'`);
  return { inside: Number(m[1]), outside: Number(m[2]), count: Number(m[3]) };
}

/**
 * The map of `--BOTH` (uids and gids), `--uidmap` and `--gidmap` (repeatable); undefined when
 * none is given. One of uidmap/gidmap alone is a usage error: the other would be a guess.
 */
export function idMapFlags(v: Values, both: string): { uid: IdRange[]; gid: IdRange[] } | undefined {
  const list = (flag: string) => ((v[flag] as string[] | undefined) ?? []).map((t) => idRange(flag, t));
  const all = list(both);
  const uid = [...all, ...list('uidmap')];
  const gid = [...all, ...list('gidmap')];
  if (uid.length === 0 && gid.length === 0) return undefined;
  if (uid.length === 0 || gid.length === 0) {
    const [given, missing] = uid.length === 0 ? ['gidmap', 'uidmap'] : ['uidmap', 'gidmap'];
    throw new UsageError(`--${given} needs its pair (--${missing}), or give both with --${both}`);
  }
  return { uid, gid };
}
