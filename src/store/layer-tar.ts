/**
 * A stored layer's tar, rebuilt byte for byte from its files and its tar-split: what save and
 * push send, and what an import applies again for the same layer on another base.
 */
import { stat } from 'node:fs/promises';
import { digestMismatch, Hasher } from '../oci/digest.js';
import { rebuildTar } from '../oci/tar/split.js';
import { OverlayError } from '../spec/errors.js';
import type { StoreContext } from './context.js';
import type { LayerRecord } from './records.js';

/**
 * A stored layer's tar, rebuilt; fails with ERR_DIGEST_MISMATCH at its end when the result is not
 * the layer's diffID (its files were changed after it was applied).
 */
export async function* storedLayerTar(ctx: StoreContext, layer: LayerRecord): AsyncGenerator<Buffer> {
  const split = ctx.layout.tarSplit(layer.chainId);
  if (!(await stat(split).catch(() => undefined))) {
    throw new OverlayError('ERR_STORE', `layer ${layer.chainId} has no tar-split ('${split}'): its tar cannot be rebuilt`, { path: split });
  }
  const hash = new Hasher();
  for await (const chunk of rebuildTar(split, ctx.layout.diff(layer.cacheId))) {
    hash.update(chunk);
    yield chunk;
  }
  const actual = hash.digest();
  if (actual !== layer.diffId) throw digestMismatch(`layer ${layer.chainId} rebuilt from '${ctx.layout.diff(layer.cacheId)}' (its files changed after it was applied)`, layer.diffId, actual);
}
