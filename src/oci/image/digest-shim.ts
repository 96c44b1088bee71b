/**
 * TEMPORARY: the few digest helpers image/ needs until src/oci/digest.ts (branch oci-compress)
 * is merged; the names and shapes are theirs, so switching is an import change and this file
 * goes.
 */
import { createHash, type Hash } from 'node:crypto';

export type Digest = `sha256:${string}`;

export class Hasher {
  #hash: Hash = createHash('sha256');
  bytes = 0;
  update(b: Uint8Array): this {
    this.#hash.update(b);
    this.bytes += b.length;
    return this;
  }
  digest(): Digest {
    return `sha256:${this.#hash.digest('hex')}`;
  }
}

export function digestOf(buf: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** ChainID of a stack of diffIDs, bottom first (image-spec config.md). */
export function chainId(diffIds: readonly Digest[]): Digest {
  if (diffIds.length === 0) throw new RangeError('chainId of no layers');
  let id = diffIds[0]!;
  for (const d of diffIds.slice(1)) id = digestOf(`${id} ${d}`);
  return id;
}
