/** Temp directories and mount cleanup for tests. */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach } from 'vitest';
import { sys, MNT } from '../../src/index.js';

const created: string[] = [];

/**
 * A fresh temp dir, removed after the test. Anything still mounted below it is detached first,
 * so a test that failed half-way can never make the removal reach into a layer through a mount.
 */
export function tempDir(prefix = 'ovl-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Writes a tree of files: { 'etc/os-release': 'text', 'dir/': null (a directory) }. */
export function writeTree(root: string, tree: Record<string, string | null>): string {
  mkdirSync(root, { recursive: true });
  for (const [rel, content] of Object.entries(tree)) {
    const path = join(root, rel);
    if (content === null) mkdirSync(path, { recursive: true });
    else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  }
  return root;
}

/** Mount points under `prefix` in this process's mount namespace. */
export function mountsUnder(prefix: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === prefix || p.startsWith(prefix + '/'));
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Detaches every mount below `dir`, newest (innermost) first. */
export function detachAllUnder(dir: string): void {
  for (const m of mountsUnder(dir).reverse()) {
    try {
      sys.umount2Sync(m, { flags: MNT.DETACH });
    } catch {
      /* already gone */
    }
  }
}

afterEach(() => {
  for (const dir of created.splice(0)) {
    detachAllUnder(dir);
    if (mountsUnder(dir).length > 0) throw new Error(`mounts left under ${dir}; not removing it`);
    rmSync(dir, { recursive: true, force: true });
  }
});
