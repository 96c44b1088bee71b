/**
 * Every raw call comes as a Promise function and a `…Sync` twin that share one argument check.
 * The Promise form is `async`, so a bad argument rejects instead of throwing synchronously.
 */
export function pair<A extends unknown[], N extends unknown[], R>(
  check: (...args: A) => N,
  run: (...args: N) => Promise<R>,
  runSync: (...args: N) => R,
): readonly [(...args: A) => Promise<R>, (...args: A) => R] {
  return [async (...args: A) => run(...check(...args)), (...args: A) => runSync(...check(...args))];
}
