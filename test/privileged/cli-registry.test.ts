/**
 * ovl pull, push, login and logout as a user runs them, against a real registry (CNCF
 * distribution) started for the tests: docker's lines and exit codes, --json, --quiet,
 * credentials kept as docker keeps them.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { ovl, ovlOk } from '../helpers/cli.js';
import { layerTar, ociLayout, sha } from '../helpers/images.js';
import { describeWithRegistry, skopeo, useRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/tmp.js';

const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

async function image(): Promise<{ dir: string; digests: string[] }> {
  const layers = [gzipSync(layerTar({ 'etc/os-release': 'ID=cli\n', 'bin/': null })), gzipSync(layerTar({ 'etc/motd': 'hello from the registry\n' }))];
  const dir = await ociLayout([{ layers: layers.map((data) => ({ data, mediaType: GZIP_LAYER })), ref: 'v1' }]);
  return { dir, digests: layers.map((l) => sha(l)) };
}

const short = (d: string) => d.slice('sha256:'.length, 'sha256:'.length + 12);

describeWithRegistry(
  'ovl pull / push / login against a real registry',
  () => {
    describe('no auth', () => {
      const registry = useRegistry();
      let digests: string[] = [];
      beforeAll(async () => {
        const img = await image();
        digests = img.digests;
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${img.dir}:v1`, `docker://${registry().host}/ovl/app:v1`]);
      });

      it("pull prints docker pull's lines, then the image is in the store; pulled again it is up to date", () => {
        const root = tempDir('ovl-cli-reg-');
        const ref = `${registry().host}/ovl/app:v1`;
        const first = ovlOk(['pull', ref, '--root', root]).split('\n');
        expect(first[0]).toBe('v1: Pulling from ovl/app');
        for (const d of digests) expect(first).toContain(`${short(d)}: Pull complete`);
        expect(first).toContainEqual(expect.stringMatching(/^Digest: sha256:[0-9a-f]{64}$/));
        expect(first).toContain(`Status: Downloaded newer image for ${ref}`);
        expect(first.filter(Boolean).at(-1)).toBe(ref);
        expect(ovlOk(['image', 'ls', '--root', root])).toContain(`${registry().host}/ovl/app`);
        const again = ovlOk(['pull', ref, '--root', root]).split('\n');
        expect(again).toContain(`Status: Image is up to date for ${ref}`);
        for (const d of digests) expect(again).toContain(`${short(d)}: Already exists`);
      });

      it('pull --json gives the result; -q only the reference; "Using default tag" for a name without one', async () => {
        const root = tempDir('ovl-cli-reg-');
        const host = registry().host;
        const result = JSON.parse(ovlOk(['pull', `${host}/ovl/app:v1`, '--root', root, '--json'])) as { id: string; digest: string; layers: Array<{ digest: string; applied: boolean }> };
        expect(result.layers.map((l) => l.digest)).toEqual(digests);
        expect(result.id).toMatch(/^sha256:/);
        expect(ovlOk(['pull', '-q', `${host}/ovl/app:v1`, '--root', root])).toBe(`${host}/ovl/app:v1\n`);
        await skopeo(['copy', '--dest-tls-verify=false', `docker://${host}/ovl/app:v1`, `docker://${host}/ovl/app:latest`, '--src-tls-verify=false']);
        expect(ovlOk(['pull', `${host}/ovl/app`, '--root', root]).split('\n')[0]).toBe('Using default tag: latest');
      });

      it('a tag the registry lacks: exit 1 with docker\'s "manifest … not found" words, nothing in the store', () => {
        const root = tempDir('ovl-cli-reg-');
        const r = ovl(['pull', `${registry().host}/ovl/app:nope`, '--root', root]);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^Error: manifest for .*ovl\/app:nope not found: manifest unknown/m);
        expect(JSON.parse(ovlOk(['image', 'ls', '--root', root, '--json']))).toEqual([]);
      });

      it('bad usage: exit 1 with the usage; a reference that is not one is named', () => {
        expect(ovl(['pull']).status).toBe(1);
        const r = ovl(['pull', 'Not/A:Ref!', '--root', tempDir('ovl-cli-reg-')]);
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("'Not/A:Ref!'");
      });

      it("push prints docker push's lines: mounted from the repository it came from, then the digest", () => {
        const root = tempDir('ovl-cli-reg-');
        const host = registry().host;
        ovlOk(['pull', '-q', `${host}/ovl/app:v1`, '--root', root]);
        const pushed = ovlOk(['push', `${host}/ovl/app:v1`, `${host}/ovl/copy:v2`, '--root', root]).split('\n');
        expect(pushed[0]).toBe(`The push refers to repository [${host}/ovl/copy]`);
        for (const d of digests) expect(pushed).toContain(`${short(d)}: Mounted from ovl/app`);
        expect(pushed).toContainEqual(expect.stringMatching(/^v2: digest: sha256:[0-9a-f]{64} size: \d+$/));
        const again = ovlOk(['push', `${host}/ovl/app:v1`, `${host}/ovl/copy:v2`, '--root', root]).split('\n');
        for (const d of digests) expect(again).toContain(`${short(d)}: Layer already exists`);
        const json = JSON.parse(ovlOk(['push', `${host}/ovl/app:v1`, `${host}/ovl/copy:v3`, '--root', root, '--json'])) as { digest: string; sameManifest: boolean };
        expect(json.sameManifest).toBe(true);
        const inspect = JSON.parse(ovlOk(['image', 'inspect', `${host}/ovl/app:v1`, '--root', root])) as Array<{ RepoDigests: string[] }>;
        expect(inspect[0]!.RepoDigests).toContain(`${host}/ovl/copy@${json.digest}`);
      });
    });

    describe('htpasswd', () => {
      const registry = useRegistry({ auth: 'htpasswd' });

      it('login checks the password, keeps it as docker does; pull then works; logout forgets it', async () => {
        const reg = registry();
        const img = await image();
        await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${reg.username}:${reg.password}`, `oci:${img.dir}:v1`, `docker://${reg.host}/ovl/private:v1`]);
        const dir = tempDir('ovl-cli-auth-');
        const file = join(dir, 'config.json');
        writeFileSync(file, JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, credsStore: '' }));
        const root = tempDir('ovl-cli-reg-');

        const denied = ovl(['pull', `${reg.host}/ovl/private:v1`, '--root', root, '--authfile', file]);
        expect(denied.status).toBe(1);
        expect(denied.stderr).toMatch(/pull access denied|unauthorized/);

        const wrong = ovl(['login', reg.host, '-u', reg.username!, '--password-stdin', '--authfile', file], { input: 'not-the-password\n' });
        expect(wrong.status).toBe(1);
        expect(wrong.stderr).toMatch(/unauthorized/);
        expect(wrong.stderr).not.toContain('not-the-password');
        expect(JSON.parse(readFileSync(file, 'utf8')).auths).toEqual({ 'other.example': { auth: 'eDp5' } });

        expect(ovlOk(['login', reg.host, '-u', reg.username!, '--password-stdin', '--authfile', file], { input: `${reg.password}\n` })).toBe('Login Succeeded\n');
        const kept = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }>; credsStore: string };
        expect(Buffer.from(kept.auths[reg.host]!.auth, 'base64').toString()).toBe(`${reg.username}:${reg.password}`);
        expect(kept.auths['other.example']).toEqual({ auth: 'eDp5' });
        expect(statSync(file).mode & 0o777).toBe(0o600);

        expect(ovlOk(['pull', '-q', `${reg.host}/ovl/private:v1`, '--root', root, '--authfile', file])).toBe(`${reg.host}/ovl/private:v1\n`);
        // The environment's auth file is found as well (podman's REGISTRY_AUTH_FILE).
        expect(ovlOk(['pull', '-q', `${reg.host}/ovl/private:v1`, '--root', tempDir('ovl-cli-reg-')], { env: { REGISTRY_AUTH_FILE: file } })).toBe(`${reg.host}/ovl/private:v1\n`);

        expect(ovlOk(['logout', reg.host, '--authfile', file])).toBe(`Removing login credentials for ${reg.host}\n`);
        expect(JSON.parse(readFileSync(file, 'utf8')).auths).toEqual({ 'other.example': { auth: 'eDp5' } });
        expect(ovlOk(['logout', reg.host, '--authfile', file])).toBe(`Not logged in to ${reg.host}\n`);
      });
    });
  },
  ['skopeo'],
);
