/**
 * Setup of the `unit` project: the native addon cannot be loaded. Unit tests cover the pure
 * parts (spec, plan, parsing, formatting), which must work where the addon is not built;
 * a test that needs the addon belongs in test/native or test/privileged.
 */
import { vi } from 'vitest';

vi.mock('../../src/sys/binding.js', () => ({
  native: () => {
    throw new Error('a unit test loaded the native addon: unit tests run without it (move the test to test/native)');
  },
  nativeLoaded: () => false,
}));
