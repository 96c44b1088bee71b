/**
 * push() and login()/logout() against a real registry (CNCF distribution): a committed image
 * pushed byte for byte (checked with skopeo, an independent client), an image pulled from one
 * repository mounted into another, pushed again (all there), pushed to a second registry
 * (compressed anew) and pulled back; a fault on the upload; refusals before any request; login
 * against htpasswd writing the auth file, logout removing only its registry.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { login, logout, MNT, openStore, pull, push, RegistryError, sys, type PushProgress, type Store } from '../../src/index.js';
import { MediaType } from '../../src/oci/image/types.js';
import { writeOciLayout } from '../../src/oci/image/write.js';
import { layerTar } from '../helpers/images.js';
import { walkView, type Seen } from '../helpers/merged.js';
import { describeWithRegistry, skopeo, useRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/registry-proxy.js';
import { mountsUnder, tempDir } from '../helpers/tmp.js';

const BASE = { 'etc/os-release': 'ID=base\n', 'bin/sh': '#!sh\n', 'usr/share/doc/readme': 'docs\n' };
const APP = { 'app/server.py': 'print("serving")\n', 'etc/app.conf': 'port=80\n' };

let tarsMade: { base: Buffer; app: Buffer } | undefined;
const tars = () => (tarsMade ??= { base: layerTar(BASE), app: layerTar(APP) });

const layoutDirs: string[] = [];
afterAll(() => {
  for (const d of layoutDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An OCI layout (ref v1): plain tar layers, or gzip'd at level 1 (not what a push's gzip makes again). */
async function layout(gzip: boolean): Promise<{ dir: string; manifestDigest: string; configDigest: string; layerDigests: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'ovl-push-layout-'));
  layoutDirs.push(dir);
  const layers = [tars().base, tars().app].map((t) => (gzip ? { data: gzipSync(t, { level: 1 }), mediaType: MediaType.ociLayerGzip } : { data: t }));
  const w = await writeOciLayout(dir, { layers, ref: 'v1' });
  return { dir, manifestDigest: w.manifestDigest, configDigest: w.configDigest, layerDigests: w.layers.map((l) => l.digest) };
}

let roots: string[] = [];
async function newStore(): Promise<Store> {
  const root = join(tempDir('ovl-push-'), 'store');
  roots.push(root);
  return openStore({ root });
}
afterEach(() => {
  const left = roots.flatMap((r) => mountsUnder(r));
  for (const m of [...left].reverse()) sys.umount2Sync(m, { flags: MNT.DETACH });
  roots = [];
  expect(left).toEqual([]);
});

let seq = 0;
async function viewOf(store: Store, image: string): Promise<Map<string, Seen>> {
  const name = `v${++seq}`;
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

/** A store with `base` imported from a plain layout, and `app:new` committed from a container of it with a new file. */
async function committed(): Promise<{ store: Store; id: string; manifestDigest: string }> {
  const l = await layout(false);
  const store = await newStore();
  await store.importImage(l.dir, { ref: 'v1', tag: 'base' });
  await store.createContainer('base', { name: 'c' });
  const m = await store.mountContainer('c');
  writeFileSync(join(m.merged, 'etc', 'new-file'), `committed ${Date.now()}\n`);
  await store.unmountContainer('c');
  const img = await store.commit('c', { ref: 'app:new' });
  await store.removeContainer('c');
  const inspect = await store.inspectImage('app:new');
  return { store, id: img.id, manifestDigest: (inspect.Metadata as { ManifestDigest: string }).ManifestDigest };
}

const uploads = (requests: FaultProxy['requests'], from: number) => requests.slice(from).filter((q) => q.method === 'PATCH' || (q.method === 'PUT' && /\/blobs\/uploads\//.test(q.path)));

describeWithRegistry(
  'push',
  () => {
    describe('to a registry with no auth, through the fault proxy', () => {
      const registry = useRegistry();
      const second = useRegistry();
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

      it('a committed image (plain tar layers) goes up byte for byte: the store manifest digest, sameManifest; skopeo reads the same digests back', async () => {
        const { store, id, manifestDigest } = await committed();
        const progress: PushProgress[] = [];
        const ref = `${p().host}/ovl/committed:v1`;
        const got = await push(store, 'app:new', ref, { onProgress: (e) => progress.push(e), concurrency: 1 });
        expect(got).toMatchObject({ reference: ref, digest: manifestDigest, sameManifest: true });
        expect(got.layers.map((l) => l.status)).toEqual(['pushed', 'pushed', 'pushed']);
        const stored = await store.openImage('app:new');
        try {
          expect(got.layers.map((l) => l.digest)).toEqual(stored.layers.map((l) => l.digest));
          expect(got.size).toBe(Buffer.byteLength(stored.manifest));
          // Plain tars: each blob's digest is its diffID.
          expect(stored.layers.every((l) => l.digest === l.diffId)).toBe(true);
        } finally {
          stored.close();
        }
        expect(progress.filter((e) => e.status === 'pushed').map((e) => e.layer).sort()).toEqual([0, 1, 2]);
        expect((await store.inspectImage('app:new')).RepoDigests).toEqual([`${p().host}/ovl/committed@${manifestDigest}`]);

        // skopeo, from the registry itself, to an OCI layout: the same manifest, config and layers.
        const out = join(tempDir('ovl-skopeo-'), 'oci');
        await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${registry().host}/ovl/committed:v1`, `oci:${out}:v1`]);
        const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        expect(index.manifests.map((m) => m.digest)).toEqual([manifestDigest]);
        const manifest = JSON.parse(readFileSync(join(out, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
        expect(manifest.config.digest).toBe(id);
        expect(manifest.layers.map((l) => l.digest)).toEqual(got.layers.map((l) => l.digest));
      });

      it('an image pulled from one repository: mounted into another (no upload), then all there; to a fresh registry compressed anew, and pulled back the same', async () => {
        const l = await layout(true);
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${l.dir}:v1`, `docker://${registry().host}/ovl/src:v1`]);
        const store = await newStore();
        const pulled = await pull(store, `${p().host}/ovl/src:v1`);
        expect(pulled.id).toBe(l.configDigest);

        // The same registry, another repository: mounted across.
        let from = p().requests.length;
        const moved = await push(store, `${p().host}/ovl/src:v1`, `${p().host}/ovl/dst:v1`, { concurrency: 1 });
        expect(moved.layers.map((x) => x.status)).toEqual(['mounted', 'mounted']);
        expect(moved).toMatchObject({ digest: l.manifestDigest, sameManifest: true });
        expect(uploads(p().requests, from).filter((q) => q.method === 'PATCH')).toEqual([]);
        expect(p().requests.slice(from).filter((q) => q.method === 'POST' && /mount=/.test(q.path) && q.status === 201)).toHaveLength(2);

        // Again: everything is there.
        from = p().requests.length;
        const again = await push(store, `${p().host}/ovl/src:v1`, `${p().host}/ovl/dst:v1`, { concurrency: 1 });
        expect(again.layers.map((x) => x.status)).toEqual(['exists', 'exists']);
        expect(again.digest).toBe(l.manifestDigest);
        expect(uploads(p().requests, from)).toEqual([]);

        // A fresh registry: the gzip blobs cannot be made again byte for byte; compressed anew.
        const other = second();
        const fresh = await push(store, `${p().host}/ovl/src:v1`, `${other.host}/ovl/copy:v1`, { concurrency: 1 });
        expect(fresh.layers.map((x) => x.status)).toEqual(['pushed', 'pushed']);
        expect(fresh.sameManifest).toBe(false);
        expect(fresh.digest).not.toBe(l.manifestDigest);
        for (const [i, x] of fresh.layers.entries()) expect(x.digest).not.toBe(l.layerDigests[i]);
        const inspect = await store.inspectImage(pulled.id);
        expect(inspect.RepoDigests).toEqual(
          [`${p().host}/ovl/src@${l.manifestDigest}`, `${p().host}/ovl/dst@${l.manifestDigest}`, `${other.host}/ovl/copy@${fresh.digest}`].sort(),
        );

        const back = await newStore();
        const got = await pull(back, `${other.host}/ovl/copy:v1`);
        expect(got).toMatchObject({ id: pulled.id, manifestDigest: fresh.digest });
        expect(got.layers.map((x) => x.digest)).toEqual(fresh.layers.map((x) => x.digest));
        expect(await viewOf(back, got.id)).toEqual(await viewOf(store, pulled.id));
      });

      it("a Docker schema 2 image: pushed to a fresh registry its manifest stays Docker's (Docker gzip layers), pulled back the same image", async () => {
        const l = await layout(true);
        await skopeo(['copy', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${l.dir}:v1`, `docker://${registry().host}/ovl/v2s2:v1`]);
        const store = await newStore();
        const pulled = await pull(store, `${p().host}/ovl/v2s2:v1`);
        expect(pulled.id).toBe(l.configDigest);
        const stored = await store.openImage(pulled.id);
        const original = JSON.parse(stored.manifest) as { mediaType: string; layers: Array<{ mediaType: string }> };
        stored.close();
        expect(original.mediaType).toBe(MediaType.dockerManifest);
        const other = second();
        const pushed = await push(store, pulled.id, `${other.host}/ovl/v2s2:v1`, { concurrency: 1 });
        expect(pushed.layers.map((x) => x.status)).toEqual(['pushed', 'pushed']);
        const raw = (await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${other.host}/ovl/v2s2:v1`])).stdout;
        const manifest = JSON.parse(raw) as { mediaType: string; config: { mediaType: string; digest: string }; layers: Array<{ mediaType: string; digest: string }> };
        expect(manifest.mediaType).toBe(MediaType.dockerManifest);
        expect(manifest.config).toMatchObject({ mediaType: MediaType.dockerConfig, digest: l.configDigest });
        expect(manifest.layers.map((x) => x.mediaType)).toEqual([MediaType.dockerLayerGzip, MediaType.dockerLayerGzip]);
        expect(manifest.layers.map((x) => x.digest)).toEqual(pushed.layers.map((x) => x.digest));
        const back = await newStore();
        const got = await pull(back, `${other.host}/ovl/v2s2:v1`);
        expect(got).toMatchObject({ id: pulled.id, manifestDigest: pushed.digest });
        expect(await viewOf(back, got.id)).toEqual(await viewOf(store, pulled.id));
      });

      // The other tests push with concurrency 1: with more, a new client's first requests (a HEAD
      // per layer) go out side by side, each over HTTPS first to a registry that speaks HTTP.
      it('the default concurrency, a new client, a plain-HTTP loopback registry: the HTTPS → HTTP fallback serves every first request', async () => {
        const { store, manifestDigest } = await committed();
        const got = await push(store, 'app:new', `${second().host}/ovl/side-by-side:v1`);
        expect(got).toMatchObject({ digest: manifestDigest, sameManifest: true });
        expect(got.layers.map((x) => x.status)).toEqual(['pushed', 'pushed', 'pushed']);
      });

      // What the code does: streamBlob's PATCH is not retried by the transport (its body is a
      // stream), and pushLayer starts the layer's upload again (up to 3 tries): the push succeeds.
      it('503 on the first PATCH: the layer upload is started again, and the push succeeds', async () => {
        const { store, manifestDigest } = await committed();
        p().faults.status = { match: /^PATCH /, status: 503, times: 1 };
        const from = p().requests.length;
        const got = await push(store, 'app:new', `${p().host}/ovl/retried:v1`, { concurrency: 1 });
        expect(got).toMatchObject({ digest: manifestDigest, sameManifest: true });
        expect(p().faults.status!.times).toBe(0);
        const patches = p().requests.slice(from).filter((q) => q.method === 'PATCH');
        expect(patches[0]!.status).toBe(503);
        expect(patches.slice(1).every((q) => q.status === 202)).toBe(true);
        expect(patches).toHaveLength(4);
        const back = await newStore();
        expect((await pull(back, `${p().host}/ovl/retried:v1`)).manifestDigest).toBe(manifestDigest);
      });

      // A push that fails has stopped: the layers beside the failing one are not uploaded after
      // push() has rejected (and closed its client and the stored image). Layer 0's HEAD is
      // refused (400: not retried); layer 1's HEAD, sent beside it, is the only request then in
      // flight; nothing else may come after the rejection.
      it('a layer that fails stops the push: once push() rejects, no upload follows', async () => {
        const { store } = await committed();
        const stored = await store.openImage('app:new');
        const first = stored.layers[0]!.digest;
        stored.close();
        p().faults.status = { match: new RegExp(`^HEAD .*/blobs/${first}$`), status: 400, times: 1 };
        const err = await push(store, 'app:new', `${p().host}/ovl/stops:v1`, { concurrency: 2 }).catch((e: Error) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect(err).toMatchObject({ status: 400 });
        const n = p().requests.length;
        await new Promise((r) => setTimeout(r, 1500));
        expect(p().requests.slice(n).filter((q) => q.method !== 'HEAD')).toEqual([]);
      });

      it('aborted while a layer goes up: AbortError, no manifest put, no RepoDigest recorded', async () => {
        const { store } = await committed();
        const ac = new AbortController();
        const from = p().requests.length;
        const err = await push(store, 'app:new', `${p().host}/ovl/aborted:v1`, {
          concurrency: 1,
          signal: ac.signal,
          onProgress: (e) => {
            if (e.status === 'pushing' && e.bytes > 0) ac.abort();
          },
        }).catch((e: Error) => e);
        expect(err).toMatchObject({ name: 'AbortError' });
        expect(p().requests.slice(from).filter((q) => /\/manifests\//.test(q.path))).toEqual([]);
        expect((await store.inspectImage('app:new')).RepoDigests).toEqual([]);
      });

      it('refusals before any request: a digest reference (ERR_OVERLAY_SPEC), an image the store lacks (ERR_NOT_FOUND)', async () => {
        const { store } = await committed();
        const from = p().requests.length;
        const err = await push(store, 'app:new', `${p().host}/ovl/x@sha256:${'a'.repeat(64)}`).catch((e: Error) => e);
        expect(err).toMatchObject({ code: 'ERR_OVERLAY_SPEC' });
        expect((err as Error).message).toMatch(/digest/);
        await expect(push(store, 'no-such:image', `${p().host}/ovl/x:v1`)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
        await expect(push(store, 'app:new', `${p().host}/ovl/UPPER:v1`)).rejects.toMatchObject({ code: 'ERR_OVERLAY_SPEC' });
        expect(p().requests.length).toBe(from);
      });
    });

    describe('login and logout against htpasswd; push with what login stored', () => {
      const registry = useRegistry({ auth: 'htpasswd' });
      const b64 = (s: string) => Buffer.from(s).toString('base64');

      it('login with the right password writes the auth file (0600, other keys kept, base64 auth); logout removes only its registry', async () => {
        const reg = registry();
        const file = join(tempDir('ovl-login-'), 'auth.json');
        const before = { auths: { 'ghcr.io': { auth: b64('g:g') } }, credsStore: 'none', detachKeys: 'ctrl-p' };
        writeFileSync(file, JSON.stringify(before), { mode: 0o644 });
        const done = await login(reg.host, { username: reg.username!, password: reg.password! }, { authFile: file });
        expect(done).toEqual({ domain: reg.host, file });
        const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
        expect(doc).toEqual({ ...before, auths: { ...before.auths, [reg.host]: { auth: b64(`${reg.username}:${reg.password}`) } } });
        expect(statSync(file).mode & 0o777).toBe(0o600);

        // A URL as docker login takes it names the same registry.
        await login(`http://${reg.host}/`, { username: reg.username!, password: reg.password! }, { authFile: file });
        expect(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { auths: object }).auths).sort()).toEqual(['ghcr.io', reg.host].sort());

        expect(await logout(reg.host, { authFile: file })).toBe(true);
        expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(before);
        expect(await logout(reg.host, { authFile: file })).toBe(false);
      });

      it('login with a wrong password: RegistryError 401, the file unchanged, no password in the message', async () => {
        const reg = registry();
        const dir = tempDir('ovl-login-');
        const file = join(dir, 'auth.json');
        const text = JSON.stringify({ auths: { 'ghcr.io': { auth: b64('g:g') } } });
        writeFileSync(file, text);
        const wrong = 'not-the-password-123';
        const err = await login(reg.host, { username: reg.username!, password: wrong }, { authFile: file }).catch((e: Error) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect(err).toMatchObject({ code: 'ERR_REGISTRY', status: 401 });
        expect((err as Error).message).toMatch(/unauthorized|incorrect username or password/);
        expect((err as Error).message).not.toContain(wrong);
        expect(readFileSync(file, 'utf8')).toBe(text);
        // A file that was not there is not made.
        const none = join(dir, 'none.json');
        await expect(login(reg.host, { username: reg.username!, password: wrong }, { authFile: none })).rejects.toBeInstanceOf(RegistryError);
        expect(readdirSync(dir)).toEqual(['auth.json']);
      });

      it('push: refused anonymously (401); with the credentials login stored, it goes up', async () => {
        const reg = registry();
        const { store, manifestDigest } = await committed();
        const home = { env: { HOME: tempDir('ovl-home-') } };
        const err = await push(store, 'app:new', `${reg.host}/ovl/private:v1`, { ...home, concurrency: 1 }).catch((e: Error) => e);
        expect(err).toBeInstanceOf(RegistryError);
        expect(err).toMatchObject({ status: 401 });
        const file = join(tempDir('ovl-login-'), 'auth.json');
        await login(reg.host, { username: reg.username!, password: reg.password! }, { authFile: file });
        const got = await push(store, 'app:new', `${reg.host}/ovl/private:v1`, { authFile: file, concurrency: 1 });
        expect(got).toMatchObject({ digest: manifestDigest, sameManifest: true });
        const back = await newStore();
        expect((await pull(back, `${reg.host}/ovl/private:v1`, { authFile: file })).manifestDigest).toBe(manifestDigest);
      });
    });

    describe('a token registry', () => {
      const registry = useRegistry({ auth: 'token' });

      it('login: right (a token with the credentials), wrong (refused, nothing written, no password in the error)', async () => {
        const reg = registry();
        const dir = tempDir('ovl-login-');
        const file = join(dir, 'auth.json');
        const bad = await login(reg.host, { username: reg.username!, password: 'wrong-pw-456' }, { authFile: file }).catch((e: Error) => e);
        expect(bad).toBeInstanceOf(RegistryError);
        expect((bad as Error).message).toMatch(/incorrect username or password/);
        expect((bad as Error).message).not.toContain('wrong-pw-456');
        expect(readdirSync(dir)).toEqual([]);
        await login(reg.host, { username: reg.username!, password: reg.password! }, { authFile: file });
        expect(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { auths: object }).auths)).toEqual([reg.host]);
      });

      it('push asks for repository:REPO:pull,push; to another repository the blobs are mounted, with a token for both', async () => {
        const reg = registry();
        const creds = { credentials: { username: reg.username!, password: reg.password! }, env: { HOME: tempDir('ovl-home-') }, concurrency: 1 };
        const { store, manifestDigest } = await committed();
        let from = reg.token!.requests.length;
        const first = await push(store, 'app:new', `${reg.host}/ovl/tok:v1`, creds);
        expect(first).toMatchObject({ digest: manifestDigest });
        const asked = reg.token!.requests.slice(from);
        expect(asked.every((q) => q.authorized)).toBe(true);
        expect(asked.some((q) => q.scope.includes('repository:ovl/tok:pull,push'))).toBe(true);

        from = reg.token!.requests.length;
        const second = await push(store, 'app:new', `${reg.host}/ovl/tok2:v1`, creds);
        expect(second.layers.map((x) => x.status)).toEqual(['mounted', 'mounted', 'mounted']);
        const both = reg.token!.requests.slice(from).filter((q) => q.scope.includes('repository:ovl/tok2:pull,push') && q.scope.includes('repository:ovl/tok:pull'));
        expect(both.length).toBeGreaterThan(0);
        const back = await newStore();
        expect((await pull(back, `${reg.host}/ovl/tok2:v1`, creds)).manifestDigest).toBe(manifestDigest);
      });
    });
  },
  ['skopeo'],
);


