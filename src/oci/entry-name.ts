/**
 * What a layer entry's name means on disk: its path beneath the layer directory, and whether it
 * is one of OCI's whiteout markers. Pure: names are bytes (a tar name need not be UTF-8), so
 * everything here works on Buffers and never decodes them.
 *
 * The rules, as GNU tar and Docker apply them: a leading '/' is dropped (an absolute name means
 * the same path in the layer), '.' and empty components are dropped, and a '..' component is
 * refused: no entry may name a place outside the directory. The native writer checks the same
 * again and resolves every path beneath the directory's fd, so these checks are the first line,
 * not the only one.
 */
import { OverlayError } from '../spec/errors.js';

const SLASH = 0x2f;
const DOT = 0x2e;

/** The prefix OCI's whiteout files carry. */
export const WHITEOUT_PREFIX = Buffer.from('.wh.');
/** The opaque marker's name: its directory hides everything below it. */
export const OPAQUE_MARKER = Buffer.from('.wh..wh..opq');
/** AUFS's own metadata (`.wh..wh.plnk`, `.wh..wh.aufs`): never content, skipped as Docker does. */
const AUFS_META_PREFIX = Buffer.from('.wh..wh.');

/** A name for messages: UTF-8 where it is, with the bytes that are not shown escaped. */
export function displayName(name: Buffer): string {
  const text = name.toString('utf8');
  return Buffer.from(text, 'utf8').equals(name) ? text : JSON.stringify(name.toString('latin1')).slice(1, -1);
}

/**
 * The entry's path beneath the layer dir: no leading '/', no '.', '..' or empty components.
 * `undefined` for the layer's root itself ('./', '/'). A '..' component is refused.
 */
export function entryPath(name: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i < name.length && name[i] !== SLASH) continue;
    const len = i - start;
    if (len === 0 || (len === 1 && name[start] === DOT)) {
      // empty or '.': nothing
    } else if (len === 2 && name[start] === DOT && name[start + 1] === DOT) {
      throw new OverlayError('ERR_LAYER_UNSAFE', `layer entry '${displayName(name)}' has a '..' component: it would reach outside the layer directory`, {
        path: displayName(name),
      });
    } else {
      parts.push(name.subarray(start, i));
    }
    start = i + 1;
  }
  if (parts.length === 0) return undefined;
  // The common case, a name that is already clean, costs no copy.
  const clean = parts.length === 1 ? parts[0]! : Buffer.concat(joinParts(parts));
  return clean.length === name.length ? name : clean;
}

function joinParts(parts: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  const slash = Buffer.from('/');
  parts.forEach((p, i) => {
    if (i > 0) out.push(slash);
    out.push(p);
  });
  return out;
}

export type EntryMarker =
  | { kind: 'whiteout'; target: Buffer } // `dir/.wh.NAME`: NAME in dir is deleted
  | { kind: 'opaque'; dir: Buffer | undefined } // `dir/.wh..wh..opq`: dir is opaque (undefined: the root)
  | { kind: 'aufs-meta' }; // AUFS bookkeeping: skipped

/** Whether a clean entry path (from entryPath) is an OCI whiteout marker, and what it marks. */
export function markerOf(path: Buffer): EntryMarker | undefined {
  const slash = path.lastIndexOf(SLASH);
  const base = path.subarray(slash + 1);
  if (base.length < WHITEOUT_PREFIX.length || base.compare(WHITEOUT_PREFIX, 0, WHITEOUT_PREFIX.length, 0, WHITEOUT_PREFIX.length) !== 0) return undefined;
  const dir = slash < 0 ? undefined : path.subarray(0, slash);
  if (base.equals(OPAQUE_MARKER)) return { kind: 'opaque', dir };
  if (base.length >= AUFS_META_PREFIX.length && base.compare(AUFS_META_PREFIX, 0, AUFS_META_PREFIX.length, 0, AUFS_META_PREFIX.length) === 0) {
    return { kind: 'aufs-meta' };
  }
  const name = base.subarray(WHITEOUT_PREFIX.length);
  if (name.length === 0) return { kind: 'aufs-meta' }; // a bare `.wh.`: names nothing
  if ((name.length === 1 && name[0] === DOT) || (name.length === 2 && name[0] === DOT && name[1] === DOT)) {
    throw new OverlayError('ERR_LAYER_UNSAFE', `layer entry '${displayName(path)}' whites out '${name.toString('latin1')}': a whiteout names an entry of its directory`, {
      path: displayName(path),
    });
  }
  return { kind: 'whiteout', target: dir === undefined ? Buffer.from(name) : Buffer.concat([dir, Buffer.from('/'), name]) };
}
