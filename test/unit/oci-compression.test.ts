/**
 * src/oci/compression.ts: detection by magic number and media type, and the streams: round
 * trips through every implementation present, multi-member gzip and multi-frame zstd, corrupt
 * and truncated input as ERR_LAYER_FORMAT, and a zstd child process that never outlives its
 * stream.
 */
import { createHash } from 'node:crypto';
import zlib, { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compressionOfMediaType,
  createCompressor,
  createDecompressor,
  detectCompression,
  LAYER_MEDIA_TYPES,
  mediaTypeOf,
  zstdSupport,
  type Compression,
  type ZstdImplementation,
} from '../../src/oci/compression.js';
import { isOverlayError } from '../../src/spec/errors.js';
import { childPids, collect, expectBytes, hasZstdCommand, numberedLines, through, ZSTD_FIXTURE, ZSTD_TWO_FRAMES } from '../helpers/oci.js';
import { describeWithTool } from '../helpers/privileged.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const zlibHasZstd = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

describe('detectCompression', () => {
  it('knows gzip and zstd by their magic numbers, and takes anything else for a tar', () => {
    expect(detectCompression(gzipSync('x'))).toBe('gzip');
    expect(detectCompression(ZSTD_FIXTURE)).toBe('zstd');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    // A tar header starts with the entry's name.
    expect(detectCompression(Buffer.from('etc/\0\0\0\0'))).toBe('none');
    expect(detectCompression(Buffer.alloc(512))).toBe('none');
  });

  it('decides on a stream shorter than the magic: what is not a whole magic number is not compressed', () => {
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
    expect(detectCompression(Buffer.from([0x1f]))).toBe('none');
    expect(detectCompression(Buffer.from([0x1f, 0x8b]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f]))).toBe('none');
  });
});

describe('media types', () => {
  it.each([
    ['application/vnd.oci.image.layer.v1.tar', 'none'],
    ['application/vnd.oci.image.layer.v1.tar+gzip', 'gzip'],
    ['application/vnd.oci.image.layer.v1.tar+zstd', 'zstd'],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar', 'none'],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'gzip'],
    ['application/vnd.oci.image.layer.nondistributable.v1.tar+zstd', 'zstd'],
    ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'gzip'],
    ['application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 'gzip'],
  ] as const)('%s is %s', (mediaType, c) => {
    expect(compressionOfMediaType(mediaType)).toBe(c);
  });

  it('refuses an unknown one with ERR_LAYER_FORMAT naming it', () => {
    for (const t of ['application/vnd.oci.image.layer.v1.tar+gzip+encrypted', 'application/vnd.oci.image.config.v1+json', '', 'toString']) {
      let err: unknown;
      try {
        compressionOfMediaType(t);
      } catch (e) {
        err = e;
      }
      expect(isOverlayError(err, 'ERR_LAYER_FORMAT')).toBe(true);
      expect((err as Error).message).toContain(`'${t}'`);
    }
  });

  it('mediaTypeOf() gives a type compressionOfMediaType() reads back, OCI by default', () => {
    for (const c of ['none', 'gzip', 'zstd'] as const) {
      for (const flavour of ['oci', 'docker'] as const) expect(compressionOfMediaType(mediaTypeOf(c, flavour))).toBe(c);
    }
    expect(mediaTypeOf('gzip')).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(mediaTypeOf('none')).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(mediaTypeOf('gzip', 'docker')).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    expect(Object.keys(LAYER_MEDIA_TYPES)).toContain(mediaTypeOf('zstd', 'docker'));
    expect(() => mediaTypeOf('xz' as Compression)).toThrow(TypeError);
  });
});

describe('zstdSupport', () => {
  it('names the implementation for each direction; decompression always has one', () => {
    const s = zstdSupport();
    expect(s.decompress).toMatch(zlibHasZstd ? /node:zlib/ : hasZstdCommand ? /zstd command/ : /fzstd/);
    if (zlibHasZstd || hasZstdCommand) expect(s.compress).toBeTypeOf('string');
    else expect(s.compress).toBeUndefined();
  });

  it('a forced implementation that is not here is ERR_UNSUPPORTED saying why', () => {
    let err: unknown;
    try {
      createCompressor('zstd', { zstd: 'js' });
    } catch (e) {
      err = e;
    }
    expect(isOverlayError(err, 'ERR_UNSUPPORTED')).toBe(true);
    expect((err as Error).message).toMatch(/fzstd only decompresses/);
    if (!zlibHasZstd) expect(() => createDecompressor('zstd', { zstd: 'zlib' })).toThrow(/no zstd in zlib/);
  });

  it('checks levels', () => {
    expect(() => createCompressor('gzip', { level: 10 })).toThrow(RangeError);
    expect(() => createCompressor('gzip', { level: 1.5 })).toThrow(TypeError);
    expect(() => createCompressor('zstd', { level: 0 })).toThrow(RangeError);
  });
});

describe('none and gzip', () => {
  it("'none' passes bytes through", async () => {
    const data = numberedLines(100);
    expectBytes(await through(createDecompressor('none'), [data]), data);
    expectBytes(await through(createCompressor('none'), [data]), data);
  });

  it('round-trips through gzip at a given level', async () => {
    const data = numberedLines(5000);
    const z = await through(createCompressor('gzip', { level: 1 }), [data]);
    expect(detectCompression(z)).toBe('gzip');
    expect(z.length).toBeLessThan(data.length / 3);
    expectBytes(await through(createDecompressor('gzip'), [z]), data);
  });

  it('decodes concatenated gzip members whole (pigz, multi-member files)', async () => {
    const a = numberedLines(300, 'first');
    const b = numberedLines(300, 'second');
    const c = Buffer.from('third, stored\n');
    const multi = Buffer.concat([gzipSync(a), gzipSync(b), gzipSync(c, { level: 0 })]);
    // fed whole and split at every member boundary and within
    expectBytes(await through(createDecompressor('gzip'), [multi]), Buffer.concat([a, b, c]));
    const parts = [multi.subarray(0, 7), multi.subarray(7, gzipSync(a).length + 3), multi.subarray(gzipSync(a).length + 3)];
    expectBytes(await through(createDecompressor('gzip'), parts), Buffer.concat([a, b, c]));
  });

  it('a truncated gzip stream is ERR_LAYER_FORMAT "truncated gzip stream"', async () => {
    const z = gzipSync(numberedLines(2000));
    for (const cut of [z.length - 1, z.length - 8, Math.floor(z.length / 2), 5]) {
      const err = await failure(through(createDecompressor('gzip'), [z.subarray(0, cut)]));
      expect(isOverlayError(err, 'ERR_LAYER_FORMAT'), String(err)).toBe(true);
      expect(err.message).toBe('truncated gzip stream');
    }
  });

  it('a corrupt gzip stream is ERR_LAYER_FORMAT "corrupt gzip stream: …" with zlib\'s error as the cause', async () => {
    const z = gzipSync(numberedLines(2000));
    const bad = Buffer.from(z);
    bad[3] = 0xff; // reserved FLG bits
    const bad2 = Buffer.from(z);
    for (let i = 20; i < 60; i++) bad2[i] = (bad2[i]! + 0x55) & 0xff;
    const crc = Buffer.from(z);
    crc[crc.length - 6] = crc[crc.length - 6]! ^ 0xff; // the CRC32 of the trailer
    for (const b of [bad, bad2, crc]) {
      const err = await failure(through(createDecompressor('gzip'), [b]));
      expect(isOverlayError(err, 'ERR_LAYER_FORMAT'), String(err)).toBe(true);
      expect(err.message).toMatch(/^corrupt gzip stream: /);
      expect((err as { cause?: { code?: string } }).cause?.code).toMatch(/^Z_/);
    }
  });
});

/** The zstd tests, for one implementation. */
function zstdDecodingTests(impl: ZstdImplementation): void {
  it('decodes a frame made by zstd 1.5.4 (level 19, checksum)', async () => {
    const out = await through(createDecompressor('zstd', { zstd: impl }), [ZSTD_FIXTURE]);
    expect(sha(out)).toBe(sha(numberedLines(400)));
  });

  it('decodes it fed a byte at a time', async () => {
    const bytes = [...ZSTD_FIXTURE].map((b) => Buffer.from([b]));
    expectBytes(await through(createDecompressor('zstd', { zstd: impl }), bytes), numberedLines(400));
  });

  it('decodes concatenated frames whole', async () => {
    expect((await through(createDecompressor('zstd', { zstd: impl }), [ZSTD_TWO_FRAMES])).toString()).toBe('hello, overlay layers\nsecond frame\n');
  });

  it('a truncated zstd stream is ERR_LAYER_FORMAT "truncated zstd stream"', async () => {
    for (const cut of [ZSTD_FIXTURE.length - 1, ZSTD_FIXTURE.length - 4, 200, 10]) {
      const err = await failure(through(createDecompressor('zstd', { zstd: impl }), [ZSTD_FIXTURE.subarray(0, cut)]));
      expect(isOverlayError(err, 'ERR_LAYER_FORMAT'), `${cut}: ${String(err)}`).toBe(true);
      expect(err.message).toMatch(/^truncated zstd stream/);
    }
  });

  it('a corrupt zstd stream is ERR_LAYER_FORMAT "corrupt zstd stream: …"', async () => {
    const bad = Buffer.from(ZSTD_FIXTURE);
    bad[4] = 0xff; // frame header descriptor: reserved bit set
    const err = await failure(through(createDecompressor('zstd', { zstd: impl }), [bad]));
    expect(isOverlayError(err, 'ERR_LAYER_FORMAT'), String(err)).toBe(true);
    expect(err.message).toMatch(/^corrupt zstd stream: /);
  });
}

describe('zstd in JavaScript (fzstd): always present', () => {
  zstdDecodingTests('js');

  it('honours backpressure on data that expands a thousandfold', async () => {
    // 64 MiB of zeros is a few KiB of zstd: the readable buffer must not take it all at once.
    const zeros = Buffer.from('KLUv/QRoTAAACAABAPz/ORACAgAQAAIAEAACABAAAgAQAAIAEAACABAAAwAQAPE+FuE=', 'base64'); // 1 MiB of zeros, one frame (zstd -19)
    const frames = Array.from({ length: 64 }, () => zeros);
    const dec = createDecompressor('zstd', { zstd: 'js' });
    frames.forEach((f) => dec.write(f));
    dec.end();
    await new Promise((r) => setTimeout(r, 50));
    expect(dec.readableLength).toBeLessThanOrEqual(4 << 20);
    const out = await collect(dec);
    expectBytes(out, Buffer.alloc(64 << 20));
  });
});

describe('zstd in node:zlib (Node ≥ 22.15)', () => {
  it.skipIf(!zlibHasZstd)(`round-trips [${zlibHasZstd ? 'present' : `skipped: Node.js ${process.versions.node} has no zlib zstd`}]`, async () => {
    const data = numberedLines(3000);
    const z = await through(createCompressor('zstd', { zstd: 'zlib', level: 3 }), [data]);
    expectBytes(await through(createDecompressor('zstd', { zstd: 'zlib' }), [z]), data);
  });
});

describeWithTool('zstd', 'zstd through the zstd command', () => {
  zstdDecodingTests('command');

  it('round-trips and its frames decode with fzstd too', async () => {
    const data = numberedLines(20000);
    const z = await through(createCompressor('zstd', { zstd: 'command', level: 3 }), [data]);
    expect(detectCompression(z)).toBe('zstd');
    expectBytes(await through(createDecompressor('zstd', { zstd: 'command' }), [z]), data);
    expectBytes(await through(createDecompressor('zstd', { zstd: 'js' }), [z]), data);
  });

  it('a destroyed stream kills and reaps its child before it closes', async () => {
    const before = childPids();
    const dec = createDecompressor('zstd', { zstd: 'command' });
    dec.write(ZSTD_FIXTURE.subarray(0, 100));
    await new Promise((r) => setTimeout(r, 20));
    expect(childPids().length).toBe(before.length + 1);
    const closed = new Promise((r) => dec.once('close', r));
    dec.destroy();
    await closed;
    expect(childPids()).toEqual(before);
  });

  it('a failure leaves no child either', async () => {
    const before = childPids();
    await failure(through(createDecompressor('zstd', { zstd: 'command' }), [Buffer.from('not zstd at all')]));
    expect(childPids()).toEqual(before);
  });
});

describe('property: any bytes, split anywhere, round-trip and keep their digest', () => {
  const chunked = fc
    .tuple(fc.uint8Array({ maxLength: 20000 }), fc.array(fc.nat(), { maxLength: 8 }))
    .map(([bytes, cuts]) => {
      const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
      const parts: Uint8Array[] = [];
      let at = 0;
      for (const p of [...points, bytes.length]) {
        parts.push(bytes.subarray(at, p));
        at = p;
      }
      return { bytes, parts };
    });
  const runs = (c: Compression, impl?: ZstdImplementation) =>
    fc.assert(
      fc.asyncProperty(chunked, fc.integer({ min: 1, max: 9 }), async ({ bytes, parts }, level) => {
        const z = await through(createCompressor(c, impl === undefined ? { level: c === 'gzip' ? level : Math.min(level, 3) } : { zstd: impl, level: Math.min(level, 3) }), parts);
        const zParts = [z.subarray(0, z.length >> 1), z.subarray(z.length >> 1)];
        const out = await through(createDecompressor(c, impl === undefined ? {} : { zstd: impl }), zParts);
        expect(sha(out)).toBe(sha(bytes));
        if (c === 'zstd') expect(sha(await through(createDecompressor('zstd', { zstd: 'js' }), zParts))).toBe(sha(bytes));
      }),
      { numRuns: c === 'zstd' ? 25 : 60 },
    );

  it('gzip', () => runs('gzip'));
  it('none', () => runs('none'));
  it('zstd (the zstd command, else zlib)', async (ctx) => {
    if (!hasZstdCommand && !zlibHasZstd) ctx.skip('no zstd compressor here');
    await runs('zstd', hasZstdCommand ? 'command' : 'zlib');
  });
});
