/** Choosing an image by ref and platform (pure), and the docker save name rules. */
import { describe, expect, it } from 'vitest';
import { checkDockerManifest, dockerRefIn, fullImageName } from '../../src/oci/image/docker-save.js';
import { platformMatches, selectImage, type ImageRef } from '../../src/oci/image/select.js';
import { checkDigest } from '../../src/oci/image/types.js';

const d = (c: string) => `sha256:${c.repeat(64)}` as const;
const mt = 'application/vnd.oci.image.manifest.v1+json';

describe('platformMatches', () => {
  it('os and architecture must be equal; a variant asked for must match, arm64 meaning v8 when unsaid', () => {
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm64', variant: 'v8' }, { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm' })).toBe(true);
  });
});

describe('selectImage', () => {
  const images: ImageRef[] = [
    { ref: 'a', manifestDigest: d('1'), mediaType: mt, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
    { ref: 'a', manifestDigest: d('2'), mediaType: mt, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { ref: 'a', manifestDigest: d('3'), mediaType: mt, platform: { os: 'linux', architecture: 'arm64' } },
    { ref: 'b', manifestDigest: d('4'), mediaType: mt },
  ];

  it('by ref, then platform; an exact variant first', () => {
    expect(selectImage(images, 'x', 'a', { os: 'linux', architecture: 'arm', variant: 'v7' }).manifestDigest).toBe(d('2'));
    expect(selectImage(images, 'x', 'a', { os: 'linux', architecture: 'arm' }).manifestDigest).toBe(d('1'));
    expect(selectImage(images, 'x', 'a', { os: 'linux', architecture: 'arm64', variant: 'v8' }).manifestDigest).toBe(d('3'));
    // One image with no platform: taken whatever the platform (resolve() checks its config).
    expect(selectImage(images, 'x', 'b', { os: 'linux', architecture: 's390x' }).manifestDigest).toBe(d('4'));
    expect(selectImage(images, 'x', d('2'), { os: 'linux', architecture: 'arm' }).manifestDigest).toBe(d('2'));
  });

  it('refuses: no image, several refs without one named, an unknown ref', () => {
    expect(() => selectImage([], 'src', undefined, undefined)).toThrow(/src: holds no image/);
    expect(() => selectImage(images, 'src', undefined, undefined)).toThrow(/several images, name one: a, b/);
    expect(() => selectImage(images, 'src', 'c', undefined)).toThrow(/no image 'c'; it holds: a, b/);
  });
});

describe('docker save names', () => {
  it('RepoTags in full, as containerd names images', () => {
    expect(fullImageName('busybox:latest')).toBe('docker.io/library/busybox:latest');
    expect(fullImageName('user/app:1')).toBe('docker.io/user/app:1');
    expect(fullImageName('ghcr.io/o/app:1')).toBe('ghcr.io/o/app:1');
    expect(fullImageName('localhost/app:1')).toBe('localhost/app:1');
    expect(fullImageName('localhost:5000/app:1')).toBe('localhost:5000/app:1');
  });

  it('a ref as Docker reads it: no tag is :latest, a full name is its RepoTag', () => {
    const refs = ['busybox:latest', 'busybox:1.36', 'user/app:2', 'ghcr.io/o/x:1', undefined];
    expect(dockerRefIn(refs, 'busybox')).toBe('busybox:latest');
    expect(dockerRefIn(refs, 'docker.io/library/busybox:1.36')).toBe('busybox:1.36');
    expect(dockerRefIn(refs, 'docker.io/user/app:2')).toBe('user/app:2');
    expect(dockerRefIn(refs, 'ghcr.io/o/x:1')).toBe('ghcr.io/o/x:1');
    expect(dockerRefIn(refs, 'user/app')).toBe('user/app');
    expect(dockerRefIn(refs, 'localhost:5000/busybox')).toBe('localhost:5000/busybox');
  });

  it('manifest.json is shape-checked and its paths kept inside the archive', () => {
    expect(checkDockerManifest([{ Config: './a.json', RepoTags: null, Layers: ['x//layer.tar'] }])).toEqual([{ config: 'a.json', repoTags: [], layers: ['x/layer.tar'] }]);
    expect(() => checkDockerManifest({})).toThrow(/expected an array of images/);
    expect(() => checkDockerManifest([{ Config: 1, Layers: [] }])).toThrow(/\[0\]\.Config: expected a string/);
    expect(() => checkDockerManifest([{ Config: 'c', RepoTags: [1], Layers: [] }])).toThrow(/RepoTags: expected an array of strings/);
    expect(() => checkDockerManifest([{ Config: '/etc/passwd', Layers: [] }])).toThrow(/an absolute path/);
    expect(() => checkDockerManifest([{ Config: 'c', Layers: ['a/../../b'] }])).toThrow(/outside the image/);
  });
});

describe('checkDigest', () => {
  it('takes sha256 with 64 lowercase hex digits only, naming the field', () => {
    expect(checkDigest(d('a'), 'blob', 'digest')).toBe(d('a'));
    expect(() => checkDigest(d('A'), 'm', 'layers[0].digest')).toThrow(/m: layers\[0\]\.digest: unsupported digest/);
    expect(() => checkDigest('sha256:../../etc/passwd', 'm', 'f')).toThrow(/not a digest/);
    expect(() => checkDigest(`sha512:${'a'.repeat(128)}`, 'm', 'f')).toThrow(/unsupported digest/);
    expect(() => checkDigest(42, 'm', 'f')).toThrow(/expected a digest string, found number 42/);
  });
});
