/**
 * Id maps for layers applied for a user namespace: a layer's uid/gid (as the container sees
 * them) to the host's, as /proc/PID/uid_map writes them (`inside outside count`).
 */
import { OverlayError } from '../spec/errors.js';
import { displayName } from './entry-name.js';

import type { IdRange } from '../spec/types.js';

export type { IdMap, IdRange } from '../spec/types.js';

/** The host id of a layer's id; an id that no range covers is refused (it has no owner on the host). */
export function mapId(ranges: readonly IdRange[], id: number, kind: 'uid' | 'gid', path: Buffer): number {
  for (const r of ranges) {
    if (id >= r.inside && id - r.inside < r.count) return r.outside + (id - r.inside);
  }
  throw new OverlayError('ERR_LAYER_FORMAT', `layer entry '${displayName(path)}' has ${kind} ${id}, which the id map does not cover`, {
    path: displayName(path),
  });
}

/** The id inside that host id `id` is (the inverse of mapId); 65534 (overflowuid) where no range covers it. */
export function unmapId(ranges: readonly IdRange[], id: number): number {
  for (const r of ranges) {
    if (id >= r.outside && id - r.outside < r.count) return r.inside + (id - r.outside);
  }
  return OVERFLOW_ID;
}

/** What the kernel shows for an id its map does not cover (/proc/sys/kernel/overflowuid). */
export const OVERFLOW_ID = 65534;
