// The real dist/mount/validate.js, with validateTask observed on its way out: each result's
// identities (the device and inode validation saw, by field) go to globalThis.__ovlValidated.
// It is what test/privileged/layer-swap.test.ts does with vi.mock, for the compiled library.
import * as real from '../../dist/mount/validate.js';

export * from '../../dist/mount/validate.js';

export function* validateTask(spec) {
  const v = yield* real.validateTask(spec);
  (globalThis.__ovlValidated ??= []).push(v.identities);
  return v;
}
