/**
 * describe() for tests that mount. Where they cannot run, each test is reported as skipped with
 * the reason in its name; scripts/run-tests.mjs fails a CI run (CI=true) that skipped any.
 */
import { describe } from 'vitest';
import { privilegedSkipReason } from './caps.js';

export const skipReason = privilegedSkipReason();

export function describePrivileged(name: string, fn: () => void): void {
  if (skipReason === null) describe(name, fn);
  else describe.skip(`${name} [skipped: ${skipReason}]`, fn);
}
