/**
 * Id maps for layers applied for a user namespace: a layer's uid/gid (as the container sees
 * them) to the host's, as /proc/PID/uid_map writes them (`inside outside count`).
 */
import { readFileSync } from 'node:fs';
import { OverlayError } from '../spec/errors.js';
import { isInitialUidMap } from '../spec/shape.js';
import { displayName } from './entry-name.js';

import type { IdMap, IdRange } from '../spec/types.js';

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

/**
 * Whether this process is in the initial user namespace (its uid_map maps every uid to itself);
 * true where /proc cannot say otherwise. (probe() asks the same in its batch.)
 */
export function inInitialUserNamespace(): boolean {
  try {
    return isInitialUidMap(readFileSync('/proc/self/uid_map', 'utf8'));
  } catch {
    return true;
  }
}

/** What the kernel shows for an id its map does not cover (/proc/sys/kernel/overflowuid). */
export const OVERFLOW_ID = 65534;

/**
 * An xattr value whose ids are the host's, given the container's back (outside → inside): the
 * user and group entries of a POSIX ACL (system.posix_acl_access/default: a 4-byte version, then
 * 8-byte entries of tag, perm, id), and the root id of a v3 file capability
 * (security.capability), which becomes a v2 one when it is the container's root, as the kernel
 * shows it inside. Any other value, or one of another shape, is returned as it is.
 */
export function unmapXattr(name: string, value: Buffer, map: IdMap): Buffer {
  if ((name === 'system.posix_acl_access' || name === 'system.posix_acl_default') && value.length >= 4 && (value.length - 4) % 8 === 0 && value.readUInt32LE(0) === 2) {
    const out = Buffer.from(value);
    for (let at = 4; at < out.length; at += 8) {
      const tag = out.readUInt16LE(at);
      // ACL_USER 0x02, ACL_GROUP 0x08: the entries that name an id.
      if (tag === 0x02) out.writeUInt32LE(unmapId(map.uid, out.readUInt32LE(at + 4)), at + 4);
      else if (tag === 0x08) out.writeUInt32LE(unmapId(map.gid, out.readUInt32LE(at + 4)), at + 4);
    }
    return out;
  }
  if (name === 'security.capability' && value.length === 24 && value.readUInt32LE(0) >>> 24 === 3) {
    const root = unmapId(map.uid, value.readUInt32LE(20));
    if (root !== 0) {
      const out = Buffer.from(value);
      out.writeUInt32LE(root, 20);
      return out;
    }
    // VFS_CAP_REVISION_2 (0x02000000) with the same flags and sets, without the root id.
    const out = Buffer.from(value.subarray(0, 20));
    out.writeUInt32LE(0x02000000 | (value.readUInt32LE(0) & 0xffffff), 0);
    return out;
  }
  return value;
}
