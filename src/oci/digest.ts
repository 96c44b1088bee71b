/**
 * OCI content digests (image-spec descriptor.md): `sha256:` and 64 lowercase hex digits. Only
 * sha256: it is what every registry and runtime writes, and accepting sha512 here would promise
 * it in every place that stores or compares digests.
 *
 * ChainID (image-spec config.md): ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1)
 * + " " + DiffID(Ln)), the digests as strings with their `sha256:` prefix.
 */
import { createHash, type Hash } from 'node:crypto';
import { OverlayError, OverlaySpecError } from '../spec/errors.js';

export type Digest = `sha256:${string}`;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** True when `s` is a sha256 digest as OCI writes it. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST.test(s);
}

/** `s` as a Digest; anything else is an OverlaySpecError naming `field`. */
export function parseDigest(s: string, field = 'digest'): Digest {
  if (isDigest(s)) return s;
  const shown = typeof s === 'string' ? `'${s.length > 80 ? `${s.slice(0, 80)}…` : s}'` : typeof s;
  const why = typeof s === 'string' && /^[a-z0-9]+[+._-]?[a-z0-9]*:/.test(s) && !s.startsWith('sha256:') ? ' (only sha256 is supported)' : '';
  throw new OverlaySpecError([{ field, problem: `not a digest: ${shown}: expected 'sha256:' and 64 lowercase hex digits${why}` }]);
}

/** sha256 as bytes pass, with a count of them. */
export class Hasher {
  readonly #hash: Hash = createHash('sha256');
  #bytes = 0;
  #digest: Digest | undefined;

  update(b: Uint8Array): void {
    if (this.#digest !== undefined) throw new Error('Hasher.update() after digest()');
    this.#hash.update(b);
    this.#bytes += b.byteLength;
  }

  /** The digest of everything given so far; after it, update() throws. Repeatable. */
  digest(): Digest {
    this.#digest ??= `sha256:${this.#hash.digest('hex')}`;
    return this.#digest;
  }

  /** How many bytes were given. */
  get bytes(): number {
    return this.#bytes;
  }
}

/** The sha256 digest of `b` (a string is hashed as UTF-8). */
export function digestOf(b: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The ChainID of the top layer of a stack, given the diffIDs bottom first (as rootfs.diff_ids). */
export function chainId(diffIds: readonly Digest[]): Digest {
  if (diffIds.length === 0) throw new OverlaySpecError([{ field: 'diffIds', problem: 'a ChainID needs at least one layer' }]);
  let id = parseDigest(diffIds[0]!, 'diffIds[0]');
  for (let i = 1; i < diffIds.length; i++) id = digestOf(`${id} ${parseDigest(diffIds[i]!, `diffIds[${i}]`)}`);
  return id;
}

/** The ChainIDs of every layer of a stack, bottom first. */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (let i = 0; i < diffIds.length; i++) {
    const d = parseDigest(diffIds[i]!, `diffIds[${i}]`);
    out.push(i === 0 ? d : digestOf(`${out[i - 1]!} ${d}`));
  }
  return out;
}

/** ERR_DIGEST_MISMATCH for content `what` (e.g. "layer blob", "layer diffID"). */
export function digestMismatch(what: string, expected: Digest, actual: Digest, path?: string): OverlayError {
  return new OverlayError('ERR_DIGEST_MISMATCH', `${what} digest mismatch: expected ${expected}, got ${actual}${path === undefined ? '' : ` ('${path}')`}`, {
    expected,
    actual,
    ...(path === undefined ? {} : { path }),
  });
}
