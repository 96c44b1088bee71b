/** Image references as Docker writes them: parseReference and formatReference (pure). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatReference, parseReference, repoDigest, storeName, type ImageReference } from '../../src/registry/reference.js';

const D = `sha256:${'ab'.repeat(32)}` as const;

describe('parseReference', () => {
  const table: Array<[string, Partial<ImageReference> & { tag?: string | undefined }]> = [
    ['busybox', { domain: 'docker.io', repository: 'library/busybox', tag: 'latest', familiar: 'busybox', apiHost: 'registry-1.docker.io' }],
    ['busybox:1.36', { domain: 'docker.io', repository: 'library/busybox', tag: '1.36', familiar: 'busybox' }],
    ['user/app', { domain: 'docker.io', repository: 'user/app', tag: 'latest', familiar: 'user/app', apiHost: 'registry-1.docker.io' }],
    ['docker.io/library/busybox:1', { domain: 'docker.io', repository: 'library/busybox', tag: '1', familiar: 'busybox' }],
    ['docker.io/busybox', { domain: 'docker.io', repository: 'library/busybox', familiar: 'busybox' }],
    ['index.docker.io/busybox', { domain: 'docker.io', repository: 'library/busybox', familiar: 'busybox', apiHost: 'registry-1.docker.io' }],
    ['index.docker.io/user/app:2', { domain: 'docker.io', repository: 'user/app', tag: '2', familiar: 'user/app' }],
    ['localhost:5000/a/b:tag', { domain: 'localhost:5000', repository: 'a/b', tag: 'tag', familiar: 'localhost:5000/a/b', apiHost: 'localhost:5000' }],
    ['localhost/app', { domain: 'localhost', repository: 'app', tag: 'latest', familiar: 'localhost/app' }],
    ['127.0.0.1:5000/ovl/app', { domain: '127.0.0.1:5000', repository: 'ovl/app', tag: 'latest', apiHost: '127.0.0.1:5000' }],
    ['ghcr.io/org/app:v1.2-rc_3', { domain: 'ghcr.io', repository: 'org/app', tag: 'v1.2-rc_3', familiar: 'ghcr.io/org/app' }],
    ['[::1]:5000/app:1', { domain: '[::1]:5000', repository: 'app', tag: '1' }],
    // A capital in the first component makes it a registry host (a repository cannot have one).
    ['Foo/bar', { domain: 'Foo', repository: 'bar', tag: 'latest', familiar: 'Foo/bar', apiHost: 'Foo' }],
    // A bare name with a port-like suffix is a tag, as Docker reads it.
    ['localhost:5000', { domain: 'docker.io', repository: 'library/localhost', tag: '5000' }],
    ['a__b/c-d.e', { domain: 'docker.io', repository: 'a__b/c-d.e' }],
    ['busybox:Latest', { tag: 'Latest' }],
    ['x:' + 'a'.repeat(128), { tag: 'a'.repeat(128) }],
  ];
  for (const [ref, want] of table) {
    it(`${ref.length > 40 ? `${ref.slice(0, 40)}…` : ref}`, () => {
      const got = parseReference(ref);
      expect(got).toMatchObject(want);
      expect(got.digest).toBeUndefined();
    });
  }

  it('a digest: kept; with no tag given the reference has none (tag: latest is not assumed)', () => {
    const byDigest = parseReference(`127.0.0.1:5000/app@${D}`);
    expect(byDigest).toEqual({ domain: '127.0.0.1:5000', repository: 'app', digest: D, familiar: '127.0.0.1:5000/app', apiHost: '127.0.0.1:5000' });
    expect('tag' in byDigest).toBe(false);
    expect(storeName(byDigest)).toBeUndefined();
    expect(parseReference(`busybox@${D}`)).toMatchObject({ domain: 'docker.io', repository: 'library/busybox', digest: D });
    expect(parseReference(`busybox@${D}`).tag).toBeUndefined();
    // Both: both kept.
    expect(parseReference(`busybox:1.36@${D}`)).toMatchObject({ tag: '1.36', digest: D });
  });

  it('refusals: ERR_OVERLAY_SPEC naming the field and the reference', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /non-empty/],
      ['BUSYBOX', /capitals/],
      ['localhost:5000/Foo', /capitals/],
      ['docker.io/Library/busybox', /capitals/],
      ['x:' + 'a'.repeat(129), /invalid tag/],
      ['x:.tag', /invalid tag/],
      ['x:-tag', /invalid tag/],
      ['x:ta/g', /./],
      [`busybox@sha256:${'a'.repeat(63)}`, /digest/],
      [`busybox@sha256:${'A'.repeat(64)}`, /digest/],
      ['busybox@md5:abc', /digest/],
      [':tag', /no repository/],
      ['/busybox', /not a valid repository name/],
      ['busybox/', /not a valid repository name/],
      ['a..b', /not a valid repository name/],
      ['a/-b', /not a valid repository name/],
      ['bad_host.io:x/app', /invalid registry host|not a valid/],
      [`host.io/${'a'.repeat(250)}`, /longer than 255/],
      ['a'.repeat(513), /longer than 512/],
    ];
    for (const [ref, problem] of bad) {
      let err: unknown;
      try {
        parseReference(ref, 'image');
      } catch (e) {
        err = e;
      }
      expect(err, ref).toMatchObject({ code: 'ERR_OVERLAY_SPEC' });
      expect((err as Error).message, ref).toMatch(problem);
      if (ref !== '') expect((err as Error).message, ref).toContain('image');
    }
  });

  it('storeName and repoDigest are the names docker shows', () => {
    expect(storeName(parseReference('docker.io/library/busybox'))).toBe('busybox:latest');
    expect(storeName(parseReference('127.0.0.1:5000/ovl/app:v1'))).toBe('127.0.0.1:5000/ovl/app:v1');
    expect(repoDigest(parseReference('busybox:1'), D)).toBe(`busybox@${D}`);
    expect(repoDigest(parseReference('127.0.0.1:5000/ovl/app:v1'), D)).toBe(`127.0.0.1:5000/ovl/app@${D}`);
  });
});

describe('formatReference', () => {
  it('writes the reference in full', () => {
    expect(formatReference(parseReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(formatReference(parseReference(`127.0.0.1:5000/app@${D}`))).toBe(`127.0.0.1:5000/app@${D}`);
    expect(formatReference(parseReference(`app:1@${D}`))).toBe(`docker.io/library/app:1@${D}`);
  });

  // Valid references as distribution's grammar has them: a registry host (a dot, a port,
  // localhost, or a capital) or none, lowercase path components, a tag and/or a digest.
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
  const port = fc.integer({ min: 1, max: 65535 });
  const domain = fc.oneof(
    fc.constant(undefined),
    fc.tuple(fc.array(label, { minLength: 2, maxLength: 3 }), fc.option(port, { nil: undefined })).map(([ls, p]) => `${ls.join('.')}${p !== undefined ? `:${p}` : ''}`),
    fc.tuple(label, port).map(([l, p]) => `${l}:${p}`),
    fc.option(port, { nil: undefined }).map((p) => `localhost${p !== undefined ? `:${p}` : ''}`),
    fc.tuple(fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,6}$/)).map(([s]) => s),
    fc.constantFrom('docker.io', 'index.docker.io', '127.0.0.1:5000', '[::1]:5000'),
  );
  const component = fc.stringMatching(/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+){0,2}$/).filter((c) => c.length <= 30);
  const tag = fc.stringMatching(/^[\w][\w.-]{0,20}$/);
  const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
  const reference = fc
    .record({
      domain,
      path: fc.array(component, { minLength: 1, maxLength: 3 }),
      tag: fc.option(tag, { nil: undefined }),
      digest: fc.option(digest, { nil: undefined }),
    })
    // With no registry, a first component that looks like a host (a dot, localhost) would be read as one.
    .filter(({ domain: d, path }) => d !== undefined || path.length === 1 || !(path[0]!.includes('.') || path[0] === 'localhost'))
    .map(({ domain: d, path, tag: t, digest: g }) => `${d !== undefined ? `${d}/` : ''}${path.join('/')}${t !== undefined ? `:${t}` : ''}${g !== undefined ? `@${g}` : ''}`);

  it('property: formatReference(parseReference(x)) parses back to the same fields', () => {
    fc.assert(
      fc.property(reference, (x) => {
        const once = parseReference(x);
        const text = formatReference(once);
        const twice = parseReference(text);
        expect(twice).toEqual(once);
        // And formatting is stable.
        expect(formatReference(twice)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});
