/**
 * readEntries(): batched reads beneath root fds (statx, link targets, xattrs, contents up to a
 * budget, the tar layout), and PoolHasher (sha256 on the thread pool).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { O, sys, type FdHandle } from '../../src/index.js';
import { tempDir } from '../helpers/tmp.js';

const open: FdHandle[] = [];
afterEach(() => {
  for (const h of open.splice(0)) h.close();
});

function layer(): { dir: string; root: FdHandle } {
  const dir = tempDir('ovl-read-');
  writeFileSync(join(dir, 'a'), 'hello');
  sys.setxattrSync(join(dir, 'a'), 'user.x', Buffer.from([0, 1, 2]));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub/b'), 'b'.repeat(1000));
  writeFileSync(join(dir, 'big'), Buffer.alloc(100_000, 7));
  symlinkSync('../outside', join(dir, 'link'));
  spawnSync('mkfifo', [join(dir, 'pipe')]);
  const root = sys.openSync(dir, O.PATH | O.DIRECTORY);
  open.push(root);
  return { dir, root };
}

const S_IFMT = 0o170000;

describe('readEntries', () => {
  it('reads stat, contents, xattrs and link targets of many names in one call (both forms)', async () => {
    const { root } = layer();
    const reqs = [
      { root: 0, name: 'a', data: true, xattrs: true, type: 'file' as const },
      { root: 0, name: 'sub', xattrs: true, type: 'dir' as const },
      { root: 0, name: 'sub/b', data: true, type: 'file' as const },
      { root: 0, name: 'link', xattrs: true, type: 'other' as const },
      { root: 0, name: 'pipe', xattrs: true, type: 'other' as const },
    ];
    for (const got of [await sys.readEntries([root], reqs, 1 << 20), sys.readEntriesSync([root], reqs, 1 << 20)]) {
      expect(got.count).toBe(5);
      const [a, sub, b, link, pipe] = got.entries;
      expect(a!.data!.toString()).toBe('hello');
      expect(a!.size).toBe(5);
      expect(a!.mode & S_IFMT).toBe(0o100000);
      expect(a!.xattrs).toEqual([['user.x', Buffer.from([0, 1, 2])]]);
      expect(sub!.mode & S_IFMT).toBe(0o040000);
      expect(b!.data!.length).toBe(1000);
      expect(link!.linkTarget!.toString()).toBe('../outside');
      expect(pipe!.mode & S_IFMT).toBe(0o010000);
      for (const e of got.entries) expect(e.error).toBeUndefined();
    }
  });

  it('stays beneath the root: .. and absolute names fail (EXDEV), a missing name is its own error', () => {
    const { root } = layer();
    const got = sys.readEntriesSync(
      [root],
      [
        { root: 0, name: '../x', type: 'file' },
        { root: 0, name: '/etc/passwd', type: 'file', data: true },
        { root: 0, name: 'nope', type: 'file' },
        { root: 0, name: 'link/x', type: 'file' },
        { root: 0, name: 'a', type: 'file', data: true },
      ],
      1 << 20,
    );
    expect(got.count).toBe(5);
    expect(got.entries[0]!.error).toMatchObject({ code: 'EXDEV', syscall: 'openat2' });
    expect(got.entries[1]!.error).toMatchObject({ code: 'EXDEV' });
    expect(got.entries[2]!.error).toMatchObject({ code: 'ENOENT', path: 'nope' });
    expect(got.entries[3]!.error).toBeDefined();
    expect(got.entries[4]!.data!.toString()).toBe('hello');
  });

  it('stops before a file that does not fit the budget, unless it comes first', () => {
    const { root } = layer();
    const reqs = [
      { root: 0, name: 'a', data: true, type: 'file' as const },
      { root: 0, name: 'big', data: true, type: 'file' as const },
      { root: 0, name: 'sub/b', data: true, type: 'file' as const },
    ];
    const first = sys.readEntriesSync([root], reqs, 10_000);
    expect(first.count).toBe(1);
    const second = sys.readEntriesSync([root], reqs.slice(1), 10_000);
    expect(second.count).toBe(2);
    expect(second.entries[0]!.data).toBeUndefined();
    expect(second.entries[0]!.size).toBe(100_000);
    expect(second.entries[1]!.data!.length).toBe(1000);
  });

  it('tar layout: a 512-byte gap before each entry and contents padded to the block', () => {
    const { root } = layer();
    const got = sys.readEntriesSync(
      [root],
      [
        { root: 0, name: 'sub', type: 'dir' },
        { root: 0, name: 'a', data: true, type: 'file' },
        { root: 0, name: 'link', type: 'other' },
      ],
      1 << 20,
      { tar: true },
    );
    const [sub, a, link] = got.entries;
    expect([sub!.tarOffset, sub!.tarEnd]).toEqual([0, 512]);
    expect([a!.tarOffset, a!.tarEnd]).toEqual([512, 1536]);
    expect(got.buffer.subarray(1024, 1029).toString()).toBe('hello');
    expect(got.buffer.subarray(1029, 1536).every((b) => b === 0)).toBe(true);
    expect([link!.tarOffset, link!.tarEnd]).toEqual([1536, 2048]);
    expect(link!.linkTarget!.toString()).toBe('../outside');
    expect(got.buffer.length).toBe(2048);
  });

  it('checks its arguments', () => {
    const { root } = layer();
    expect(() => sys.readEntriesSync([root], [{ root: 1, name: 'a' }], 10)).toThrow(/root/);
    expect(() => sys.readEntriesSync([root], [{ root: 0, name: 'a\0b' }], 10)).toThrow(/null bytes/);
    expect(() => sys.readEntriesSync([root], [], -1)).toThrow(/budget/);
  });
});

describe('PoolHasher', () => {
  it('gives the sha256 of what it was given, in order, off the main thread', async () => {
    const h = new sys.PoolHasher();
    const parts = [Buffer.from('over'), Buffer.alloc(1 << 20, 3), Buffer.from('lay')];
    void h.update(parts.slice(0, 2));
    await h.update(parts.slice(2));
    expect(h.bytes).toBe(parts.reduce((n, p) => n + p.length, 0));
    expect(await h.digest()).toBe(createHash('sha256').update(Buffer.concat(parts)).digest('hex'));
    expect(() => h.update([Buffer.from('x')])).toThrow(/after digest/);
  });
});
