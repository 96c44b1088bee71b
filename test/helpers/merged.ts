/**
 * For the marker, lookup and changes tests: mount-and-always-unmount, and a brute-force model of
 * a merged view (every path with its type, mode, size, owner, mtime and content) to compare
 * what the library reads from the layers with what the kernel showed through the mount.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { mountOverlaySync, type OverlayMount, type OverlaySpec } from '../../src/index.js';

/** Mounts `spec`, runs `fn` on the mount and always unmounts (also when `fn` throws). */
export function withMount<T>(spec: OverlaySpec, fn: (m: OverlayMount) => T): T {
  const m = mountOverlaySync(spec);
  try {
    return fn(m);
  } finally {
    m.unmountSync();
  }
}

export async function withMountAsync<T>(spec: OverlaySpec, fn: (m: OverlayMount) => Promise<T>): Promise<T> {
  const m = mountOverlaySync(spec);
  try {
    return await fn(m);
  } finally {
    m.unmountSync();
  }
}

/** What the brute-force comparison looks at for one path. */
export interface Seen {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: bigint;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  /** sha256 of a file's content, a symlink's target. */
  content?: string;
}

/** Every path below `root` ('/a/b', root itself excluded), as lstat and read show it. */
export function walkView(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = `${rel}/${name}`;
      const real = join(root, path);
      const st = lstatSync(real, { bigint: true });
      const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
      const seen: Seen = { type, mode: Number(st.mode), size: st.size, uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs };
      if (type === 'file') seen.content = createHash('sha256').update(readFileSync(real)).digest('hex');
      if (type === 'symlink') seen.content = readlinkSync(real);
      out.set(path, seen);
      if (type === 'dir') walk(path);
    }
  };
  walk('');
  return out;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function sameSeen(a: Seen, b: Seen): boolean {
  return a.type === b.type && a.mode === b.mode && a.size === b.size && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs && a.content === b.content;
}

/**
 * The changes between two walks of a merged view: D for each removed path whose parent is still
 * a directory (the top-most one), A for every added path, C for paths whose type, mode, size, owner,
 * mtime or content changed. Sorted by path, as `A /x` lines.
 */
export function bruteForceChanges(before: Map<string, Seen>, after: Map<string, Seen>): string[] {
  const out: string[] = [];
  for (const [path, b] of before) {
    const a = after.get(path);
    if (!a) {
      // The top-most one: its parent is still a directory (a dir replaced by a file is one C).
      const parent = parentOf(path);
      if (parent === '/' || after.get(parent)?.type === 'dir') out.push(`D ${path}`);
    } else if (!sameSeen(a, b)) out.push(`C ${path}`);
  }
  for (const path of after.keys()) if (!before.has(path)) out.push(`A ${path}`);
  return out.sort((x, y) => (x.slice(2) < y.slice(2) ? -1 : x.slice(2) > y.slice(2) ? 1 : 0));
}
