/**
 * applyLayer() and exportLayer() where they were broken by hand: targets that cannot be renamed
 * onto (a mount point), concurrent applies to one directory, hostile tar framing and
 * metadata. Each test names what went wrong before its fix.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { applyLayer, exportLayer, isOverlayError, sys, tmpfsMountSync, unpackImage } from '../../src/index.js';
import { writeOciLayout } from '../../src/oci/image/write.js';
import { TarParser, type TarEntry } from '../../src/oci/tar/index.js';
import { collect } from '../helpers/oci.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarEntryInput } from '../../src/oci/tar/write.js';
import { describePrivileged } from '../helpers/privileged.js';
import { caught } from '../helpers/overlay.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

function entry(name: string, data = '', extra: Partial<TarEntryInput> = {}): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: d.length, mtimeSec: 1700000000, ...extra }), d, padding(d.length)]);
}

function layer(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, END_OF_ARCHIVE]);
}

/** A layer of `n` files named `<prefix><i>`, written to `path`. */
function many(path: string, prefix: string, n: number): string {
  writeFileSync(path, layer(...Array.from({ length: n }, (_, i) => entry(`${prefix}${i}`, prefix.repeat(50)))));
  return path;
}


function xattr(path: string, name: string): Buffer | undefined {
  try {
    return sys.getxattrSync(path, name);
  } catch {
    return undefined;
  }
}

describePrivileged('applyLayer onto a mount point', () => {
  // Before: an empty directory was filled under a temporary name beside it and renamed onto
  // it, which a mount point refuses (EBUSY; EXDEV from another mount, reported as
  // ERR_LAYER_UNSAFE): the whole layer was written to the parent's filesystem, then thrown away.
  it('an empty mount point is filled in place; a failure leaves it empty and unmarked', async () => {
    const t = tempDir();
    const mp = join(t, 'mp');
    mkdirSync(mp);
    const tmpfs = tmpfsMountSync(mp, { size: '16m' });
    try {
      const tar = join(t, 'l.tar');
      writeFileSync(tar, layer(entry('etc/os-release', 'ID=x\n'), entry('bin/sh', 'elf')));
      const wrong = `sha256:${'0'.repeat(64)}`;
      const e = await caught(() => applyLayer(tar, mp, { diffId: wrong }));
      expect(isOverlayError(e, 'ERR_DIGEST_MISMATCH'), e.message).toBe(true);
      expect(readdirSync(mp)).toEqual([]);
      expect(xattr(mp, 'user.overlayfs.incomplete')).toBeUndefined();

      const r = await applyLayer(tar, mp);
      expect(r.files).toBe(2);
      expect(readFileSync(join(mp, 'etc/os-release'), 'utf8')).toBe('ID=x\n');
      expect(xattr(mp, 'user.overlayfs.incomplete')).toBeUndefined();
      // Nothing was written beside it.
      expect(readdirSync(t).sort()).toEqual(['l.tar', 'mp']);
    } finally {
      tmpfs.unmountSync();
    }
  });
});

describe('concurrent applies to one directory', () => {
  // Before: two applies onto a directory with content both wrote into it at once, and both
  // succeeded: one directory holding two layers mixed.
  it('onto a directory with content: one applies, the other is refused (EBUSY) and writes nothing', async () => {
    const t = tempDir();
    const dir = writeTree(join(t, 'dir'), { existing: 'x' });
    const a = many(join(t, 'a.tar'), 'a', 3000);
    const b = many(join(t, 'b.tar'), 'b', 3000);
    const results = await Promise.allSettled([applyLayer(a, dir), applyLayer(b, dir)]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    const err = failed[0]!.reason as NodeJS.ErrnoException;
    expect(err.code).toBe('EBUSY');
    expect(err.message).toMatch(/another apply/);
    const names = readdirSync(dir);
    const prefixes = new Set(names.filter((n) => n !== 'existing').map((n) => n[0]));
    expect(prefixes.size).toBe(1);
    expect(names).toHaveLength(3001);
    expect(xattr(dir, 'user.overlayfs.incomplete')).toBeUndefined();
    // The lock goes with the apply: the next one runs.
    await applyLayer(many(join(t, 'c.tar'), 'c', 2), dir);
    expect(existsSync(join(dir, 'c1'))).toBe(true);
  });

  it('into a new directory: one wins, the other fails with an error that says so, and leaves nothing', async () => {
    const t = tempDir();
    const dir = join(t, 'dir');
    const a = many(join(t, 'a.tar'), 'a', 2000);
    const b = many(join(t, 'b.tar'), 'b', 2000);
    const results = await Promise.allSettled([applyLayer(a, dir), applyLayer(b, dir)]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    const err = failed[0]!.reason as NodeJS.ErrnoException;
    expect(err.code).toBe('ENOTEMPTY');
    expect(err.message).toMatch(/gained content while this layer was applied/);
    expect(new Set(readdirSync(dir).map((n) => n[0])).size).toBe(1);
    expect(readdirSync(t).sort()).toEqual(['a.tar', 'b.tar', 'dir']);
  });
});

describe('exportLayer: what no tar entry holds', () => {
  // Before: a socket with two names was left out (no tar type holds one), but its inode was
  // remembered as exported, so its second name went out as a hard link to an entry the layer
  // does not have; applying the layer then failed (ENOENT).
  it('a socket with two names: neither name goes out, no hard link to nothing', async () => {
    const t = tempDir();
    const upper = writeTree(join(t, 'upper'), { file: 'x' });
    const server = createServer().listen(join(upper, 'sock'));
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      linkSync(join(upper, 'sock'), join(upper, 'sock2'));
      const { stream, result } = exportLayer(upper, []);
      const tar = await collect(stream);
      await result;
      const entries: TarEntry[] = [];
      const p = new TarParser({ entry: (e) => entries.push(e), data() {} });
      p.write(tar);
      p.end();
      expect(entries.map((e) => [e.name.toString(), e.type])).toEqual([['file', 'file']]);
      // And the layer applies.
      await applyLayer((async function* () { yield tar; })(), join(t, 'applied'));
      expect(readdirSync(join(t, 'applied'))).toEqual(['file']);
    } finally {
      server.close();
    }
  });
});

describePrivileged('applyLayer: numbers no file can have', () => {
  // Before: a RangeError from the writer's argument checks ("meta.uid" out of range), naming
  // no entry, where every other bad header is ERR_LAYER_FORMAT with the entry's path.
  it('a uid or gid of 2^32-1 ((uid_t)-1: "leave unchanged" to chown) or more, a device number past 32 bits: ERR_LAYER_FORMAT naming the entry', async () => {
    const t = tempDir();
    const cases: Array<[string, Partial<TarEntryInput>]> = [
      ['uid', { uid: 4294967295 }],
      ['gid', { gid: 2 ** 40 }],
      ['devmajor', { type: 'char', devMajor: 2 ** 33 }],
      ['devminor', { type: 'block', devMinor: 2 ** 32 }],
    ];
    for (const [what, extra] of cases) {
      const e = await caught(() => applyLayer((async function* () { yield layer(entry('ok'), entry(`bad-${what}`, '', extra)); })(), join(t, what)));
      expect(isOverlayError(e, 'ERR_LAYER_FORMAT'), `${what}: ${e.message}`).toBe(true);
      expect(e.path).toBe(`bad-${what}`);
      expect(existsSync(join(t, what))).toBe(false);
    }
    // The largest ids a file can have apply.
    await applyLayer((async function* () { yield layer(entry('top', '', { uid: 4294967294, gid: 4294967294 })); })(), join(t, 'max'));
    expect(sys.statxSync(join(t, 'max/top')).uid).toBe(4294967294);
  });
});

describe('applyLayer: an abort is an AbortError, whatever its reason', () => {
  // Before: an abort seen at the start (or after the last batch) threw the signal's reason as
  // it was (here a string, not even an Error), one seen between batches an AbortError: what a
  // caller caught depended on when the abort came.
  it('a signal aborted with a reason of its own: AbortError (code ABORT_ERR) with the reason as its cause', async () => {
    const t = tempDir();
    const ac = new AbortController();
    ac.abort('shutting down');
    const e = await caught(() => applyLayer((async function* () { yield layer(entry('a')); })(), join(t, 'l'), { signal: ac.signal }));
    expect(e).toBeInstanceOf(Error);
    expect([e.name, e.code, e.cause]).toEqual(['AbortError', 'ABORT_ERR', 'shutting down']);
    expect(readdirSync(t)).toEqual([]);
  });
});

describePrivileged('applyLayer: directories removed in bulk', () => {
  // Before: each directory removed (replaced by a whiteout, a file, or deleted when
  // flattened) scanned everything the apply had made so far, to forget what was below it:
  // quadratic. 10,000 directories and their 10,000 whiteouts took 16 s of a pool thread; a
  // small gzip layer of 100,000 of each held one for hours.
  it('20,000 directories, then a whiteout for each: linear time', async () => {
    // On a tmpfs: the time is the writer's, not ext4's inode allocator's.
    const t = tempDir();
    const tmpfs = tmpfsMountSync(t, { size: '256m' });
    onTestFinished(() => {
      tmpfs.unmountSync();
    });
    const N = 20_000;
    const parts: Buffer[] = [];
    for (let i = 0; i < N; i++) parts.push(Buffer.concat([encodeHeader({ name: `d${i}/`, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeSec: 1700000000 })]));
    for (let i = 0; i < N; i++) parts.push(entry(`.wh.d${i}`));
    // No timing is asserted (the quadratic form took 15 s at this size, the linear 1.7 s): this
    // checks the bulk removal leaves exactly the whiteouts.
    const r = await applyLayer((async function* () { yield layer(...parts); })(), join(t, 'l'));
    expect(r.whiteouts).toBe(N);
    expect(readdirSync(join(t, 'l'))).toHaveLength(N);
  }, 60_000);
});

describe('applyLayer into a directory with a long name', () => {
  // Before: the temporary directory beside it was named `.NAME.apply-PID-RANDOM`, 20-odd bytes
  // longer than NAME: a directory named with more than ~230 bytes (legal up to 255) could not
  // be applied into at all (ENAMETOOLONG from mkdir of the temporary name).
  it('a 250-byte name, new or empty: applied; nothing left beside it', async () => {
    const t = tempDir();
    const tar = join(t, 'l.tar');
    writeFileSync(tar, layer(entry('a', 'x')));
    for (const name of ['n'.repeat(250), 'é'.repeat(127)]) {
      await applyLayer(tar, join(t, name));
      expect(readFileSync(join(t, name, 'a'), 'utf8')).toBe('x');
    }
    mkdirSync(join(t, 'm'.repeat(255)));
    await applyLayer(tar, join(t, 'm'.repeat(255)));
    expect(readdirSync(t).sort()).toEqual(['l.tar', 'm'.repeat(255), 'n'.repeat(250), 'é'.repeat(127)].sort());
  });
});

describe('unpackImage: two at once into one new directory', () => {
  // Before: the one that lost the race for a layer directory cleaned up "what it made" by
  // removing everything in the target: the winner's layers too. The winner resolved with a
  // `lower` list whose directories were gone.
  it('the loser removes only what it made: the winner keeps every layer it reports', async () => {
    const t = tempDir();
    const layers = [0, 1, 2].map((k) => ({ data: layer(...Array.from({ length: 1500 }, (_, i) => entry(`l${k}/f${i}`, 'x'.repeat(200)))) }));
    await writeOciLayout(join(t, 'img'), { ref: 'r', layers });
    for (const flatten of [false, true]) {
      const out = join(t, `out-${flatten}`);
      const results = await Promise.allSettled([unpackImage(join(t, 'img'), out, { flatten }), unpackImage(join(t, 'img'), out, { flatten })]);
      const won = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof unpackImage>>> => r.status === 'fulfilled');
      expect(won.length, JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')))).toBeGreaterThanOrEqual(1);
      for (const w of won) for (const dir of w.value.lower) expect(existsSync(dir), dir).toBe(true);
      if (flatten) for (const k of [0, 1, 2]) expect(existsSync(join(out, `l${k}/f1499`)), `${out} l${k}`).toBe(true);
    }
  }, 60_000);
});
