/**
 * What the store's commands share beyond docker's formats: the store that --root names (default
 * $OVL_ROOT, else the library's defaultStoreRoot()), and the loop of docker's commands that take
 * many names (docker rm A B: each one done or its failure printed, exit 1 when one failed).
 */
import { openStore, type Store } from '../store/store.js';
import { storeFailure, UsageError, type Values } from './command.js';

export async function storeOf(values: Values): Promise<Store> {
  const root = values.root;
  if (root !== undefined && (typeof root !== 'string' || root === '')) throw new UsageError('--root needs a directory');
  return openStore(root !== undefined ? { root: root as string } : {});
}

/**
 * Runs `fn` on each name in turn, as docker does with several: a failure is printed (docker's
 * words) and the rest still run. 0 when every one succeeded, else 1.
 */
export async function eachName(names: readonly string[], fn: (name: string) => Promise<void>): Promise<number> {
  let code = 0;
  for (const name of names) {
    try {
      await fn(name);
    } catch (e) {
      code = storeFailure(e);
    }
  }
  return code;
}
