/** src/oci/digest.ts: digests of known vectors, parsing, the streaming Hasher, ChainIDs. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chainId, chainIds, digestMismatch, digestOf, Hasher, isDigest, parseDigest, type Digest } from '../../src/oci/digest.js';
import { isOverlayError, OverlaySpecError } from '../../src/spec/errors.js';

const EMPTY: Digest = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC: Digest = 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

describe('digestOf', () => {
  it('gives the FIPS 180-2 vectors', () => {
    expect(digestOf('')).toBe(EMPTY);
    expect(digestOf(Buffer.alloc(0))).toBe(EMPTY);
    expect(digestOf('abc')).toBe(ABC);
    expect(digestOf('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe('sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    expect(digestOf(Buffer.alloc(1_000_000, 'a'))).toBe('sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('hashes a string as UTF-8', () => {
    expect(digestOf('é')).toBe(digestOf(Buffer.from([0xc3, 0xa9])));
  });
});

describe('Hasher', () => {
  it('counts bytes and gives the digest of everything it was given, however split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat({ max: 3000 }), { maxLength: 6 }), (bytes, cuts) => {
        const h = new Hasher();
        let at = 0;
        for (const c of [...cuts.map((c) => Math.min(c, bytes.length))].sort((a, b) => a - b)) {
          h.update(bytes.subarray(at, c));
          at = c;
        }
        h.update(bytes.subarray(at));
        expect(h.bytes).toBe(bytes.length);
        expect(h.digest()).toBe(digestOf(bytes));
      }),
    );
  });

  it('digest() can be asked again; update() after it throws', () => {
    const h = new Hasher();
    h.update(Buffer.from('abc'));
    expect(h.digest()).toBe(ABC);
    expect(h.digest()).toBe(ABC);
    expect(() => h.update(Buffer.from('x'))).toThrow(/after digest/);
    expect(new Hasher().digest()).toBe(EMPTY);
  });
});

describe('parseDigest', () => {
  it('accepts sha256 with 64 lowercase hex digits', () => {
    expect(parseDigest(ABC)).toBe(ABC);
    expect(isDigest(ABC)).toBe(true);
    expect(isDigest(42)).toBe(false);
  });

  it.each([
    ['uppercase hex', ABC.toUpperCase().replace('SHA256', 'sha256')],
    ['short', ABC.slice(0, -1)],
    ['long', `${ABC}0`],
    ['no algorithm', ABC.slice('sha256:'.length)],
    ['sha512', `sha512:${'a'.repeat(128)}`],
    ['blank', ''],
    ['whitespace', ` ${ABC}`],
  ])('refuses %s with an OverlaySpecError naming the field', (_, s) => {
    let err: unknown;
    try {
      parseDigest(s, 'layers[2].digest');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OverlaySpecError);
    expect((err as OverlaySpecError).problems[0]!.field).toBe('layers[2].digest');
    expect((err as Error).message).toContain('layers[2].digest');
  });

  it('says only sha256 is supported when the algorithm is another', () => {
    expect(() => parseDigest(`sha512:${'a'.repeat(128)}`)).toThrow(/only sha256 is supported/);
  });
});

describe('chainId', () => {
  const a = EMPTY;
  const b = ABC;

  it('of one layer is its diffID', () => {
    expect(chainId([a])).toBe(a);
  });

  it('of two is sha256("<chainID> <diffID>"), checked against a value computed by sha256sum', () => {
    // printf '%s' "sha256:e3b0…b855 sha256:ba78…15ad" | sha256sum
    expect(chainId([a, b])).toBe('sha256:a893da35bd22286079f2f3931516d3423eb9b4945f2379e0f8a501ec3d665dd6');
  });

  it('folds from the bottom: ChainID(L2) = sha256(ChainID(L1) + " " + DiffID(L2))', () => {
    const c = digestOf('third');
    expect(chainId([a, b, c])).toBe(digestOf(`${chainId([a, b])} ${c}`));
    expect(chainIds([a, b, c])).toEqual([a, chainId([a, b]), chainId([a, b, c])]);
    expect(chainId([b, a])).not.toBe(chainId([a, b]));
  });

  it('refuses an empty stack and a bad diffID, naming which', () => {
    expect(() => chainId([])).toThrow(OverlaySpecError);
    expect(() => chainId([a, 'sha256:nope' as Digest])).toThrow(/diffIds\[1\]/);
    expect(chainIds([])).toEqual([]);
  });
});

describe('digestMismatch', () => {
  it('is ERR_DIGEST_MISMATCH with expected and actual', () => {
    const e = digestMismatch('layer blob', EMPTY, ABC, '/x/blob');
    expect(isOverlayError(e, 'ERR_DIGEST_MISMATCH')).toBe(true);
    expect(e).toMatchObject({ expected: EMPTY, actual: ABC, path: '/x/blob' });
    expect(e.message).toBe(`layer blob digest mismatch: expected ${EMPTY}, got ${ABC} ('/x/blob')`);
  });
});
