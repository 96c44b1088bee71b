/**
 * The store's pure parts: references as Docker normalizes them, docker run's -v and --tmpfs
 * syntax, short names and ids, and the record shape checks that guard what is read from disk.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMounts } from '../../src/store/containers.js';
import { ID, newId, newShortName, SHORT_NAME, StoreLayout } from '../../src/store/layout.js';
import { isContainerRecord, isLayerRecord, normalizeRef, shortId, splitRef } from '../../src/store/records.js';

const D = `sha256:${'a'.repeat(64)}` as const;

describe('image references', () => {
  it('gets :latest when it has no tag; keeps a registry host with a port apart from the tag', () => {
    expect(normalizeRef('busybox')).toBe('busybox:latest');
    expect(normalizeRef('busybox:1.36')).toBe('busybox:1.36');
    expect(normalizeRef('localhost:5000/team/app')).toBe('localhost:5000/team/app:latest');
    expect(normalizeRef('registry.example.com:443/a/b:v1.2-rc_3')).toBe('registry.example.com:443/a/b:v1.2-rc_3');
    expect(splitRef('localhost:5000/team/app:latest')).toEqual({ repository: 'localhost:5000/team/app', tag: 'latest' });
    // Docker Hub's names as docker shows them.
    expect(['docker.io/library/busybox:1.36', 'library/busybox:1.36', 'index.docker.io/library/busybox:1.36'].map((r) => normalizeRef(r))).toEqual(Array(3).fill('busybox:1.36'));
    expect(normalizeRef('docker.io/team/app')).toBe('team/app:latest');
    expect(normalizeRef('quay.io/library/x')).toBe('quay.io/library/x:latest');
  });

  it('refuses what Docker refuses, naming the field', () => {
    for (const bad of ['', 'Busybox', 'a//b', 'a:', 'a:-x', 'app@sha256:' + 'a'.repeat(64), '-a', 'a:' + 'x'.repeat(129)]) {
      expect(() => normalizeRef(bad, 'tag'), bad).toThrow(expect.objectContaining({ code: 'ERR_OVERLAY_SPEC', problems: [expect.objectContaining({ field: 'tag' })] }));
    }
  });

  it('normalizing is idempotent and keeps the name', () => {
    const component = fc.stringMatching(/^[a-z0-9]+([._-][a-z0-9]+)*$/).filter((s) => s.length <= 30);
    const tag = fc.stringMatching(/^\w[\w.-]{0,20}$/);
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 3 }), fc.option(tag), (parts, t) => {
        const ref = parts.join('/') + (t === null ? '' : `:${t}`);
        const once = normalizeRef(ref);
        expect(normalizeRef(once)).toBe(once);
        expect(splitRef(once).repository).toBe(parts.join('/'));
      }),
    );
  });

  it('short ids are the 12 hex characters docker prints', () => {
    expect(shortId(D)).toBe('aaaaaaaaaaaa');
    expect(shortId('0123456789abcdef')).toBe('0123456789ab');
  });
});

describe('docker run -v and --tmpfs', () => {
  it('named volumes, host paths and tmpfs with options', () => {
    expect(parseMounts(['data:/var/lib/data', '/srv/www:/usr/share/www:ro', 'logs:/logs/:rw'], ['/tmp', '/run:size=64m,mode=755'])).toEqual([
      { type: 'volume', name: 'data', destination: '/var/lib/data', readOnly: false },
      { type: 'bind', source: '/srv/www', destination: '/usr/share/www', readOnly: true },
      { type: 'volume', name: 'logs', destination: '/logs', readOnly: false },
      { type: 'tmpfs', destination: '/tmp' },
      { type: 'tmpfs', destination: '/run', size: '64m', mode: 0o755 },
    ]);
  });

  it('every bad value is named in one error', () => {
    let caught: unknown;
    try {
      parseMounts(['x', 'v:/a:rx', 'v:rel', '../up:/a', 'v:/', 'w:/a'], ['/t:size=lots', '/a']);
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({
      code: 'ERR_OVERLAY_SPEC',
      problems: [
        { field: 'volumes[0]', problem: "'x' is not SOURCE:/path[:ro|rw]" },
        { field: 'volumes[1]', problem: "'rx' is not ro or rw" },
        { field: 'volumes[2]', problem: "the destination 'rel' must be an absolute path in the container" },
        { field: 'volumes[3]', problem: expect.stringContaining("'../up' is neither a volume name") },
        { field: 'volumes[4]', problem: "cannot mount over the container's root (/)" },
        { field: 'tmpfs[0]', problem: "'size=lots' is not size=N[k|m|g|%] or mode=OCTAL" },
        { field: 'mounts', problem: "two mounts at '/a'" },
      ],
    });
  });
});

describe('names and records', () => {
  it('short names are overlay2\'s 26 characters of A-Z0-9; ids 64 hex', () => {
    const names = new Set(Array.from({ length: 200 }, newShortName));
    expect(names.size).toBe(200);
    for (const n of names) expect(n).toMatch(SHORT_NAME);
    expect(newId()).toMatch(ID);
  });

  it('the layout is overlay2\'s', () => {
    const l = new StoreLayout('/s');
    expect([l.diff('c'), l.link('ABC'), l.layerRecord(D), l.imageRecord(D), l.volumeData('v')]).toEqual([
      '/s/overlay/c/diff',
      '/s/overlay/l/ABC',
      `/s/layerdb/sha256/${'a'.repeat(64)}.json`,
      `/s/imagedb/sha256/${'a'.repeat(64)}.json`,
      '/s/volumes/v/_data',
    ]);
  });

  it('a record from disk is trusted only in its shape: a cache id that is a path, a bad link or digest is refused', () => {
    const layer = { chainId: D, diffId: D, cacheId: 'b'.repeat(64), link: 'A'.repeat(26), size: 1, digest: D, mediaType: 'x', compressedSize: 1, entries: 1, created: 'now' };
    expect(isLayerRecord(layer)).toBe(true);
    expect(isLayerRecord({ ...layer, cacheId: '../../etc' })).toBe(false);
    expect(isLayerRecord({ ...layer, link: '../x' })).toBe(false);
    expect(isLayerRecord({ ...layer, parent: 'sha256:zz' })).toBe(false);
    expect(isLayerRecord({ ...layer, size: -1 })).toBe(false);
    const container = { id: 'c'.repeat(64), name: 'n', image: D, imageName: 'x:latest', cacheId: 'b'.repeat(64), link: 'A'.repeat(26), created: 'now', mounts: [], size: 0 };
    expect(isContainerRecord(container)).toBe(true);
    expect(isContainerRecord({ ...container, mounts: [{ type: 'bind', destination: '/a' }] })).toBe(false);
    expect(isContainerRecord({ ...container, id: 'short' })).toBe(false);
  });
});
