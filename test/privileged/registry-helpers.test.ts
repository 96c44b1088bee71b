/**
 * The registry test infrastructure, checked with an independent client (skopeo) before our own
 * registry client's tests rest on it: a real registry (CNCF distribution) with no auth, htpasswd,
 * token auth (our token server's JWTs accepted, and verified, by the registry) and TLS; and the
 * fault proxy in front of it (uploads through it, each fault seen by a plain fetch).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ociLayout, layerTar, sha } from '../helpers/images.js';
import { describeWithRegistry, skopeo, useRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/registry-proxy.js';
import { tempDir } from '../helpers/tmp.js';

const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/**
 * A two-layer OCI layout (tag v1). The layers are gzip'd so that skopeo pushes them as they are
 * (it would compress uncompressed ones, changing their digests).
 */
async function image(seed: string): Promise<{ dir: string; layers: Buffer[]; layerDigests: string[]; manifestDigest: string }> {
  const layers = [
    gzipSync(layerTar({ 'etc/hello': `hello ${seed}\n`, 'data/noise': randomBytes(150_000).toString('base64') })),
    gzipSync(layerTar({ 'etc/second': `second ${seed}\n` })),
  ];
  const dir = await ociLayout([{ layers: layers.map((data) => ({ data, mediaType: GZIP_LAYER })), ref: 'v1' }]);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  return { dir, layers, layerDigests: layers.map((l) => sha(l)), manifestDigest: index.manifests[0]!.digest };
}

interface Inspected {
  Digest: string;
  Layers: string[];
}

const inspect = async (args: string[], env?: NodeJS.ProcessEnv): Promise<Inspected> =>
  JSON.parse((await skopeo(['inspect', ...args], env ? { env } : {})).stdout) as Inspected;

describeWithRegistry(
  'registry helpers, checked with skopeo',
  () => {
    describe('auth: none', () => {
      const registry = useRegistry();

      it('skopeo pushes an OCI layout and inspect shows its layers and manifest digest', async () => {
        const reg = registry();
        expect(reg.url).toBe(`http://${reg.host}`);
        const img = await image('none');
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${img.dir}:v1`, `docker://${reg.host}/ovl/none:v1`]);
        const got = await inspect(['--tls-verify=false', `docker://${reg.host}/ovl/none:v1`]);
        expect(got.Layers).toEqual(img.layerDigests);
        expect(got.Digest).toBe(img.manifestDigest);
      });
    });

    describe('auth: htpasswd', () => {
      const registry = useRegistry({ auth: 'htpasswd' });

      it('pushes with --dest-creds; without credentials the push is refused', async () => {
        const reg = registry();
        expect(reg.auth).toBe('htpasswd');
        const creds = `${reg.username}:${reg.password}`;
        const img = await image('htpasswd');
        const dest = `docker://${reg.host}/ovl/basic:v1`;
        await expect(skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-no-creds', `oci:${img.dir}:v1`, dest])).rejects.toThrow(
          /401|unauthorized|authentication required/i,
        );
        await expect(
          skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${reg.username}:wrong`, `oci:${img.dir}:v1`, dest]),
        ).rejects.toThrow(/401|unauthorized|authentication required/i);
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${img.dir}:v1`, dest]);
        const got = await inspect(['--tls-verify=false', '--creds', creds, dest]);
        expect(got.Layers).toEqual(img.layerDigests);
        expect(got.Digest).toBe(img.manifestDigest);
        await expect(inspect(['--tls-verify=false', '--no-creds', dest])).rejects.toThrow(/401|unauthorized|authentication required/i);
      });
    });

    describe('auth: token', () => {
      const registry = useRegistry({ auth: 'token' });

      it('pushes with credentials (the token server grants pull,push); anonymous pushes are refused', async () => {
        const reg = registry();
        const token = reg.token!;
        const creds = `${reg.username}:${reg.password}`;
        const img = await image('token');
        const dest = `docker://${reg.host}/ovl/token:v1`;

        await expect(skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-no-creds', `oci:${img.dir}:v1`, dest])).rejects.toThrow(
          /401|unauthorized|authentication required/i,
        );
        // Asked anonymously for push, and refused by the registry: the empty access list did it.
        expect(token.requests.some((q) => !q.authorized && q.scope.some((s) => /^repository:ovl\/token:.*push/.test(s)))).toBe(true);

        const before = token.requests.length;
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${img.dir}:v1`, dest]);
        const asked = token.requests.slice(before);
        expect(asked.some((q) => q.authorized && q.service === 'ovl-test-registry' && q.scope.includes('repository:ovl/token:pull,push'))).toBe(true);

        const got = await inspect(['--tls-verify=false', '--creds', creds, dest]);
        expect(got.Layers).toEqual(img.layerDigests);
        expect(got.Digest).toBe(img.manifestDigest);
      });

      it('the registry verifies the JWT: accepted as issued, refused with its signature or claims altered', async () => {
        const reg = registry();
        const token = reg.token!;
        const basic = `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`;
        const realm = `${token.url}?service=ovl-test-registry&scope=repository:ovl/jwt:pull&account=${reg.username}`;

        const wrong = await fetch(realm, { headers: { authorization: `Basic ${Buffer.from(`${reg.username}:nope`).toString('base64')}` } });
        expect(wrong.status).toBe(401);
        expect(((await wrong.json()) as { errors: unknown[] }).errors.length).toBe(1);

        const res = await fetch(realm, { headers: { authorization: basic } });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
        expect(body.access_token).toBe(body.token);
        expect(body.expires_in).toBe(300);
        const [h, c, s] = body.token.split('.') as [string, string, string];
        const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg: string; x5c: string[] };
        const claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>;
        expect(header.alg).toBe('RS256');
        expect(header.x5c).toHaveLength(1);
        expect(claims).toMatchObject({ iss: 'ovl-test-issuer', aud: 'ovl-test-registry', sub: reg.username, access: [{ type: 'repository', name: 'ovl/jwt', actions: ['pull'] }] });

        const tags = `${reg.url}/v2/ovl/jwt/tags/list`;
        const status = async (jwt: string): Promise<number> => (await fetch(tags, { headers: { authorization: `Bearer ${jwt}` } })).status;
        // 404: past auth, and the repository is unknown.
        expect(await status(body.token)).toBe(404);
        const sig = Buffer.from(s, 'base64url');
        sig[10] = sig[10]! ^ 1;
        expect(await status(`${h}.${c}.${sig.toString('base64url')}`)).toBe(401);
        const more = Buffer.from(JSON.stringify({ ...claims, access: [{ type: 'repository', name: 'ovl/jwt', actions: ['pull', 'push'] }] })).toString('base64url');
        expect(await status(`${h}.${more}.${s}`)).toBe(401);
        // Without a token at all: 401 naming the realm and the service.
        const none = await fetch(tags);
        expect(none.status).toBe(401);
        expect(none.headers.get('www-authenticate')).toContain(`realm="${token.url}"`);
        expect(none.headers.get('www-authenticate')).toContain('service="ovl-test-registry"');
      });
    });

    describe('tls', () => {
      const registry = useRegistry({ tls: true });

      it('pushes with verification on, trusting caFile (a cert dir, SSL_CERT_FILE); refused without it', async () => {
        const reg = registry();
        expect(reg.url).toBe(`https://${reg.host}`);
        const certDir = tempDir('ovl-certs-');
        copyFileSync(reg.caFile!, join(certDir, 'ca.crt'));
        const img = await image('tls');
        const dest = `docker://${reg.host}/ovl/tls:v1`;
        await expect(skopeo(['copy', '--preserve-digests', '--dest-tls-verify=true', `oci:${img.dir}:v1`, dest])).rejects.toThrow(/x509|certificate/i);
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=true', '--dest-cert-dir', certDir, `oci:${img.dir}:v1`, dest]);
        const got = await inspect(['--tls-verify=true', dest], { SSL_CERT_FILE: reg.caFile! });
        expect(got.Layers).toEqual(img.layerDigests);
        expect(got.Digest).toBe(img.manifestDigest);
      });
    });

    describe('the fault proxy', () => {
      const registry = useRegistry();
      let proxy: FaultProxy | undefined;
      let proxyError: unknown;
      let blob: Buffer;
      let blobUrl: string;

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
        if (!proxy) throw proxyError;
        return proxy;
      };

      it('forwards pushes (uploads: POST, PATCH, PUT) and pulls: skopeo through it', async () => {
        const img = await image('proxy');
        const dest = `docker://${p().host}/ovl/proxied:v1`;
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${img.dir}:v1`, dest]);
        const got = await inspect(['--tls-verify=false', dest]);
        expect(got.Layers).toEqual(img.layerDigests);
        expect(p().requests.some((q) => q.method === 'POST' && q.status === 202)).toBe(true);
        expect(p().requests.some((q) => q.method === 'PUT' && /\/manifests\/v1$/.test(q.path) && q.status === 201)).toBe(true);
        blob = img.layers[0]!;
        blobUrl = `${p().url}/v2/ovl/proxied/blobs/${img.layerDigests[0]}`;
        const direct = Buffer.from(await (await fetch(`${registry().url}/v2/ovl/proxied/blobs/${img.layerDigests[0]}`)).arrayBuffer());
        expect(direct.equals(blob)).toBe(true);
      });

      it('a chunked upload by fetch: the Location headers point back at the proxy', async () => {
        const data = randomBytes(70_000);
        const digest = sha(data);
        const start = await fetch(`${p().url}/v2/ovl/upload/blobs/uploads/`, { method: 'POST' });
        expect(start.status).toBe(202);
        const loc1 = new URL(start.headers.get('location')!, p().url);
        expect(loc1.origin).toBe(p().url);
        const patch = await fetch(loc1, { method: 'PATCH', body: data.subarray(0, 40_000), headers: { 'content-type': 'application/octet-stream' } });
        expect(patch.status).toBe(202);
        const loc2 = new URL(patch.headers.get('location')!, p().url);
        expect(loc2.origin).toBe(p().url);
        loc2.searchParams.set('digest', digest);
        const put = await fetch(loc2, { method: 'PUT', body: data.subarray(40_000), headers: { 'content-type': 'application/octet-stream' } });
        expect(put.status).toBe(201);
        const back = Buffer.from(await (await fetch(`${p().url}/v2/ovl/upload/blobs/${digest}`)).arrayBuffer());
        expect(back.equals(data)).toBe(true);
      });

      it('dropBlobAfter cuts the connection after that many body bytes, once', async () => {
        p().faults.dropBlobAfter = { bytes: 10_000 };
        const cut = await fetch(blobUrl).then(
          async (res) => {
            expect(res.status).toBe(200);
            expect(Number(res.headers.get('content-length'))).toBe(blob.length);
            return res.arrayBuffer().then(
              (b) => b.byteLength,
              (e: Error) => e,
            );
          },
          (e: Error) => e,
        );
        if (typeof cut === 'number') expect(cut).toBeLessThan(blob.length);
        else expect(cut).toBeInstanceOf(Error);
        expect(p().faults.dropBlobAfter!.times).toBe(0);
        const whole = Buffer.from(await (await fetch(blobUrl)).arrayBuffer());
        expect(whole.equals(blob)).toBe(true);
      });

      it('status answers the first `times` matching requests itself (503 twice), then forwards', async () => {
        p().faults.status = { match: /^GET .*\/blobs\//, status: 503, times: 2, retryAfter: '1' };
        const first = await fetch(blobUrl);
        expect(first.status).toBe(503);
        expect(first.headers.get('retry-after')).toBe('1');
        await first.arrayBuffer();
        expect((await fetch(blobUrl)).status).toBe(503);
        const third = await fetch(blobUrl);
        expect(third.status).toBe(200);
        expect(Buffer.from(await third.arrayBuffer()).equals(blob)).toBe(true);
        // Others do not match: forwarded even while the fault lasts.
        p().faults.status = { match: /^HEAD /, status: 500, times: 1 };
        expect((await fetch(blobUrl)).status).toBe(200);
        expect(p().requests.slice(-4).map((q) => q.status)).toEqual([503, 503, 200, 200]);
      });

      it('corruptBlobByte flips exactly one byte, at its offset of the whole blob (206 too)', async () => {
        const diff = (a: Buffer, b: Buffer): number[] => [...a.keys()].filter((i) => a[i] !== b[i]);
        p().faults.corruptBlobByte = { offset: 1234 };
        const bad = Buffer.from(await (await fetch(blobUrl)).arrayBuffer());
        expect(bad.length).toBe(blob.length);
        expect(diff(bad, blob)).toEqual([1234]);

        p().faults.corruptBlobByte = { offset: 1500 };
        const part = await fetch(blobUrl, { headers: { range: 'bytes=1000-2999' } });
        expect(part.status).toBe(206);
        const got = Buffer.from(await part.arrayBuffer());
        expect(diff(got, blob.subarray(1000, 3000))).toEqual([500]);
        // Used up: the next one is intact.
        expect(Buffer.from(await (await fetch(blobUrl)).arrayBuffer()).equals(blob)).toBe(true);
      });

      it('ignoreRange: the registry answers a ranged GET with 200 and the whole blob', async () => {
        const ranged = await fetch(blobUrl, { headers: { range: 'bytes=100-199' } });
        expect(ranged.status).toBe(206);
        expect(Buffer.from(await ranged.arrayBuffer()).equals(blob.subarray(100, 200))).toBe(true);
        p().faults.ignoreRange = true;
        const whole = await fetch(blobUrl, { headers: { range: 'bytes=100-199' } });
        expect(whole.status).toBe(200);
        expect(Buffer.from(await whole.arrayBuffer()).equals(blob)).toBe(true);
        expect(p().requests.at(-1)).toMatchObject({ method: 'GET', status: 200, range: 'bytes=100-199' });
      });

      it('throttle slows a blob body to about its rate', async () => {
        p().faults.throttle = { bytesPerSecond: 200_000 };
        const t0 = performance.now();
        const res = await fetch(blobUrl, { headers: { range: 'bytes=0-59999' } });
        expect(Buffer.from(await res.arrayBuffer()).equals(blob.subarray(0, 60_000))).toBe(true);
        expect(performance.now() - t0).toBeGreaterThan(250);
      });
    });
  },
  ['skopeo'],
);
