/**
 * pull() against a real registry (CNCF distribution), the images put there by skopeo from OCI
 * layouts the tests build: the merged view a pulled image gives against the same layout imported
 * directly, platforms of an index, layers the store has (by chainID, or by diffID on another
 * base) not downloaded, pulls by digest, the faults of the proxy in front of the registry (a
 * connection cut mid-blob, a flipped byte, 503/429, an abort), auth (htpasswd, token) and TLS.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MNT, openStore, pull, RegistryError, sys, type Store } from '../../src/index.js';
import { hostPlatform, type PlatformSpec } from '../../src/oci/image/select.js';
import { MediaType, REF_NAME } from '../../src/oci/image/types.js';
import { writeBlob, writeIndex, writeOciLayout, type WriteLayer } from '../../src/oci/image/write.js';
import type { ImportProgress } from '../../src/store/images.js';
import { layerTar, sha } from '../helpers/images.js';
import { walkView, type Seen } from '../helpers/merged.js';
import { describeWithRegistry, skopeo, useRegistry, type RegistryServer } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/registry-proxy.js';
import { pythonTar, type TarSpecEntry } from '../helpers/tars.js';
import { mountsUnder, tempDir } from '../helpers/tmp.js';

const GZIP = MediaType.ociLayerGzip;
const T = 1_700_000_000;

// --- layers --------------------------------------------------------------------------------

/** A base with a few hundred KB of noise (a blob big enough to cut in the middle, or to slow). */
const BASE_FILES = {
  'etc/os-release': 'ID=base\n',
  'bin/sh': '#!sh\n',
  'usr/share/doc/readme': 'base docs\n',
  'usr/share/doc/keep': 'kept\n',
  'opt/data/a': 'a\n',
  'opt/data/b': 'b\n',
  'data/noise': randomBytes(300_000).toString('base64'),
};

/** An upper layer: a whiteout, an opaque directory, a symlink and a hardlink (Python's tarfile, every directory listed). */
function upperTar(): Buffer {
  const d = (name: string): TarSpecEntry => ({ name, type: 'dir', mode: 0o755, mtime: T });
  const entries: TarSpecEntry[] = [
    d('bin'),
    { name: 'bin/ash', type: 'symlink', linkname: 'sh', mtime: T },
    d('usr'),
    d('usr/bin'),
    { name: 'usr/bin/tool', data: 'tool v1\n', mode: 0o755, mtime: T },
    { name: 'usr/bin/tool-link', type: 'hardlink', linkname: 'usr/bin/tool', mtime: T },
    d('usr/share'),
    d('usr/share/doc'),
    { name: 'usr/share/doc/.wh.readme', data: '', mtime: T },
    d('opt'),
    d('opt/data'),
    { name: 'opt/data/.wh..wh..opq', data: '', mtime: T },
    { name: 'opt/data/c', data: 'c only\n', mtime: T },
  ];
  return readFileSync(pythonTar(join(tempDir('ovl-tar-'), 'upper.tar'), entries));
}

interface Layers {
  base: Buffer;
  otherBase: Buffer;
  upper: Buffer;
  app: Buffer;
  tools: Buffer;
}
let layersMade: Layers | undefined;
/** The layer tars, made once (GNU tar's pax headers carry times: a shared layer must be the same bytes). */
function layers(): Layers {
  layersMade ??= {
    base: layerTar(BASE_FILES),
    otherBase: layerTar({ 'etc/os-release': 'ID=other\n', 'srv/other': 'another base\n' }),
    upper: upperTar(),
    app: layerTar({ 'app/server.py': 'print("serving")\n', 'etc/app.conf': 'port=80\n' }),
    tools: layerTar({ 'usr/local/bin/t': 'tools\n' }),
  };
  return layersMade;
}
const gz = (tar: Buffer): WriteLayer => ({ data: gzipSync(tar), mediaType: GZIP });

interface Layout {
  dir: string;
  ref: string;
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
}

/** Layouts outlive a test (each image is pushed once, and compared with in several tests): removed after all. */
const layoutDirs: string[] = [];
afterAll(() => {
  for (const d of layoutDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An OCI layout with one image (gzip layers), its ref `v1`. */
async function layout(tars: Buffer[], platform?: PlatformSpec): Promise<Layout> {
  const dir = mkdtempSync(join(tmpdir(), 'ovl-layout-'));
  layoutDirs.push(dir);
  const w = await writeOciLayout(dir, { layers: tars.map(gz), ref: 'v1', ...(platform ? { platform } : {}) });
  return { dir, ref: 'v1', manifestDigest: w.manifestDigest, configDigest: w.configDigest, layerDigests: w.layers.map((l) => l.digest) };
}

/** skopeo copies `oci:DIR:REF` to the registry as it is (digests preserved). */
async function push(l: { dir: string; ref: string }, reg: RegistryServer, repo: string, extra: string[] = []): Promise<void> {
  await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', ...extra, `oci:${l.dir}:${l.ref}`, `docker://${reg.host}/${repo}`]);
}

// --- stores --------------------------------------------------------------------------------

let roots: string[] = [];

async function newStore(): Promise<Store> {
  const root = join(tempDir('ovl-pull-'), 'store');
  roots.push(root);
  return openStore({ root });
}

afterEach(() => {
  const left = roots.flatMap((r) => mountsUnder(r));
  for (const m of [...left].reverse()) sys.umount2Sync(m, { flags: MNT.DETACH });
  roots = [];
  expect(left).toEqual([]);
});

let containerSeq = 0;
/** The merged view of a container of `image` (mounted, walked, unmounted, removed). */
async function viewOf(store: Store, image: string): Promise<Map<string, Seen>> {
  const name = `v${++containerSeq}`;
  await store.createContainer(image, { name });
  try {
    const m = await store.mountContainer(name);
    try {
      return walkView(m.merged);
    } finally {
      await store.unmountContainer(name);
    }
  } finally {
    await store.removeContainer(name, { force: true });
  }
}

/** The view the same layout gives imported directly into a store of its own. */
async function layoutView(l: Layout): Promise<{ id: string; view: Map<string, Seen> }> {
  const store = await newStore();
  const [img] = await store.importImage(l.dir, { ref: l.ref });
  return { id: img!.id, view: await viewOf(store, img!.id) };
}

/** Nothing of an image left in the store: no image, no layer record or tar-split, no layer dir or link, no temp file. */
async function expectClean(store: Store): Promise<void> {
  expect(await store.images()).toEqual([]);
  const root = store.root;
  expect(readdirSync(join(root, 'imagedb', 'sha256'))).toEqual([]);
  expect(readdirSync(join(root, 'layerdb', 'sha256'))).toEqual([]);
  expect(readdirSync(join(root, 'overlay'))).toEqual(['l']);
  expect(readdirSync(join(root, 'overlay', 'l'))).toEqual([]);
  const temps: string[] = [];
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (/\.tmp-|^\.layer-/.test(n)) temps.push(p);
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(root);
  expect(temps).toEqual([]);
}

const blobGets = (requests: FaultProxy['requests'], from = 0): string[] =>
  requests
    .slice(from)
    .filter((q) => q.method === 'GET' && /\/blobs\/sha256:/.test(q.path))
    .map((q) => q.path.replace(/^.*\/blobs\//, ''));

/** Established TCP connections to `port` on 127.0.0.1 (from /proc/net/tcp: any process, this one's included). */
function connectionsTo(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[2] === `0100007F:${hexPort}` && f[3] === '01').length;
}

async function settled(fn: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return fn();
}

const portOf = (host: string): number => Number(host.slice(host.lastIndexOf(':') + 1));

// --- the tests -----------------------------------------------------------------------------

describeWithRegistry(
  'pull',
  () => {
    describe('from a registry with no auth, through the fault proxy', () => {
      const registry = useRegistry();
      let proxy: FaultProxy | undefined;
      let proxyError: unknown;
      beforeAll(async () => {
        try {
          proxy = await startFaultProxy(registry());
        } catch (e) {
          proxyError = e;
        }
      });
      afterAll(async () => {
        await proxy?.close();
      });
      afterEach(() => {
        if (proxy) for (const k of Object.keys(proxy.faults)) delete proxy.faults[k as keyof typeof proxy.faults];
      });
      const p = (): FaultProxy => {
        if (!proxy) throw proxyError ?? new Error('no proxy');
        return proxy;
      };

      /** Each image pushed once: base + upper + app under ovl/app:v1 (for the fault tests, and shared). */
      const pushed = new Map<string, Promise<Layout>>();
      const image = (repo: string, tars: () => Buffer[]): Promise<Layout> => {
        let made = pushed.get(repo);
        if (!made) {
          made = (async () => {
            const l = await layout(tars());
            await push(l, registry(), repo);
            return l;
          })();
          pushed.set(repo, made);
        }
        return made;
      };
      const appImage = () => image('ovl/app:v1', () => [layers().base, layers().upper, layers().app]);
      const baseDigest = async () => (await appImage()).layerDigests[0]!;

      it('a pulled image gives the merged view of its layout imported directly; the same id; repoDigest and RepoDigests', async () => {
        const l = await appImage();
        const store = await newStore();
        const progress: ImportProgress[] = [];
        const got = await pull(store, `${p().host}/ovl/app:v1`, { onProgress: (e) => progress.push(e) });
        expect(got).toMatchObject({
          id: l.configDigest,
          reference: `${p().host}/ovl/app:v1`,
          name: `${p().host}/ovl/app:v1`,
          digest: l.manifestDigest,
          manifestDigest: l.manifestDigest,
          repoDigest: `${p().host}/ovl/app@${l.manifestDigest}`,
          status: 'downloaded',
        });
        expect(got.layers.map((x) => [x.digest, x.applied, x.reused])).toEqual(l.layerDigests.map((d) => [d, true, false]));
        expect(progress.filter((e) => e.status === 'done').map((e) => e.layer).sort()).toEqual([0, 1, 2]);

        const inspect = await store.inspectImage(got.name!);
        expect(inspect).toMatchObject({ Id: l.configDigest, RepoTags: [`${p().host}/ovl/app:v1`], RepoDigests: [got.repoDigest], Metadata: { ManifestDigest: l.manifestDigest } });
        expect((await store.images()).map((i) => i.refs)).toEqual([[`${p().host}/ovl/app:v1`]]);

        const direct = await layoutView(l);
        expect(direct.id).toBe(got.id);
        const view = await viewOf(store, got.name!);
        expect([...view.keys()]).toEqual([...direct.view.keys()]);
        expect(view).toEqual(direct.view);
        // And the view is what the layers say: whiteout, opaque dir, symlink, hardlink.
        expect(view.has('/usr/share/doc/readme')).toBe(false);
        expect(view.get('/usr/share/doc/keep')?.type).toBe('file');
        expect([...view.keys()].filter((k) => k.startsWith('/opt/data/'))).toEqual(['/opt/data/c']);
        expect(view.get('/bin/ash')).toMatchObject({ type: 'symlink', content: 'sh' });
        expect(view.get('/usr/bin/tool-link')?.content).toBe(view.get('/usr/bin/tool')?.content);
        const layerRecord = JSON.parse(readFileSync(join(store.root, 'layerdb', 'sha256', `${got.layers[1]!.chainId.slice(7)}.json`), 'utf8')) as { cacheId: string };
        const diff = join(store.root, 'overlay', layerRecord.cacheId, 'diff');
        expect(statSync(join(diff, 'usr/bin/tool-link')).ino).toBe(statSync(join(diff, 'usr/bin/tool')).ino);
        expect(statSync(join(diff, 'usr/bin/tool')).nlink).toBe(2);
      });

      it('a multi-platform index: the host platform by default, another when asked, ERR_IMAGE naming the platforms when absent', async () => {
        const host = hostPlatform();
        const other: PlatformSpec = host.architecture === 'amd64' ? { os: 'linux', architecture: 'arm64' } : { os: 'linux', architecture: 'amd64' };
        const dir = tempDir('ovl-multi-');
        const mine = await writeOciLayout(dir, { layers: [gz(layers().base), gz(layerTar({ 'etc/arch': `${host.architecture}\n` }))], platform: host, index: false });
        const theirs = await writeOciLayout(dir, { layers: [gz(layers().base), gz(layerTar({ 'etc/arch': `${other.architecture}\n` }))], platform: other, index: false });
        const index = await writeBlob(dir, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [theirs.descriptor, mine.descriptor] })), MediaType.ociIndex);
        await writeIndex(dir, [{ ...index, annotations: { [REF_NAME]: 'multi' } }]);
        await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:multi`, `docker://${registry().host}/ovl/multi:v1`]);
        const ref = `${p().host}/ovl/multi:v1`;

        const s1 = await newStore();
        const a = await pull(s1, ref);
        expect(a).toMatchObject({ id: mine.configDigest, digest: index.digest, manifestDigest: mine.manifestDigest, repoDigest: `${p().host}/ovl/multi@${index.digest}` });
        expect((await viewOf(s1, a.id)).get('/etc/arch')).toBeDefined();
        expect((await s1.inspectImage(a.id)).Architecture).toBe(host.architecture);

        const s2 = await newStore();
        const b = await pull(s2, ref, { platform: other });
        expect(b).toMatchObject({ id: theirs.configDigest, digest: index.digest, manifestDigest: theirs.manifestDigest });
        expect((await s2.inspectImage(b.id)).Architecture).toBe(other.architecture);

        const s3 = await newStore();
        const err = await pull(s3, ref, { platform: { os: 'linux', architecture: 's390x' } }).catch((e: Error) => e);
        expect(err).toMatchObject({ code: 'ERR_IMAGE' });
        expect((err as Error).message).toContain('linux/s390x');
        expect((err as Error).message).toContain(`linux/${host.architecture}`);
        expect((err as Error).message).toContain(`linux/${other.architecture}`);
        await expectClean(s3);
      });

      it("a second image on the same base: the base's blob is not fetched, its progress is 'exists'", async () => {
        const a = await appImage();
        const b = await image('ovl/tools:v1', () => [layers().base, layers().tools]);
        expect(b.layerDigests[0]).toBe(a.layerDigests[0]);
        const store = await newStore();
        await pull(store, `${p().host}/ovl/app:v1`);
        const from = p().requests.length;
        const progress: ImportProgress[] = [];
        const got = await pull(store, `${p().host}/ovl/tools:v1`, { onProgress: (e) => progress.push(e) });
        expect(got.status).toBe('downloaded');
        const gets = blobGets(p().requests, from);
        expect(gets).not.toContain(b.layerDigests[0]);
        expect(gets).toContain(b.layerDigests[1]);
        expect(got.layers.map((x) => x.applied)).toEqual([false, true]);
        expect(progress.filter((e) => e.layer === 0).map((e) => e.status)).toEqual(['exists']);
      });

      it("the same tag pulled again: 'up to date', no layer blob fetched", async () => {
        const l = await appImage();
        const store = await newStore();
        await pull(store, `${p().host}/ovl/app:v1`);
        const from = p().requests.length;
        const progress: ImportProgress[] = [];
        const again = await pull(store, `${p().host}/ovl/app:v1`, { onProgress: (e) => progress.push(e) });
        expect(again.status).toBe('up to date');
        expect(again.layers.map((x) => x.applied)).toEqual([false, false, false]);
        const gets = blobGets(p().requests, from);
        for (const d of l.layerDigests) expect(gets).not.toContain(d);
        expect(progress.map((e) => e.status)).toEqual(['exists', 'exists', 'exists']);
      });

      // The store has the image's config (its id is the config's digest, in the manifest): as
      // docker pull of an image it has, nothing but the manifest need be read.
      it('the same tag pulled again fetches no blob at all (the config is in the store)', async () => {
        await appImage();
        const store = await newStore();
        await pull(store, `${p().host}/ovl/app:v1`);
        const from = p().requests.length;
        await pull(store, `${p().host}/ovl/app:v1`);
        expect(blobGets(p().requests, from)).toEqual([]);
      });

      it('a pull fetches each blob once (the config too)', async () => {
        const l = await appImage();
        const store = await newStore();
        const from = p().requests.length;
        await pull(store, `${p().host}/ovl/app:v1`);
        const gets = blobGets(p().requests, from);
        expect(gets.filter((d) => d === l.configDigest)).toHaveLength(1);
        expect(gets.sort()).toEqual([l.configDigest, ...l.layerDigests].sort());
      });

      it('the same layer tar on another base (same diffID, another chainID): rebuilt from the stored copy, its blob never fetched', async () => {
        const a = await appImage();
        const other = await image('ovl/other:v1', () => [layers().otherBase, layers().app]);
        expect(other.layerDigests[1]).toBe(a.layerDigests[2]);
        const store = await newStore();
        await pull(store, `${p().host}/ovl/app:v1`);
        const from = p().requests.length;
        const progress: ImportProgress[] = [];
        const got = await pull(store, `${p().host}/ovl/other:v1`, { onProgress: (e) => progress.push(e) });
        expect(blobGets(p().requests, from)).not.toContain(other.layerDigests[1]);
        expect(got.layers.map((x) => [x.applied, x.reused])).toEqual([
          [true, false],
          [true, true],
        ]);
        const top = progress.filter((e) => e.layer === 1 && (e.status === 'applying' || e.status === 'done'));
        expect(top.length).toBeGreaterThan(0);
        expect(top.every((e) => e.local === true)).toBe(true);
        const direct = await layoutView(other);
        expect(got.id).toBe(direct.id);
        expect(await viewOf(store, got.id)).toEqual(direct.view);
      });

      it('by digest: the image and its RepoDigest, no tag; a digest the registry lacks: ERR_NOT_FOUND and nothing in the store', async () => {
        const l = await appImage();
        const store = await newStore();
        const got = await pull(store, `${p().host}/ovl/app@${l.manifestDigest}`);
        expect(got).toMatchObject({ id: l.configDigest, digest: l.manifestDigest, repoDigest: `${p().host}/ovl/app@${l.manifestDigest}` });
        expect(got.name).toBeUndefined();
        expect((await store.images()).map((i) => [i.id, i.refs])).toEqual([[l.configDigest, []]]);
        expect((await store.inspectImage(l.configDigest)).RepoDigests).toEqual([got.repoDigest]);

        const empty = await newStore();
        const wrong = sha('no such manifest');
        const err = await pull(empty, `${p().host}/ovl/app@${wrong}`).catch((e: Error) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect(err).toMatchObject({ code: 'ERR_NOT_FOUND', status: 404 });
        expect((err as Error).message).toMatch(/manifest unknown/);
        await expectClean(empty);
      });

      // PullResult.status: 'downloaded' when something new came in or the tag moved. Pulled by
      // digest again, neither happened: docker says "Image is up to date for …@sha256:…".
      it("the same digest pulled again: 'up to date'", async () => {
        const l = await appImage();
        const store = await newStore();
        const ref = `${p().host}/ovl/app@${l.manifestDigest}`;
        expect((await pull(store, ref)).status).toBe('downloaded');
        const again = await pull(store, ref);
        expect(again.layers.map((x) => x.applied)).toEqual([false, false, false]);
        expect(again.status).toBe('up to date');
      });

      it('a tag or a repository the registry lacks: ERR_NOT_FOUND with its words, nothing in the store', async () => {
        await appImage();
        const store = await newStore();
        const tag = await pull(store, `${p().host}/ovl/app:nope`).catch((e: Error) => e);
        expect(tag).toBeInstanceOf(RegistryError);
        expect(tag).toMatchObject({ code: 'ERR_NOT_FOUND', status: 404 });
        expect((tag as Error).message).toContain(`${p().host}/ovl/app:nope`);
        expect((tag as Error).message).toMatch(/manifest unknown/);
        const repo = await pull(store, `${p().host}/ovl/no-such-repo:v1`).catch((e: Error) => e);
        expect(repo).toMatchObject({ code: 'ERR_NOT_FOUND', status: 404 });
        expect((repo as Error).message).toMatch(/name unknown|manifest unknown/);
        await expectClean(store);
      });

      it('a connection cut mid-blob: resumed with Range from where it stopped', async () => {
        const l = await appImage();
        const digest = await baseDigest();
        p().faults.dropBlobAfter = { bytes: 100_000, match: new RegExp(digest) };
        const store = await newStore();
        const from = p().requests.length;
        const got = await pull(store, `${p().host}/ovl/app:v1`);
        expect(got.id).toBe(l.configDigest);
        expect(p().faults.dropBlobAfter!.times).toBe(0);
        const base = p().requests.slice(from).filter((q) => q.method === 'GET' && q.path.endsWith(digest));
        expect(base.length).toBe(2);
        expect(base[0]!.range).toBeUndefined();
        const start = Number(/^bytes=(\d+)-$/.exec(base[1]!.range ?? '')?.[1]);
        expect(start).toBeGreaterThan(0);
        expect(start).toBeLessThanOrEqual(100_000);
        expect(base[1]!.status).toBe(206);
        expect(await viewOf(store, got.id)).toEqual((await layoutView(l)).view);
      });

      it('a connection cut mid-blob, the Range ignored: the whole blob again, the bytes already read skipped', async () => {
        const l = await appImage();
        const digest = await baseDigest();
        p().faults.dropBlobAfter = { bytes: 100_000, match: new RegExp(digest) };
        p().faults.ignoreRange = true;
        const store = await newStore();
        const from = p().requests.length;
        const got = await pull(store, `${p().host}/ovl/app:v1`);
        expect(got.id).toBe(l.configDigest);
        const base = p().requests.slice(from).filter((q) => q.method === 'GET' && q.path.endsWith(digest));
        expect(base.map((q) => [q.status, q.range !== undefined])).toEqual([
          [200, false],
          [200, true],
        ]);
        expect(await viewOf(store, got.id)).toEqual((await layoutView(l)).view);
      });

      // Byte 4 of a gzip stream is in its header's MTIME, which no decompressor checks: the tar
      // comes out the same, and only the blob's digest can tell.
      it("a flipped byte the gzip decoder cannot see (the header's MTIME): ERR_DIGEST_MISMATCH, and nothing left in the store", async () => {
        await appImage();
        const digest = await baseDigest();
        p().faults.corruptBlobByte = { offset: 4, match: new RegExp(digest) };
        const store = await newStore();
        const err = await pull(store, `${p().host}/ovl/app:v1`).catch((e: Error) => e);
        expect(err).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
        expect((err as Error).message).toContain(digest);
        expect(p().faults.corruptBlobByte!.times).toBe(0);
        await expectClean(store);
      });

      // A download corrupted on the way is a digest mismatch of that blob, wherever the byte is
      // (docker: "filesystem layer verification failed for digest …"), not a corrupt image.
      it('a flipped byte in the compressed data: ERR_DIGEST_MISMATCH naming the blob (not a corrupt gzip stream), and nothing left in the store', async () => {
        await appImage();
        const digest = await baseDigest();
        p().faults.corruptBlobByte = { offset: 50_000, match: new RegExp(digest) };
        const store = await newStore();
        const err = await pull(store, `${p().host}/ovl/app:v1`).catch((e: Error) => e);
        expect(err).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
        expect((err as Error).message).toContain(digest);
        expect(p().faults.corruptBlobByte!.times).toBe(0);
        await expectClean(store);
      });

      // pull.ts: "Nothing is in the store until every layer is." Here the layers below the bad
      // one are small and done (their records written) long before the top one's last byte,
      // slowed, shows its digest wrong.
      it('the top layer found bad at its end, the layers below it done by then: nothing left in the store (no layer records either)', async () => {
        const l = await image('ovl/top-bad:v1', () => [layers().app, layers().tools, layers().base]);
        const top = l.layerDigests[2]!;
        p().faults.corruptBlobByte = { offset: 4, match: new RegExp(top) };
        p().faults.throttle = { bytesPerSecond: 400_000 };
        const store = await newStore();
        const done: number[] = [];
        const err = await pull(store, `${p().host}/ovl/top-bad:v1`, { onProgress: (e) => e.status === 'done' && done.push(e.layer) }).catch((e: Error) => e);
        expect(err).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
        expect(done.sort()).toEqual([0, 1]);
        await expectClean(store);
      });

      it('two pulls of one image at once into one store: each layer fetched once, both get the image', async () => {
        const l = await appImage();
        const store = await newStore();
        const from = p().requests.length;
        const [a, b] = await Promise.all([pull(store, `${p().host}/ovl/app:v1`), pull(store, `${p().host}/ovl/app:v1`)]);
        expect(a.id).toBe(l.configDigest);
        expect(b.id).toBe(l.configDigest);
        const gets = blobGets(p().requests, from);
        for (const d of l.layerDigests) expect(gets.filter((g) => g === d), d).toHaveLength(1);
        expect([...a.layers, ...b.layers].filter((x) => x.applied)).toHaveLength(3);
        expect((await store.images()).map((i) => i.id)).toEqual([l.configDigest]);
      });

      for (const status of [503, 429]) {
        it(`${status} twice on blob GETs (Retry-After: 0): tried again, the pull succeeds`, async () => {
          const l = await appImage();
          p().faults.status = { match: /^GET \/v2\/.*\/blobs\/sha256:/, status, times: 2, retryAfter: '0' };
          const store = await newStore();
          const from = p().requests.length;
          const got = await pull(store, `${p().host}/ovl/app:v1`);
          expect(got.id).toBe(l.configDigest);
          expect(p().faults.status!.times).toBe(0);
          expect(p().requests.slice(from).filter((q) => q.status === status)).toHaveLength(2);
          expect((await store.images()).map((i) => i.id)).toEqual([l.configDigest]);
        });
      }

      it('aborted mid-download: AbortError, nothing left in the store, no connection left open', async () => {
        await appImage();
        p().faults.throttle = { bytesPerSecond: 100_000 };
        const store = await newStore();
        const ac = new AbortController();
        const seen: ImportProgress[] = [];
        const err = await pull(store, `${p().host}/ovl/app:v1`, {
          signal: ac.signal,
          onProgress: (e) => {
            seen.push(e);
            if (e.bytes > 0) ac.abort();
          },
        }).catch((e: Error) => e);
        expect(seen.some((e) => e.bytes > 0)).toBe(true);
        expect(err).toMatchObject({ name: 'AbortError' });
        await expectClean(store);
        // The client's sockets to the proxy are closed (the proxy's own to the registry may stay, kept alive).
        expect(await settled(() => connectionsTo(portOf(p().host)) === 0)).toBe(true);
        delete p().faults.throttle;
        // The store takes the same pull afterwards.
        const got = await pull(store, `${p().host}/ovl/app:v1`);
        expect(got.status).toBe('downloaded');
      });
    });

    describe('auth: htpasswd', () => {
      const registry = useRegistry({ auth: 'htpasswd' });
      let l: Layout | undefined;
      const image = async (): Promise<Layout> => {
        if (!l) {
          const made = await layout([layers().base, layers().app]);
          await push(made, registry(), 'ovl/private:v1', ['--dest-creds', `${registry().username}:${registry().password}`]);
          l = made;
        }
        return l;
      };
      /** No auth file of the machine is read: HOME and the rest point into a temp dir. */
      const noFiles = (): { env: NodeJS.ProcessEnv } => ({ env: { HOME: tempDir('ovl-home-') } });
      const b64 = (s: string) => Buffer.from(s).toString('base64');

      it("anonymous: RegistryError 401, docker's 'pull access denied' words; nothing in the store", async () => {
        await image();
        const store = await newStore();
        const err = await pull(store, `${registry().host}/ovl/private:v1`, noFiles()).catch((e: Error) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect(err).toMatchObject({ code: 'ERR_REGISTRY', status: 401 });
        expect((err as Error).message).toMatch(/pull access denied for 127\.0\.0\.1:\d+\/ovl\/private/);
        expect((err as Error).message).toMatch(/unauthorized|authentication required/);
        await expectClean(store);
      });

      it('credentials given, or found in authFile, or in $REGISTRY_AUTH_FILE (env): the pull works', async () => {
        const l = await image();
        const reg = registry();
        const creds = { username: reg.username!, password: reg.password! };
        const s1 = await newStore();
        expect((await pull(s1, `${reg.host}/ovl/private:v1`, { ...noFiles(), credentials: creds })).id).toBe(l.configDigest);

        const file = join(tempDir('ovl-auth-'), 'auth.json');
        writeFileSync(file, JSON.stringify({ auths: { [reg.host]: { auth: b64(`${creds.username}:${creds.password}`) } } }));
        const s2 = await newStore();
        expect((await pull(s2, `${reg.host}/ovl/private:v1`, { ...noFiles(), authFile: file })).id).toBe(l.configDigest);

        const s3 = await newStore();
        const env = { HOME: tempDir('ovl-home-'), REGISTRY_AUTH_FILE: file };
        expect((await pull(s3, `${reg.host}/ovl/private:v1`, { env })).id).toBe(l.configDigest);

        // Docker's config.json under $DOCKER_CONFIG (the default place) too.
        const docker = tempDir('ovl-docker-config-');
        writeFileSync(join(docker, 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: b64(`${creds.username}:${creds.password}`) } } }));
        const s4 = await newStore();
        expect((await pull(s4, `${reg.host}/ovl/private:v1`, { env: { HOME: tempDir('ovl-home-'), DOCKER_CONFIG: docker } })).id).toBe(l.configDigest);
      });

      it('a wrong password: refused, and no password (right or wrong) in any error', async () => {
        await image();
        const reg = registry();
        const wrong = `wrong-${randomBytes(6).toString('hex')}`;
        const file = join(tempDir('ovl-auth-'), 'auth.json');
        writeFileSync(file, JSON.stringify({ auths: { [reg.host]: { auth: b64(`${reg.username}:${wrong}`) } } }));
        const errors: Error[] = [];
        for (const options of [{ credentials: { username: reg.username!, password: wrong } }, { authFile: file }, { credentials: { username: 'nobody', password: reg.password! } }]) {
          const store = await newStore();
          const err = await pull(store, `${reg.host}/ovl/private:v1`, { ...noFiles(), ...options }).catch((e: Error) => e);
          expect(err).toBeInstanceOf(RegistryError);
          expect(err).toMatchObject({ status: 401 });
          errors.push(err as Error);
          await expectClean(store);
        }
        for (const e of errors) {
          const all = `${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e)}\n${JSON.stringify((e as RegistryError).errors)}`;
          for (const secret of [wrong, reg.password!, b64(`${reg.username}:${wrong}`), b64(`${reg.username}:${reg.password}`), b64(`nobody:${reg.password}`)]) {
            expect(all).not.toContain(secret);
          }
        }
      });
    });

    describe('auth: token', () => {
      const registry = useRegistry({ auth: 'token' });
      let l: Layout | undefined;
      const image = async (): Promise<Layout> => {
        if (!l) {
          const made = await layout([layers().base, layers().app]);
          await push(made, registry(), 'ovl/tok:v1', ['--dest-creds', `${registry().username}:${registry().password}`]);
          l = made;
        }
        return l;
      };

      it('with credentials: a token for repository:ovl/tok:pull, asked with them; the pull works', async () => {
        const made = await image();
        const reg = registry();
        const from = reg.token!.requests.length;
        const store = await newStore();
        const got = await pull(store, `${reg.host}/ovl/tok:v1`, { env: { HOME: tempDir('ovl-home-') }, credentials: { username: reg.username!, password: reg.password! } });
        expect(got.id).toBe(made.configDigest);
        const asked = reg.token!.requests.slice(from);
        expect(asked.length).toBeGreaterThan(0);
        expect(asked.every((q) => q.authorized && q.account === reg.username && q.service === 'ovl-test-registry')).toBe(true);
        expect(asked.some((q) => q.scope.includes('repository:ovl/tok:pull'))).toBe(true);
        // A pull asks for no more than pull.
        expect(asked.flatMap((q) => q.scope).every((s) => s.endsWith(':pull'))).toBe(true);
      });

      it('anonymous: an anonymous token, refused by the registry: pull access denied', async () => {
        await image();
        const reg = registry();
        const from = reg.token!.requests.length;
        const store = await newStore();
        const err = await pull(store, `${reg.host}/ovl/tok:v1`, { env: { HOME: tempDir('ovl-home-') } }).catch((e: Error) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect(err).toMatchObject({ code: 'ERR_REGISTRY', status: 401 });
        expect((err as Error).message).toMatch(/pull access denied for 127\.0\.0\.1:\d+\/ovl\/tok/);
        expect(reg.token!.requests.slice(from).some((q) => !q.authorized && q.scope.includes('repository:ovl/tok:pull'))).toBe(true);
        await expectClean(store);
      });
    });

    describe('tls', () => {
      const registry = useRegistry({ tls: true });
      let l: Layout | undefined;
      const image = async (): Promise<Layout> => {
        if (!l) {
          const made = await layout([layers().base, layers().app]);
          await push(made, registry(), 'ovl/tls:v1');
          l = made;
        }
        return l;
      };

      it('an HTTPS-only registry on 127.0.0.1: pulled over HTTPS with `ca`; without it too (loopback is insecure: not verified, as docker)', async () => {
        const made = await image();
        const reg = registry();
        expect(reg.url).toBe(`https://${reg.host}`);
        // It speaks no plain HTTP: Go answers 400 to an HTTP request on a TLS port.
        expect((await fetch(`http://${reg.host}/v2/`)).status).toBe(400);
        const s1 = await newStore();
        expect((await pull(s1, `${reg.host}/ovl/tls:v1`, { ca: readFileSync(reg.caFile!, 'utf8') })).id).toBe(made.configDigest);
        const s2 = await newStore();
        expect((await pull(s2, `${reg.host}/ovl/tls:v1`)).id).toBe(made.configDigest);
      });

      // A name that is not loopback to mayUseHttp, reaching the same registry: its IPv4-mapped
      // IPv6 address. The certificate (IP:127.0.0.1, DNS:localhost) does not name it, so with the
      // CA trusted the chain passes and the name check fails: proof that `ca` is what is trusted.
      it('a registry not named insecure ([::ffff:127.0.0.1]): its certificate is verified; `ca` makes the chain trusted', async () => {
        await image();
        const reg = registry();
        const ref = `[::ffff:127.0.0.1]:${portOf(reg.host)}/ovl/tls:v1`;
        const s1 = await newStore();
        const untrusted = await pull(s1, ref).catch((e: Error) => e);
        expect(untrusted).toMatchObject({ code: expect.stringMatching(/^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/) });
        await expectClean(s1);
        const s2 = await newStore();
        const named = await pull(s2, ref, { ca: readFileSync(reg.caFile!, 'utf8') }).catch((e: Error) => e);
        expect(named).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
        await expectClean(s2);
      });
    });
  },
  ['skopeo', 'python3'],
);
