/**
 * The layer writer (src/sys/layer-writer.ts, native/layer_write.cc) on a real kernel, without
 * privileges: every entry kind that needs none, the replacement rules, data across batches,
 * clearDir/remove, implicit parents, deferred directory metadata, the error shape, and both
 * resolution modes (openat2 and the component-by-component walk). Ownership, devices, trusted.*
 * and the escape attempts are in test/privileged/layer-writer.test.ts.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { sys } from '../../src/index.js';
import type { EntryMeta, LayerWriter, LayerWriterOptions } from '../../src/sys/layer-writer.js';
import { openFdCount, tempDir } from '../helpers/tmp.js';

const { openLayerWriter, WriteBatch } = sys;

const T = 1_600_000_000;
const meta = (mode: number, extra: Partial<EntryMeta> = {}): EntryMeta => ({ mode, mtimeSec: T, mtimeNsec: 123_456_789, ...extra });

async function failure(p: Promise<unknown> | (() => unknown)): Promise<NodeJS.ErrnoException & { step?: number; dest?: string; key?: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error('expected the call to fail');
}

const mtimeNs = (p: string) => lstatSync(p, { bigint: true }).mtimeNs;
const TNS = BigInt(T) * 1_000_000_000n + 123_456_789n;
const mode = (p: string) => lstatSync(p).mode & 0o7777;

/** Every path below `root` with its type and (for files) content, for before/after comparisons. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(p)}`);
      else out.push(`${r}: ${st.isFile() ? readFileSync(p, 'utf8') : 'special'}`);
    }
  };
  walk(root, '');
  return out;
}

const modes: Array<[string, LayerWriterOptions]> = [
  ['openat2', {}],
  ['noOpenat2', { noOpenat2: true }],
];

describe.each(modes)('layer writer (%s)', (modeName, options) => {
  const open = (dir: string): LayerWriter => openLayerWriter(dir, options);

  it('writes directories, files, symlinks, hard links and fifos with their metadata', async () => {
    const root = tempDir();
    const w = open(root);
    const b = new WriteBatch();
    b.dir('etc', meta(0o755));
    b.file('etc/hostname', meta(0o640, { xattrs: [['user.k', Buffer.from('v')]] }));
    b.data(Buffer.from('box\n'));
    b.endFile();
    b.symlink('etc/link', '../etc/hostname', meta(0o777));
    b.hardlink('etc/hard', 'etc/hostname');
    b.node('etc/fifo', meta(0o620), 'fifo');
    b.file('empty', meta(0o600));
    b.endFile();
    expect(b.ops).toBe(9);
    expect(b.dataBytes).toBe(4);
    await w.run(b);
    expect(b.ops).toBe(0);
    await w.finish();
    expect(w.closed).toBe(true);

    expect(readFileSync(join(root, 'etc/hostname'), 'utf8')).toBe('box\n');
    expect(mode(join(root, 'etc/hostname'))).toBe(0o640);
    expect(mtimeNs(join(root, 'etc/hostname'))).toBe(TNS);
    expect(sys.getxattrSync(join(root, 'etc/hostname'), 'user.k').toString()).toBe('v');
    expect(readlinkSync(join(root, 'etc/link'))).toBe('../etc/hostname');
    expect(mtimeNs(join(root, 'etc/link'))).toBe(TNS);
    expect(statSync(join(root, 'etc/hard')).ino).toBe(statSync(join(root, 'etc/hostname')).ino);
    expect(lstatSync(join(root, 'etc/fifo')).isFIFO()).toBe(true);
    expect(mode(join(root, 'etc/fifo'))).toBe(0o620);
    expect(mtimeNs(join(root, 'etc/fifo'))).toBe(TNS);
    expect(mode(join(root, 'etc'))).toBe(0o755);
    expect(mtimeNs(join(root, 'etc'))).toBe(TNS);
    expect(readFileSync(join(root, 'empty')).length).toBe(0);
  });

  it('sync and async forms do the same', () => {
    const root = tempDir();
    const w = open(root);
    const b = new WriteBatch();
    b.dir('d', meta(0o700, { xattrs: [['user.d', Buffer.alloc(0)]] }));
    b.file('d/f', meta(0o644));
    b.data(new Uint8Array([104, 105]));
    b.endFile();
    w.runSync(b);
    w.finishSync();
    expect(readFileSync(join(root, 'd/f'), 'utf8')).toBe('hi');
    expect(sys.getxattrSync(join(root, 'd'), 'user.d').length).toBe(0);
    expect(mtimeNs(join(root, 'd'))).toBe(TNS);
  });

  it('keeps a file open across batches while its data arrives', async () => {
    const root = tempDir();
    const w = open(root);
    const chunks = Array.from({ length: 5 }, (_, i) => Buffer.alloc(100_000, 97 + i));
    let b = new WriteBatch();
    b.file('big', meta(0o644));
    await w.run(b);
    for (const c of chunks) {
      b = new WriteBatch();
      b.data(c);
      b.data(c.subarray(0, 10));
      await w.run(b);
    }
    b = new WriteBatch();
    b.endFile();
    w.runSync(b);
    await w.finish();
    expect(readFileSync(join(root, 'big')).equals(Buffer.concat(chunks.flatMap((c) => [c, c.subarray(0, 10)])))).toBe(true);
    expect(mtimeNs(join(root, 'big'))).toBe(TNS);
  });

  it('replaces: a file over a directory tree, a directory over a file, a directory over a directory merges', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'tree/sub/deeper'), { recursive: true });
    writeFileSync(join(root, 'tree/sub/deeper/f'), 'x');
    symlinkSync('/', join(root, 'tree/sub/to-root'));
    writeFileSync(join(root, 'was-file'), 'x');
    mkdirSync(join(root, 'merge'));
    writeFileSync(join(root, 'merge/old'), 'old');
    writeFileSync(join(root, 'over-symlink-target'), 'target');
    symlinkSync('over-symlink-target', join(root, 'over-symlink'));
    const w = open(root);
    const b = new WriteBatch();
    b.file('tree', meta(0o644));
    b.data(Buffer.from('now a file'));
    b.endFile();
    b.dir('was-file', meta(0o750));
    b.dir('merge', meta(0o711));
    b.file('merge/new', meta(0o644));
    b.endFile();
    b.file('over-symlink', meta(0o644));
    b.data(Buffer.from('replaced'));
    b.endFile();
    b.symlink('merge/new', 'elsewhere', meta(0o777));
    await w.run(b);
    await w.finish();
    expect(readFileSync(join(root, 'tree'), 'utf8')).toBe('now a file');
    expect(lstatSync(join(root, 'was-file')).isDirectory()).toBe(true);
    expect(mode(join(root, 'was-file'))).toBe(0o750);
    expect(readdirSync(join(root, 'merge')).sort()).toEqual(['new', 'old']);
    expect(readlinkSync(join(root, 'merge/new'))).toBe('elsewhere');
    expect(mode(join(root, 'merge'))).toBe(0o711);
    expect(mtimeNs(join(root, 'merge'))).toBe(TNS);
    // The symlink was replaced, not followed.
    expect(lstatSync(join(root, 'over-symlink')).isFile()).toBe(true);
    expect(readFileSync(join(root, 'over-symlink-target'), 'utf8')).toBe('target');
  });

  it('creates missing parents 0755 without metadata; dir mtimes are set after their contents, deepest first', async () => {
    const root = tempDir();
    const w = open(root);
    const b = new WriteBatch();
    b.dir('a', meta(0o755, { mtimeSec: T + 1 }));
    b.dir('a/b', meta(0o555, { mtimeSec: T + 2 }));
    b.file('a/b/f', meta(0o644));
    b.endFile();
    b.file('x/y/z/f', meta(0o644));
    b.endFile();
    await w.run(b);
    // Before finish the directories' mtimes are those of their last change, and a/b is writable.
    expect(lstatSync(join(root, 'a/b')).mtimeMs).not.toBe((T + 2) * 1000 + 123.456789);
    expect(mode(join(root, 'a/b'))).toBe(0o755);
    const late = new WriteBatch();
    late.file('a/b/g', meta(0o644));
    late.endFile();
    await w.run(late);
    await w.finish();
    const ns = (s: number) => BigInt(s) * 1_000_000_000n + 123_456_789n;
    expect(mtimeNs(join(root, 'a'))).toBe(ns(T + 1));
    expect(mtimeNs(join(root, 'a/b'))).toBe(ns(T + 2));
    expect(mode(join(root, 'a/b'))).toBe(0o555);
    for (const d of ['x', 'x/y', 'x/y/z']) {
      expect(lstatSync(join(root, d)).isDirectory()).toBe(true);
      expect(mode(join(root, d))).toBe(0o755);
      expect(lstatSync(join(root, d)).uid).toBe(process.getuid!());
      expect(Math.abs(lstatSync(join(root, d)).mtimeMs - Date.now())).toBeLessThan(60_000);
    }
  });

  it('remove: a file, a whole tree (never following a symlink in it), an absent path', async () => {
    const root = tempDir();
    const outside = tempDir();
    writeFileSync(join(outside, 'keep'), 'keep');
    mkdirSync(join(root, 't/u'), { recursive: true });
    writeFileSync(join(root, 't/u/f'), 'x');
    symlinkSync(outside, join(root, 't/u/out'));
    writeFileSync(join(root, 'file'), 'x');
    const w = open(root);
    const b = new WriteBatch();
    b.remove('t');
    b.remove('file');
    b.remove('absent');
    b.remove('absent/deeper/still');
    b.remove('file/under-a-file');
    await w.run(b);
    await w.finish();
    expect(readdirSync(root)).toEqual([]);
    expect(snapshot(outside)).toEqual(['keep: keep']);
  });

  it('clearDir removes what this writer did not create, keeps what it did, and clears merged directories too', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'd/merged/oldsub'), { recursive: true });
    writeFileSync(join(root, 'd/old'), 'old');
    writeFileSync(join(root, 'd/merged/oldfile'), 'old');
    writeFileSync(join(root, 'top-old'), 'old');
    const w = open(root);
    const b = new WriteBatch();
    b.file('d/new', meta(0o644));
    b.endFile();
    b.dir('d/merged', meta(0o755));
    b.file('d/merged/newfile', meta(0o644));
    b.endFile();
    b.file('d/implicit/parents/f', meta(0o644));
    b.endFile();
    b.clearDir('d');
    b.clearDir('absent');
    b.clearDir('top-old');
    await w.run(b);
    expect(snapshot(join(root, 'd'))).toEqual(['implicit/', 'implicit/parents/', 'implicit/parents/f: ', 'merged/', 'merged/newfile: ', 'new: ']);
    const c = new WriteBatch();
    c.clearDir('');
    await w.run(c);
    await w.finish();
    // The writer wrote into d: it stays; the root's other old child goes.
    expect(readdirSync(root)).toEqual(['d']);
  });

  it('opaque on a directory and at the root with user.*; a missing directory is created 0755', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'there'));
    const w = open(root);
    const b = new WriteBatch();
    b.opaque('there', 'user');
    b.opaque('missing/deeper', 'user');
    b.opaque('', 'user');
    await w.run(b);
    await w.finish();
    for (const p of ['there', 'missing/deeper', '']) expect(sys.getxattrSync(join(root, p), 'user.overlay.opaque').toString()).toBe('y');
    expect(mode(join(root, 'missing/deeper'))).toBe(0o755);
  });

  it('xattr whiteouts in user.*: an empty file marked, its parent opaque=x unless it is y', async () => {
    const root = tempDir();
    const w = open(root);
    const b = new WriteBatch();
    b.dir('d', meta(0o755));
    b.whiteout('d/gone', 'xattr', 'user');
    b.opaque('o', 'user');
    b.whiteout('o/gone', 'xattr', 'user');
    await w.run(b);
    await w.finish();
    expect(lstatSync(join(root, 'd/gone')).size).toBe(0);
    expect(lstatSync(join(root, 'd/gone')).isFile()).toBe(true);
    expect(sys.listxattrSync(join(root, 'd/gone'))).toEqual(['user.overlay.whiteout']);
    expect(sys.getxattrSync(join(root, 'd'), 'user.overlay.opaque').toString()).toBe('x');
    expect(sys.getxattrSync(join(root, 'o'), 'user.overlay.opaque').toString()).toBe('y');
  });

  it('names that are not UTF-8, as Buffers', async () => {
    const root = tempDir();
    const name = Buffer.from([0x66, 0xff, 0xfe]);
    const w = open(root);
    const b = new WriteBatch();
    b.dir(name, meta(0o755));
    b.file(Buffer.concat([name, Buffer.from('/f')]), meta(0o644));
    b.endFile();
    await w.run(b);
    await w.finish();
    expect(readdirSync(root, { encoding: 'buffer' })).toEqual([name]);
  });

  it('a symlink to a directory inside the layer: followed beneath with openat2, refused by the walk', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'real'));
    symlinkSync('real', join(root, 'alias'));
    const w = open(root);
    const b = new WriteBatch();
    b.file('alias/f', meta(0o644));
    b.endFile();
    if (modeName === 'openat2') {
      await w.run(b);
      await w.finish();
      expect(readdirSync(join(root, 'real'))).toEqual(['f']);
    } else {
      expect(await failure(w.run(b))).toMatchObject({ code: 'ELOOP', syscall: 'openat', path: 'alias/f', step: 0 });
    }
  });

  it('a hard link to a directory is refused by the kernel', async () => {
    const root = tempDir();
    const w = open(root);
    const b = new WriteBatch();
    b.dir('d', meta(0o755));
    b.hardlink('h', 'd');
    const err = await failure(w.run(b));
    expect(err).toMatchObject({ code: 'EPERM', syscall: 'link', path: 'h', dest: 'd', step: 1 });
  });

  it.each([['../x'], ['/abs'], ['a//b'], ['a/./b'], ['a/..'], ['a/'], ['.'], [''], ['nul\0byte']])('refuses the path %j with EINVAL, its path and step', async (bad) => {
    const root = tempDir();
    const w = open(root);
    const b = new WriteBatch();
    b.file('ok', meta(0o644));
    b.endFile();
    b.file(bad, meta(0o644));
    const err = await failure(w.run(b));
    expect(err).toMatchObject({ code: 'EINVAL', errno: -22, syscall: 'open', path: bad, step: 2 });
    expect(err.message).toBe(`EINVAL: invalid argument, open '${bad}'`);
    // What came before it was done; the writer is closed.
    expect(readdirSync(root)).toEqual(['ok']);
    expect(w.closed).toBe(true);
    expect(await failure(w.run(new WriteBatch()))).toMatchObject({ code: 'ERR_INVALID_STATE' });
    expect(() => w.finishSync()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });

  it('refuses bad hard link targets and symlink targets', async () => {
    const root = tempDir();
    let w = open(root);
    let b = new WriteBatch();
    b.hardlink('h', '../outside');
    expect(await failure(w.run(b))).toMatchObject({ code: 'EINVAL', syscall: 'link', path: 'h', dest: '../outside', step: 0 });
    w = open(root);
    b = new WriteBatch();
    b.symlink('s', '', meta(0o777));
    expect(await failure(() => w.runSync(b))).toMatchObject({ code: 'EINVAL', syscall: 'symlink', path: 's', step: 0 });
    w = open(root);
    b = new WriteBatch();
    b.hardlink('h', 'missing/target');
    expect(await failure(w.run(b))).toMatchObject({ code: 'ENOENT', path: 'h', dest: 'missing/target' });
  });

  it('data or endFile without a file is EBADF; another entry while a file is open is EINVAL; finish with one open too', async () => {
    const root = tempDir();
    let w = open(root);
    let b = new WriteBatch();
    b.data(Buffer.from('x'));
    expect(await failure(w.run(b))).toMatchObject({ code: 'EBADF', syscall: 'write', step: 0 });
    w = open(root);
    b = new WriteBatch();
    b.file('f', meta(0o644));
    b.dir('d', meta(0o755));
    expect(await failure(w.run(b))).toMatchObject({ code: 'EINVAL', syscall: 'mkdir', path: 'd', step: 1 });
    w = open(root);
    b = new WriteBatch();
    b.file('g', meta(0o644));
    await w.run(b);
    expect(await failure(w.finish())).toMatchObject({ code: 'EINVAL', syscall: 'close', path: 'g' });
    expect(w.closed).toBe(true);
  });

  it('a failure from the kernel has the Node shape and the step of the entry', async () => {
    const root = tempDir();
    const w = open(root);
    const b = new WriteBatch();
    b.dir('d', meta(0o755));
    b.file('d/f', meta(0o644, { xattrs: [['user.ok', Buffer.from('1')], ['bogus.ns', Buffer.from('1')]] }));
    b.endFile();
    const err = await failure(w.run(b));
    expect(err).toMatchObject({ code: 'ENOTSUP', errno: -95, syscall: 'fsetxattr', path: 'd/f', key: 'bogus.ns', step: 2 });
    expect(Object.keys(err).sort()).toEqual(['code', 'errno', 'key', 'path', 'step', 'syscall']);
  });

  it('refuses a second run while one is in flight, and runs again after it', async () => {
    const root = tempDir();
    const w = open(root);
    const b1 = new WriteBatch();
    for (let i = 0; i < 200; i++) {
      b1.file(`f${i}`, meta(0o644));
      b1.endFile();
    }
    const b2 = new WriteBatch();
    b2.file('late', meta(0o644));
    b2.endFile();
    const first = w.run(b1);
    expect(await failure(w.run(b2))).toMatchObject({ code: 'ERR_INVALID_STATE', message: expect.stringMatching(/already running/) });
    expect(() => w.runSync(b2)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(b2.ops).toBe(2); // a refused run leaves the batch as it was
    await first;
    await w.run(b2);
    await w.finish();
    expect(readdirSync(root)).toHaveLength(201);
  });

  it('close() is idempotent, also during a run, and leaves no fd open', async () => {
    const root = tempDir();
    const before = openFdCount();
    const w = open(root);
    const b = new WriteBatch();
    for (let i = 0; i < 50; i++) {
      b.dir(`d${i}`, meta(0o755));
      b.file(`d${i}/f`, meta(0o644));
      b.endFile();
    }
    b.file('open', meta(0o644));
    const p = w.run(b);
    w.close();
    w.close();
    await p;
    expect(w.closed).toBe(true);
    expect(openFdCount()).toBe(before);
    const w2 = open(root);
    const b2 = new WriteBatch();
    b2.file('x', meta(0o644));
    w2.runSync(b2);
    w2.close();
    expect(openFdCount()).toBe(before);
  });

  it('argument errors throw at once and leave the batch unchanged', () => {
    const b = new WriteBatch();
    b.dir('a', meta(0o755));
    expect(() => b.file('f', { mode: -1, mtimeSec: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => b.file('f', { mode: 0o644, mtimeSec: 0, uid: 2 ** 32 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => b.file('f', { mode: 0o644, mtimeSec: 0, xattrs: [['user.a', 'str' as unknown as Buffer]] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => b.file('f', meta(0o644, { xattrs: [['user.a\0b', Buffer.from('x')]] }))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => b.node('n', meta(0o644), 'socket' as 'fifo')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => b.whiteout('w', 'device', 'system' as 'user')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => b.file(42 as unknown as string, meta(0o644))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(b.ops).toBe(1);
    const root = tempDir();
    const w = openLayerWriter(root, options);
    w.runSync(b);
    w.finishSync();
    expect(readdirSync(root)).toEqual(['a']);
  });

  it('opens only a directory, not through a final symlink', async () => {
    const root = tempDir();
    writeFileSync(join(root, 'file'), '');
    symlinkSync(root, join(root, 'link'));
    expect(await failure(() => open(join(root, 'missing')))).toMatchObject({ code: 'ENOENT', syscall: 'open', path: join(root, 'missing') });
    expect(await failure(() => open(join(root, 'file')))).toMatchObject({ code: 'ENOTDIR', syscall: 'open' });
    expect(await failure(() => open(join(root, 'link')))).toMatchObject({ code: 'ENOTDIR', syscall: 'open' });
  });

  it('an escaping symlink in the way fails with its errno and writes nothing outside', async () => {
    const root = tempDir();
    const outside = tempDir();
    writeFileSync(join(outside, 'keep'), 'keep');
    symlinkSync(outside, join(root, 'evil'));
    const w = open(root);
    const b = new WriteBatch();
    b.file('evil/x', meta(0o644));
    const err = await failure(w.run(b));
    expect(err).toMatchObject(modeName === 'openat2' ? { code: 'EXDEV', syscall: 'openat2', path: 'evil/x', step: 0 } : { code: 'ELOOP', syscall: 'openat', path: 'evil/x', step: 0 });
    expect(snapshot(outside)).toEqual(['keep: keep']);
  });
});

describe('layer writer lifetime', () => {
  const meta0: EntryMeta = { mode: 0o644, mtimeSec: 0 };

  it('a writer dropped without close() has its fds closed when garbage-collected', async () => {
    const root = tempDir();
    const before = openFdCount();
    (() => {
      const w = openLayerWriter(root);
      const b = new WriteBatch();
      b.dir('a', meta0);
      b.dir('a/b', meta0);
      b.file('a/b/open', meta0);
      w.runSync(b);
    })();
    expect(openFdCount()).toBeGreaterThan(before);
    for (let i = 0; i < 20 && openFdCount() !== before; i++) {
      (globalThis as { gc?: () => void }).gc?.();
      await new Promise((r) => setImmediate(r));
    }
    expect(openFdCount()).toBe(before);
  });

  const fixture = fileURLToPath(new URL('./fixtures/worker-layer-writer.mjs', import.meta.url));
  it.each(['exit', 'terminate', 'inflight'] as const)('a worker thread that ends leaves no fd of its writers open (%s)', async (how) => {
    const dirs = [tempDir(), tempDir()];
    const before = openFdCount();
    const worker = new Worker(fixture, { workerData: { dirs, inflight: how === 'inflight' } });
    const exited = once(worker, 'exit');
    await once(worker, 'message');
    if (how === 'exit') worker.postMessage('exit');
    else {
      worker.postMessage('hang');
      await worker.terminate();
    }
    await exited;
    // A batch still running when the worker was killed finishes on the pool, then closes.
    for (let i = 0; i < 100 && openFdCount() !== before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(openFdCount()).toBe(before);
  });
});
