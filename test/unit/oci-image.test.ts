/**
 * Reading images: OCI layouts, oci-archives and docker save archives listed and resolved the
 * same way; blobs verified; every malformed input refused with the error that says what is wrong.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { linkSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { hostPlatform, openImageSource, type ImageRef } from '../../src/oci/image.js';
import { platformMatches } from '../../src/oci/image/select.js';
import { writeBlob, writeIndex, writeOciLayout } from '../../src/oci/image/write.js';
import { blobFile, dockerSave25, dockerSaveOld, hex, layerTar, ociLayout, sha, tarDir } from '../helpers/images.js';
import { openFdCount, tempDir } from '../helpers/tmp.js';

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const byRef = (list: ImageRef[]) => [...list].sort((a, b) => (a.ref ?? '').localeCompare(b.ref ?? ''));
const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

const base = layerTar({ 'etc/os-release': 'ID=test\n', 'bin/': null });
const app = layerTar({ 'app/main.js': 'console.log(1)\n' });
const conf = layerTar({ 'app/config.json': '{}' });

/** chainIDs by hand, as image-spec config.md defines them. */
function handChain(diffIds: string[]): string[] {
  const out: string[] = [diffIds[0]!];
  for (const d of diffIds.slice(1)) out.push(`sha256:${createHash('sha256').update(`${out[out.length - 1]} ${d}`).digest('hex')}`);
  return out;
}

describe('an OCI image layout', () => {
  it('lists its images with refs and platforms, and resolves each to manifest, config and layers', async () => {
    const dir = await ociLayout([
      { ref: 'v1', layers: [{ data: base, createdBy: 'ADD base' }], platform: amd64 },
      { ref: 'v2', layers: [{ data: base }, { data: gzipSync(app), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }, { data: conf }], platform: amd64 },
    ]);
    await using src = await openImageSource(dir);
    expect(src.kind).toBe('oci-layout');
    const images = byRef(await src.images());
    expect(images.map((i) => [i.ref, i.platform, i.mediaType])).toEqual([
      ['v1', amd64, 'application/vnd.oci.image.manifest.v1+json'],
      ['v2', amd64, 'application/vnd.oci.image.manifest.v1+json'],
    ]);

    const v2 = await src.resolve('v2', amd64);
    expect(v2.ref).toBe('v2');
    expect(v2.manifestDigest).toBe(images[1]!.manifestDigest);
    const diffIds = [sha(base), sha(app), sha(conf)];
    expect(v2.layers.map((l) => l.diffId)).toEqual(diffIds);
    expect(v2.layers.map((l) => l.chainId)).toEqual(handChain(diffIds));
    // The gzip'd layer: its digest is of the compressed blob, its diffID of the tar.
    expect(v2.layers[1]!.digest).toBe(sha(gzipSync(app)));
    expect(v2.layers[1]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(v2.layers.map((l) => l.createdBy)).toEqual(['layer 0', 'layer 1', 'layer 2']);
    expect(v2.config.rootfs.diff_ids).toEqual(diffIds);
    expect(v2.configDigest).toBe(v2.manifest.config.digest);
    expect(v2.platform).toEqual(amd64);

    // Blobs stream their bytes, verified; JSON blobs parse.
    expect(await bytesOf(await src.blob(v2.layers[0]!.digest))).toEqual(base);
    expect(await src.readJson(v2.configDigest)).toEqual(v2.config);
    expect((await src.resolve('v1', amd64)).layers.map((l) => [l.chainId, l.createdBy])).toEqual([[sha(base), 'ADD base']]);
  });

  it('without a ref: the only image, or ERR_IMAGE listing the refs; an unknown ref lists them too', async () => {
    const one = await ociLayout([{ ref: 'only', layers: [{ data: base }] }]);
    await using a = await openImageSource(one);
    expect((await a.resolve()).ref).toBe('only');

    const two = await ociLayout([
      { ref: 'a', layers: [{ data: base }] },
      { ref: 'b', layers: [{ data: app }] },
    ]);
    await using b = await openImageSource(two);
    await expect(b.resolve()).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/several images.*a, b/) });
    await expect(b.resolve('c')).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/no image 'c'.*a, b/) });
    // A manifest digest names an image as well as a ref does.
    const [first] = byRef(await b.images());
    expect((await b.resolve(first!.manifestDigest)).ref).toBe('a');
  });

  it('createdBy comes from config.history with the empty_layer entries skipped', async () => {
    const dir = await ociLayout([
      {
        ref: 'h',
        layers: [{ data: base }, { data: app }],
        config: {
          history: [
            { created_by: '/bin/sh -c #(nop) ADD file:abc in /' },
            { created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
            { created_by: 'ENV X=1', empty_layer: true },
            { created_by: 'COPY app /app' },
            { created_by: 'LABEL a=b', empty_layer: true },
          ],
        },
      },
    ]);
    await using src = await openImageSource(dir);
    const img = await src.resolve('h');
    expect(img.layers.map((l) => l.createdBy)).toEqual(['/bin/sh -c #(nop) ADD file:abc in /', 'COPY app /app']);
  });

  it('a history that does not match the layers gives no createdBy rather than a wrong one', async () => {
    const dir = await ociLayout([{ ref: 'h', layers: [{ data: base }, { data: app }], config: { history: [{ created_by: 'only one' }] } }]);
    await using src = await openImageSource(dir);
    expect((await src.resolve('h')).layers.map((l) => l.createdBy)).toEqual([undefined, undefined]);
  });
});

describe('a multi-platform image (an index of indexes)', () => {
  async function multi(): Promise<{ dir: string; amd: string; arm: string }> {
    const dir = tempDir('ovl-multi-');
    const a = await writeOciLayout(dir, { layers: [{ data: base }], platform: amd64, index: false });
    const b = await writeOciLayout(dir, { layers: [{ data: app }], platform: arm64, index: false });
    const attestation = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha('attestation'),
      size: 11,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': a.manifestDigest },
    };
    const inner = await writeBlob(
      dir,
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [a.descriptor, b.descriptor, attestation] })),
      'application/vnd.oci.image.index.v1+json',
    );
    await writeIndex(dir, [{ ...inner, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }]);
    return { dir, amd: a.manifestDigest, arm: b.manifestDigest };
  }

  it('is flattened to its manifests, each with its platform and the ref (attestations left out)', async () => {
    const { dir, amd, arm } = await multi();
    await using src = await openImageSource(dir);
    expect(await src.images()).toEqual([
      { ref: 'multi', manifestDigest: amd, platform: amd64, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
      { ref: 'multi', manifestDigest: arm, platform: arm64, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    ]);
  });

  it('resolves to the platform asked for, the running one by default', async () => {
    const { dir, amd, arm } = await multi();
    await using src = await openImageSource(dir);
    const x = await src.resolve('multi', amd64);
    expect([x.manifestDigest, x.layers[0]!.diffId, x.platform]).toEqual([amd, sha(base), amd64]);
    const y = await src.resolve('multi', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect([y.manifestDigest, y.layers[0]!.diffId, y.platform]).toEqual([arm, sha(app), arm64]);
    // arm64 names v8 whether or not it says so.
    expect((await src.resolve('multi', { os: 'linux', architecture: 'arm64' })).manifestDigest).toBe(arm);
    const host = hostPlatform();
    if (platformMatches(amd64, host) || platformMatches(arm64, host)) {
      expect((await src.resolve()).manifestDigest).toBe(platformMatches(amd64, host) ? amd : arm);
    }
    await expect(src.resolve('multi', { os: 'linux', architecture: 's390x' })).rejects.toMatchObject({
      code: 'ERR_IMAGE',
      message: expect.stringMatching(/no manifest for linux\/s390x; it has: linux\/amd64, linux\/arm64\/v8/),
    });
    await expect(src.resolve('multi', { os: 'linux', architecture: 'arm64', variant: 'v7' })).rejects.toMatchObject({ code: 'ERR_IMAGE' });
  });

  it('a single image listed without a platform is checked against its config when a platform is asked', async () => {
    const dir = tempDir('ovl-noplat-');
    const w = await writeOciLayout(dir, { layers: [{ data: base }], platform: amd64, index: false });
    const { platform: _, ...bare } = w.descriptor;
    await writeIndex(dir, [bare]);
    await using src = await openImageSource(dir);
    expect((await src.resolve(undefined, amd64)).platform).toEqual(amd64);
    await expect(src.resolve(undefined, arm64)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/is for linux\/amd64, not linux\/arm64\/v8/) });
  });

  it('maps process.arch to OCI names', () => {
    expect(hostPlatform('x64')).toEqual(amd64);
    expect(hostPlatform('arm64')).toEqual(arm64);
    expect(hostPlatform('arm')).toEqual({ os: 'linux', architecture: 'arm' });
  });
});

describe('an oci-archive (a layout as one tar)', () => {
  it('lists and resolves as the directory does, reading blobs as byte ranges of the tar', async () => {
    const big = layerTar({ 'big.bin': 'x'.repeat(3 * 1024 * 1024 + 17), 'small': 's' });
    const dir = await ociLayout([
      { ref: 'latest', layers: [{ data: base }, { data: big }], platform: amd64 },
      { ref: 'gz', layers: [{ data: gzipSync(app), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }], platform: amd64 },
    ]);
    for (const dotSlash of [true, false]) {
      const path = tarDir(dir, join(tempDir('ovl-archive-'), 'image.tar'), { dotSlash });
      await using src = await openImageSource(path);
      expect(src.kind).toBe('oci-archive');
      expect(byRef(await src.images()).map((i) => [i.ref, i.platform])).toEqual([
        ['gz', amd64],
        ['latest', amd64],
      ]);
      const img = await src.resolve('latest', amd64);
      expect(img.layers.map((l) => l.diffId)).toEqual([sha(base), sha(big)]);
      expect(img.layers.map((l) => l.chainId)).toEqual(handChain([sha(base), sha(big)]));
      // (compared by digest: toEqual walks a 3 MiB buffer byte by byte)
      expect(sha(await bytesOf(await src.blob(img.layers[1]!.digest)))).toBe(sha(big));
      expect(await bytesOf(await src.blob(img.layers[0]!.digest))).toEqual(base);
      const gz = await src.resolve('gz');
      expect(await bytesOf(await src.blob(gz.layers[0]!.digest))).toEqual(gzipSync(app));
    }
  });

  it('follows a hard link: a blob stored as a link to an earlier entry of the same content', async () => {
    const dir = await ociLayout([{ ref: 'r', layers: [{ data: base }] }]);
    // GNU tar stores the second name of a file as a hard link to the first ('a-copy' sorts first).
    linkSync(join(dir, 'blobs', 'sha256', hex(sha(base))), join(dir, 'a-copy'));
    const path = tarDir(dir, join(tempDir('ovl-archive-'), 'image.tar'));
    expect(spawnSync('tar', ['-tvf', path]).stdout.toString()).toMatch(/^h.* link to \.\/a-copy$/m);
    await using src = await openImageSource(path);
    const img = await src.resolve('r');
    expect(await bytesOf(await src.blob(img.layers[0]!.digest))).toEqual(base);
  });

  it('a blob stream destroyed half-way leaves no open file behind', async () => {
    const big = layerTar({ 'big.bin': 'y'.repeat(2 * 1024 * 1024) });
    const dir = await ociLayout([{ ref: 'r', layers: [{ data: big }] }]);
    await using src = await openImageSource(dir);
    const img = await src.resolve('r');
    const before = openFdCount();
    const stream = await src.blob(img.layers[0]!.digest);
    for await (const _ of stream) break;
    await new Promise((r) => setTimeout(r, 50));
    expect(openFdCount()).toBe(before);
  });

  it('a corrupted blob inside the archive fails its stream with ERR_DIGEST_MISMATCH', async () => {
    const dir = await ociLayout([{ ref: 'r', layers: [{ data: base }] }]);
    const wrong = Buffer.from(base);
    wrong[600] = wrong[600]! ^ 1;
    writeFileSync(join(dir, 'blobs', 'sha256', hex(sha(base))), wrong);
    await using src = await openImageSource(tarDir(dir, join(tempDir('ovl-archive-'), 'image.tar')));
    const img = await src.resolve('r');
    await expect(bytesOf(await src.blob(img.layers[0]!.digest))).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH', expected: sha(base), actual: sha(wrong) });
  });
});

describe('a docker save archive', () => {
  const images = [
    { tags: ['busybox:latest', 'busybox:1.36'], layers: [base, app], history: [{ created_by: 'ADD rootfs' }, { created_by: 'CMD ["sh"]', empty_layer: true }, { created_by: 'COPY app' }] },
    { tags: ['example.com/team/app:2'], layers: [base, conf], platform: { os: 'linux', architecture: 'arm64' } },
  ];

  it('before Docker 25: RepoTags from manifest.json, layers as <id>/layer.tar (a shared one a symlink)', async () => {
    await using src = await openImageSource(dockerSaveOld(images));
    expect(src.kind).toBe('docker-archive');
    const listed = byRef(await src.images());
    expect(listed.map((i) => [i.ref, i.platform])).toEqual([
      ['busybox:1.36', amd64],
      ['busybox:latest', amd64],
      ['example.com/team/app:2', { os: 'linux', architecture: 'arm64' }],
    ]);
    expect(listed[0]!.manifestDigest).toBe(listed[1]!.manifestDigest);
    const img = await src.resolve('busybox:latest');
    expect(img.layers.map((l) => [l.digest, l.diffId, l.createdBy])).toEqual([
      [sha(base), sha(base), 'ADD rootfs'],
      [sha(app), sha(app), 'COPY app'],
    ]);
    expect(img.layers.map((l) => l.chainId)).toEqual(handChain([sha(base), sha(app)]));
    expect(img.manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(await bytesOf(await src.blob(img.layers[1]!.digest))).toEqual(app);
    // The second image's base layer is a symlink to the first's layer.tar.
    const other = await src.resolve('example.com/team/app:2', { os: 'linux', architecture: 'arm64' });
    expect(await bytesOf(await src.blob(other.layers[0]!.digest))).toEqual(base);
    expect(await bytesOf(await src.blob(other.layers[1]!.digest))).toEqual(conf);
    // The made-up manifest is a blob like any other.
    expect(await src.readJson(img.manifestDigest)).toEqual(img.manifest);
    expect(await bytesOf(await src.blob(img.configDigest))).toEqual(Buffer.from(JSON.stringify(await src.readJson(img.configDigest))));
  });

  it('Docker ≥ 25: the OCI index gives the manifests, manifest.json the RepoTags', async () => {
    const { path, manifestDigests } = await dockerSave25(images);
    await using src = await openImageSource(path);
    expect(src.kind).toBe('docker-archive');
    expect(byRef(await src.images()).map((i) => [i.ref, i.manifestDigest, i.platform])).toEqual([
      ['busybox:1.36', manifestDigests[0], amd64],
      ['busybox:latest', manifestDigests[0], amd64],
      ['example.com/team/app:2', manifestDigests[1], { os: 'linux', architecture: 'arm64' }],
    ]);
    const img = await src.resolve('busybox:1.36');
    expect(img.manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect((await src.resolve('busybox')).ref).toBe('busybox:latest');
    expect((await src.resolve('docker.io/library/busybox:1.36')).ref).toBe('busybox:1.36');
    expect(img.layers.map((l) => [l.diffId, l.createdBy])).toEqual([
      [sha(base), 'ADD rootfs'],
      [sha(app), 'COPY app'],
    ]);
    expect(await bytesOf(await src.blob(img.layers[1]!.digest))).toEqual(app);
    await expect(src.resolve()).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/busybox:latest, busybox:1.36, example.com\/team\/app:2/) });
  });

  it('a compressed layer file (other tools write them) is found by the digest of its bytes', async () => {
    await using src = await openImageSource(dockerSaveOld([{ tags: ['gz:1'], layers: [base, app], gzip: true }]));
    const img = await src.resolve('gz:1');
    expect(img.layers.map((l) => [l.mediaType, l.digest, l.diffId])).toEqual([
      ['application/vnd.docker.image.rootfs.diff.tar.gzip', sha(gzipSync(base)), sha(base)],
      ['application/vnd.docker.image.rootfs.diff.tar.gzip', sha(gzipSync(app)), sha(app)],
    ]);
    expect(await bytesOf(await src.blob(img.layers[1]!.digest))).toEqual(gzipSync(app));
  });

  it('blobs are found by digest before anything was listed', async () => {
    await using src = await openImageSource(dockerSaveOld(images));
    expect(await bytesOf(await src.blob(sha(conf)))).toEqual(conf);
  });

  it('an image saved by id (no RepoTags) is listed without a ref', async () => {
    await using src = await openImageSource(dockerSaveOld([{ tags: [], layers: [base] }]));
    const [only] = await src.images();
    expect(only!.ref).toBeUndefined();
    expect((await src.resolve()).layers.map((l) => l.diffId)).toEqual([sha(base)]);
  });

  it('a layer path that climbs out of the archive is refused', async () => {
    const dir = tempDir('ovl-docker-bad-');
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['../../etc/passwd'] }]));
    await using src = await openImageSource(tarDir(dir, join(tempDir('ovl-docker-tar-'), 'bad.tar'), { dotSlash: false }));
    await expect(src.images()).rejects.toMatchObject({ code: 'ERR_IMAGE', field: '[0].Layers[0]', message: expect.stringMatching(/outside the image/) });
  });
});

describe('what is refused', () => {
  async function layout() {
    const dir = tempDir('ovl-bad-');
    const w = await writeOciLayout(dir, { ref: 'r', layers: [{ data: base }, { data: app }] });
    return { dir, w };
  }

  // Before: open(2) of a FIFO blocks until a writer comes, so a layout whose index.json or blob
  // was a FIFO (or a symlink to one) hung forever, holding a thread of libuv's pool.
  it('a FIFO where a document or a blob should be: ERR_IMAGE at once, no hang', async () => {
    const { dir, w } = await layout();
    const blob = join(dir, 'blobs', 'sha256', hex(w.layers[1]!.digest));
    rmSync(blob);
    expect(spawnSync('mkfifo', [blob]).status).toBe(0);
    await using src = await openImageSource(dir);
    await expect(src.blob(w.layers[1]!.digest)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/missing/) });
    rmSync(join(dir, 'index.json'));
    expect(spawnSync('mkfifo', [join(dir, 'index.json')]).status).toBe(0);
    await using again = await openImageSource(dir);
    await expect(again.images()).rejects.toMatchObject({ code: 'ERR_IMAGE' });
  }, 10_000);

  it('a missing blob: ERR_IMAGE from blob(), readJson() and resolve()', async () => {
    const { dir, w } = await layout();
    rmSync(join(dir, 'blobs', 'sha256', hex(w.layers[1]!.digest)));
    await using src = await openImageSource(dir);
    await expect(src.blob(w.layers[1]!.digest)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/missing/) });
    rmSync(join(dir, 'blobs', 'sha256', hex(w.configDigest)));
    await expect(src.readJson(w.configDigest)).rejects.toMatchObject({ code: 'ERR_IMAGE' });
    await expect(src.resolve('r')).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringContaining(w.configDigest) });
  });

  it('a blob with the wrong content: its stream fails with ERR_DIGEST_MISMATCH at its end; readJson at once', async () => {
    const { dir, w } = await layout();
    writeFileSync(join(dir, 'blobs', 'sha256', hex(w.layers[0]!.digest)), app);
    await using src = await openImageSource(dir);
    const stream = await src.blob(w.layers[0]!.digest, { mediaType: 'application/vnd.oci.image.layer.v1.tar' });
    await expect(bytesOf(stream)).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH', expected: sha(base), actual: sha(app) });
    writeFileSync(join(dir, 'blobs', 'sha256', hex(w.configDigest)), '{"rootfs":{"type":"layers","diff_ids":[]}}');
    await expect(src.resolve('r')).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH', expected: w.configDigest });
  });

  it('a bad index.json: not JSON, a field missing or of the wrong type (named)', async () => {
    const { dir, w } = await layout();
    const cases: Array<[string, RegExp]> = [
      ['{"schemaVersion":2,', /index\.json: not valid JSON/],
      ['{"schemaVersion":2}', /index\.json: manifests: expected an array, found missing/],
      ['{"schemaVersion":3,"manifests":[]}', /index\.json: schemaVersion: expected 2/],
      [JSON.stringify({ schemaVersion: 2, manifests: [{ ...w.descriptor, size: '12' }] }), /manifests\[0\]\.size: expected a non-negative integer/],
      [JSON.stringify({ schemaVersion: 2, manifests: [{ ...w.descriptor, mediaType: undefined }] }), /manifests\[0\]\.mediaType: expected a string, found missing/],
      [JSON.stringify({ schemaVersion: 2, manifests: [{ ...w.descriptor, platform: { os: 'linux' } }] }), /manifests\[0\]\.platform\.architecture/],
      ['[]', /index\.json: \(document\): expected an object/],
    ];
    for (const [text, message] of cases) {
      writeFileSync(join(dir, 'index.json'), text);
      await using src = await openImageSource(dir);
      await expect(src.images(), text).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(message) });
    }
    rmSync(join(dir, 'index.json'));
    await using src = await openImageSource(dir);
    await expect(src.images()).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/index\.json: missing/) });
  });

  it('a bad manifest or config names the blob and the field', async () => {
    const dir = tempDir('ovl-bad-');
    const w = await writeOciLayout(dir, { ref: 'r', layers: [{ data: base }], index: false });
    const manifest = await writeBlob(dir, Buffer.from(JSON.stringify({ ...w.manifest, layers: [{ ...w.manifest.layers[0], digest: 'md5:abc' }] })), w.manifest.mediaType!);
    await writeIndex(dir, [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'r' } }]);
    await using src = await openImageSource(dir);
    await expect(src.resolve('r')).rejects.toMatchObject({
      code: 'ERR_IMAGE',
      field: 'layers[0].digest',
      message: expect.stringContaining(`manifest ${manifest.digest} ('r'): layers[0].digest`),
    });
    const config = await writeBlob(dir, Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: 'nope' } })), 'application/vnd.oci.image.config.v1+json');
    const m2 = await writeBlob(dir, Buffer.from(JSON.stringify({ ...w.manifest, config })), w.manifest.mediaType!);
    await writeIndex(dir, [{ ...m2, annotations: { 'org.opencontainers.image.ref.name': 'r' } }]);
    await using src2 = await openImageSource(dir);
    await expect(src2.resolve('r')).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringContaining(`config ${config.digest}: rootfs.diff_ids: expected an array`) });
  });

  it("a manifest whose layer count is not the config's diff_ids count", async () => {
    const dir = await ociLayout([{ ref: 'r', layers: [{ data: base }, { data: app }], config: { rootfs: { type: 'layers', diff_ids: [sha(base)] } } }]);
    await using src = await openImageSource(dir);
    await expect(src.resolve('r')).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/2 layers, but its config .* has 1 rootfs\.diff_ids/) });
  });

  it('a Docker schema 1 manifest, whether its descriptor or its content says so', async () => {
    const dir = tempDir('ovl-schema1-');
    const s1 = { schemaVersion: 1, name: 'library/busybox', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [] };
    const blob = await writeBlob(dir, Buffer.from(JSON.stringify(s1)), 'application/vnd.docker.distribution.manifest.v1+prettyjws');
    await writeIndex(dir, [
      { ...blob, annotations: { 'org.opencontainers.image.ref.name': 'by-type' } },
      { ...blob, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { 'org.opencontainers.image.ref.name': 'by-content' } },
    ]);
    await using src = await openImageSource(dir);
    await expect(src.resolve('by-type')).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/schema 1.*not supported/) });
    await expect(src.resolve('by-content')).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/schema 1.*not supported/) });
  });

  it('a digest that would climb out of blobs/ (sha256:../../etc/passwd), as an argument or in the index', async () => {
    const { dir, w } = await layout();
    await using src = await openImageSource(dir);
    for (const bad of ['sha256:../../etc/passwd', 'sha256:' + '0'.repeat(63) + '/', '../../../etc/passwd', 'sha512:' + 'a'.repeat(128)]) {
      await expect(src.blob(bad as `sha256:${string}`), bad).rejects.toMatchObject({ code: 'ERR_IMAGE' });
      await expect(src.readJson(bad as `sha256:${string}`), bad).rejects.toMatchObject({ code: 'ERR_IMAGE' });
    }
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...w.descriptor, digest: 'sha256:../../etc/passwd' }] }));
    await using src2 = await openImageSource(dir);
    await expect(src2.images()).rejects.toMatchObject({ code: 'ERR_IMAGE', field: 'manifests[0].digest', message: expect.stringMatching(/not a digest/) });
  });

  it('writeOciLayout refuses a layer that is not what its media type says, and leaves no file', async () => {
    const dir = tempDir('ovl-write-');
    await expect(writeOciLayout(dir, { layers: [{ data: base, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }] })).rejects.toMatchObject({ code: 'ERR_LAYER_FORMAT' });
    expect(readdirSync(join(dir, 'blobs')).filter((n) => n !== 'sha256')).toEqual([]);
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('a JSON blob over 4 MiB is refused before it is read', async () => {
    const dir = tempDir('ovl-big-');
    const big = await writeBlob(dir, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), 'application/json');
    await writeIndex(dir, []);
    await using src = await openImageSource(dir);
    await expect(src.readJson(big.digest)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/over the 4194304-byte limit/) });
  });

  it('what is not an image: says what was expected', async () => {
    const empty = tempDir('ovl-empty-');
    await expect(openImageSource(empty)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/neither oci-layout nor manifest\.json: expected an OCI image layout/) });
    await expect(openImageSource(join(empty, 'nope'))).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/no such file/) });
    const notTar = join(empty, 'x.tar');
    writeFileSync(notTar, 'hello, this is not a tar file'.repeat(40));
    await expect(openImageSource(notTar)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/not a valid tar/) });
    const other = tempDir('ovl-other-');
    writeFileSync(join(other, 'README'), 'hi');
    await expect(openImageSource(tarDir(other, join(empty, 'other.tar')))).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/neither oci-layout nor manifest\.json at its root/) });
    writeFileSync(join(other, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expect(openImageSource(other)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/only 1\.x layouts/) });
  });

  it('a truncated oci-archive is refused when opened', async () => {
    const dir = await ociLayout([{ ref: 'r', layers: [{ data: base }] }]);
    const path = tarDir(dir, join(tempDir('ovl-trunc-'), 'image.tar'));
    const whole = blobFile(dir, sha(base));
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.indexOf(whole) + 100));
    await expect(openImageSource(path)).rejects.toMatchObject({ code: 'ERR_IMAGE', message: expect.stringMatching(/not a valid tar/) });
  });
});
