/**
 * src/oci/source.ts: openLayer() over paths, streams and iterables; digests and their checks;
 * abort and early exit releasing the file, the streams and the zstd child; bounded memory on a
 * 1 GiB layer.
 */
import { createReadStream, readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PassThrough, Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createCompressor } from '../../src/oci/compression.js';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import { openLayer, type OpenedLayer } from '../../src/oci/source.js';
import { isOverlayError, OverlaySpecError } from '../../src/spec/errors.js';
import { childPids, collect, expectBytes, numberedLines, through, ZSTD_FIXTURE } from '../helpers/oci.js';
import { describeWithTool } from '../helpers/privileged.js';
import { tempDir } from '../helpers/tmp.js';

/** The fds of this process open on `path`. */
function fdsOn(path: string): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string; expected?: string; actual?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

function file(name: string, content: Uint8Array): string {
  const path = join(tempDir('ovl-oci-'), name);
  writeFileSync(path, content);
  return path;
}

async function* bytewise(b: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i++) yield b.subarray(i, i + 1);
}

const TAR = numberedLines(150_000); // ~3.4 MB: several 1 MiB reads
const TAR_GZ = gzipSync(TAR, { level: 1 });

describe('openLayer: reading', () => {
  it('a plain tar from a path: 1 MiB reads passed through, one hash for digest and diffID', async () => {
    const path = file('layer.tar', TAR);
    const layer = await openLayer(path);
    expect(layer.compression).toBe('none');
    const chunks: Buffer[] = [];
    for await (const c of layer.tar) chunks.push(c);
    expect(chunks[0]!.length).toBe(1 << 20);
    expectBytes(Buffer.concat(chunks), TAR);
    expect(layer.verify()).toEqual({ digest: digestOf(TAR), diffId: digestOf(TAR), compressedBytes: TAR.length, bytes: TAR.length });
    expect(layer.compressedBytes).toBe(TAR.length);
    expect(fdsOn(path)).toEqual([]);
  });

  it('a gzip blob from a path, a Node stream and an iterable a byte at a time at first', async () => {
    const path = file('layer.tar.gz', TAR_GZ);
    const sources = [path, createReadStream(path), (async function* () {
      yield* bytewise(TAR_GZ.subarray(0, 3));
      yield new Uint8Array(0);
      yield TAR_GZ.subarray(3);
    })()];
    for (const source of sources) {
      const layer = await openLayer(source);
      expect(layer.compression).toBe('gzip');
      expectBytes(await collect(layer.tar), TAR);
      expect(layer.verify()).toEqual({ digest: digestOf(TAR_GZ), diffId: digestOf(TAR), compressedBytes: TAR_GZ.length, bytes: TAR.length });
    }
    expect(fdsOn(path)).toEqual([]);
  });

  it('zstd, decoded by fzstd', async () => {
    const layer = await openLayer(bytewise(ZSTD_FIXTURE), { zstd: 'js' });
    expect(layer.compression).toBe('zstd');
    expectBytes(await collect(layer.tar), numberedLines(400));
    expect(layer.verify().diffId).toBe(digestOf(numberedLines(400)));
  });

  it('an empty source is an empty tar', async () => {
    const layer = await openLayer(file('empty', Buffer.alloc(0)));
    expectBytes(await collect(layer.tar), Buffer.alloc(0));
    expect(layer.verify()).toEqual({ digest: digestOf(''), diffId: digestOf(''), compressedBytes: 0, bytes: 0 });
  });

  it('the magic number decides; a media type must be a known one; `compression` overrides both', async () => {
    const path = file('layer.tar.gz', TAR_GZ);
    // Declared uncompressed, but gzip: decoded as gzip (as containerd and moby do).
    const declared = await openLayer(path, { mediaType: 'application/vnd.oci.image.layer.v1.tar' });
    expect(declared.compression).toBe('gzip');
    await declared.close();
    const err = await failure(openLayer(path, { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip+encrypted' }));
    expect(isOverlayError(err, 'ERR_LAYER_FORMAT')).toBe(true);
    expect(err.message).toContain("'application/vnd.oci.image.layer.v1.tar+gzip+encrypted'");
    const raw = await openLayer(path, { compression: 'none' });
    expectBytes(await collect(raw.tar), TAR_GZ);
    expect(fdsOn(path)).toEqual([]);
  });

  it('refuses bad arguments before opening anything', async () => {
    expect(await failure(openLayer(file('x', TAR), { expectedDigest: 'sha256:abc' as Digest }))).toBeInstanceOf(OverlaySpecError);
    expect((await failure(openLayer('/x', { expectedDiffId: 'md5:x' as Digest }))).message).toContain('expectedDiffId');
    expect(await failure(openLayer(42 as unknown as string))).toBeInstanceOf(TypeError);
    expect(await failure(openLayer('/x', { highWaterMark: 10 }))).toBeInstanceOf(RangeError);
    expect((await failure(openLayer('/nonexistent/layer.tar'))).code).toBe('ENOENT');
  });

  it('a stream with an encoding is refused: a layer is bytes', async () => {
    const s = Readable.from(['text'], { objectMode: true });
    expect((await failure(openLayer(s))).message).toMatch(/must yield bytes/);
  });

  it('the tar is read once; verify() before its end is ERR_INVALID_STATE', async () => {
    const layer = await openLayer(file('layer.tar', TAR));
    expect(() => layer.verify()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    const it1 = layer.tar[Symbol.asyncIterator]();
    expect(() => layer.tar[Symbol.asyncIterator]()).toThrow(/only once/);
    await it1.next();
    await it1.return!();
  });
});

describe('openLayer: expected digests', () => {
  const path = () => file('layer.tar.gz', TAR_GZ);

  it('matching ones pass', async () => {
    const layer = await openLayer(path(), { expectedDigest: digestOf(TAR_GZ), expectedDiffId: digestOf(TAR) });
    await collect(layer.tar);
    expect(layer.verify().digest).toBe(digestOf(TAR_GZ));
  });

  it('a blob digest that differs fails the end of the tar and verify() with ERR_DIGEST_MISMATCH', async () => {
    const wrong = digestOf('something else');
    const layer = await openLayer(path(), { expectedDigest: wrong });
    const err = await failure(collect(layer.tar));
    expect(isOverlayError(err, 'ERR_DIGEST_MISMATCH')).toBe(true);
    expect(err).toMatchObject({ expected: wrong, actual: digestOf(TAR_GZ) });
    expect(() => layer.verify()).toThrow(expect.objectContaining({ code: 'ERR_DIGEST_MISMATCH', expected: wrong }));
  });

  it('a diffID that differs likewise', async () => {
    const wrong = digestOf('other tar');
    const layer = await openLayer(path(), { expectedDiffId: wrong });
    const err = await failure(collect(layer.tar));
    expect(err).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', expected: wrong, actual: digestOf(TAR) });
    expect(err.message).toMatch(/^layer diffID digest mismatch/);
  });

  it('for a plain tar the diffID is the digest: a wrong diffID fails too', async () => {
    const layer = await openLayer(file('layer.tar', TAR), { expectedDiffId: digestOf('x') });
    expect((await failure(collect(layer.tar))).code).toBe('ERR_DIGEST_MISMATCH');
  });
});

describe('openLayer: failures and letting go', () => {
  it('a corrupt gzip blob is ERR_LAYER_FORMAT, and the file is closed', async () => {
    const bad = Buffer.from(TAR_GZ);
    for (let i = 1000; i < 1100; i++) bad[i] = 0x55;
    const path = file('bad.tar.gz', bad);
    const layer = await openLayer(path);
    const err = await failure(collect(layer.tar));
    expect(isOverlayError(err, 'ERR_LAYER_FORMAT')).toBe(true);
    expect(fdsOn(path)).toEqual([]);
  });

  it('a truncated blob is "truncated gzip stream"', async () => {
    const layer = await openLayer(Readable.from([TAR_GZ.subarray(0, TAR_GZ.length - 100)]));
    expect((await failure(collect(layer.tar))).message).toBe('truncated gzip stream');
  });

  it('breaking out of the tar, or close() without reading, closes the file', async () => {
    for (const data of [TAR, TAR_GZ]) {
      const path = file('layer', data);
      const layer = await openLayer(path);
      for await (const c of layer.tar) {
        expect(c.length).toBeGreaterThan(0);
        break;
      }
      expect(fdsOn(path)).toEqual([]);
      const unread = await openLayer(path);
      expect(fdsOn(path)).toHaveLength(1);
      await unread.close();
      await unread.close();
      expect(fdsOn(path)).toEqual([]);
    }
  });
});

/** global.gc, also where node runs without --expose-gc (the unit project). */
function gcFunction(): () => void {
  if (typeof globalThis.gc === 'function') return globalThis.gc as () => void;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Reads one chunk, aborts, and expects the next read to be Node's AbortError. */
async function abortAfterFirstChunk(layer: OpenedLayer, ac: AbortController): Promise<void> {
  const it = layer.tar[Symbol.asyncIterator]();
  expect((await it.next()).done).toBe(false);
  ac.abort();
  const err = await failure(it.next());
  expect(err.name).toBe('AbortError');
  expect(err.code).toBe('ABORT_ERR');
  expect(() => layer.verify()).toThrow(/before the end/);
}

describe('openLayer: abort', () => {
  it('an aborted signal fails openLayer itself', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await failure(openLayer(file('x', TAR), { signal: ac.signal }));
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it('mid-stream, plain and gzip: the next read is an AbortError and the file is closed', async () => {
    for (const data of [TAR, TAR_GZ]) {
      const path = file('layer', data);
      const ac = new AbortController();
      await abortAfterFirstChunk(await openLayer(path, { signal: ac.signal, highWaterMark: 64 * 1024 }), ac);
      expect(fdsOn(path)).toEqual([]);
    }
  });

  it('while waiting on a stream that gives nothing: rejected at once, and the stream destroyed', async () => {
    for (const head of [Buffer.from('etc/'), gzipSync(TAR).subarray(0, 10)]) {
      const source = new PassThrough();
      source.write(head);
      const ac = new AbortController();
      const layer = await openLayer(source, { signal: ac.signal });
      const it = layer.tar[Symbol.asyncIterator]();
      if (layer.compression === 'none') await it.next();
      const pending = it.next();
      setTimeout(() => ac.abort(), 20);
      expect(await failure(pending)).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      expect(source.destroyed).toBe(true);
    }
  });
});

describeWithTool('zstd', 'openLayer: zstd through the zstd command', () => {
  it('reads a zstd blob and leaves no child', async () => {
    const before = childPids();
    const z = await through(createCompressor('zstd', { zstd: 'command' }), [TAR]);
    const layer = await openLayer(file('layer.tar.zst', z), { zstd: 'command', expectedDiffId: digestOf(TAR) });
    expectBytes(await collect(layer.tar), TAR);
    expect(layer.verify()).toMatchObject({ digest: digestOf(z), diffId: digestOf(TAR), compressedBytes: z.length });
    expect(childPids()).toEqual(before);
  });

  it('an abort mid-stream kills and reaps the child and closes the file', async () => {
    const before = childPids();
    const z = await through(createCompressor('zstd', { zstd: 'command' }), [TAR]);
    const path = file('layer.tar.zst', z);
    const ac = new AbortController();
    await abortAfterFirstChunk(await openLayer(path, { zstd: 'command', signal: ac.signal, highWaterMark: 4096 }), ac);
    expect(childPids()).toEqual(before);
    expect(fdsOn(path)).toEqual([]);
  });

  it('a corrupt blob is ERR_LAYER_FORMAT with zstd\'s own words, and no child is left', async () => {
    const before = childPids();
    const bad = Buffer.from(ZSTD_FIXTURE);
    bad[100] = bad[100]! ^ 0xff;
    bad[101] = bad[101]! ^ 0xff;
    const layer = await openLayer(Readable.from([bad]), { zstd: 'command' });
    const err = await failure(collect(layer.tar));
    expect(isOverlayError(err, 'ERR_LAYER_FORMAT')).toBe(true);
    expect(err.message).toMatch(/^corrupt zstd stream: zstd: /);
    expect(childPids()).toEqual(before);
  });
});

describe('openLayer: bounded memory', () => {
  it('streams a 1 GiB gzip layer (generated, never on disk) in little memory', async () => {
    const SIZE = 1 << 30;
    // tar-ish: 512-byte headers and file bodies, compressible but not trivially.
    const block = Buffer.alloc(1 << 20);
    for (let i = 0; i < block.length; i += 512) block.write(`usr/share/doc/pkg-${i}/copyright\0${(i * 2654435761) % 1e9}`, i);
    const source = Readable.from(
      (function* () {
        for (let n = 0; n < SIZE; n += block.length) {
          block.writeUInt32LE(n, 100); // every MiB differs a little
          yield Buffer.from(block);
        }
      })(),
      { objectMode: false },
    ).pipe(createCompressor('gzip', { level: 1 }));

    // Memory is sampled after a full GC, so garbage not yet collected does not count; the
    // baseline is taken after the first 64 MiB, once zlib, the thread pool and the streams are
    // warm: what must not happen is growth with the size of the layer.
    const gc = gcFunction();
    let base: NodeJS.MemoryUsage | undefined;
    let peakRss = 0;
    let peakHeap = 0;
    let bytes = 0;
    const layer = await openLayer(source);
    for await (const c of layer.tar) {
      bytes += c.length;
      if (bytes % (64 << 20) < c.length) {
        gc();
        const m = process.memoryUsage();
        base ??= m;
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }
    }
    expect(bytes).toBe(SIZE);
    expect(layer.verify().bytes).toBe(SIZE);
    const rssGrowth = (peakRss - base!.rss) / 2 ** 20;
    const heapGrowth = (peakHeap - base!.heapUsed) / 2 ** 20;
    expect(rssGrowth, `rss grew ${rssGrowth.toFixed(1)} MiB`).toBeLessThan(64);
    expect(heapGrowth, `heap grew ${heapGrowth.toFixed(1)} MiB`).toBeLessThan(64);
  }, 120_000);
});
