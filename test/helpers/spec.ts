/** Reading an OverlaySpecError's problems in tests. */
import { expect } from 'vitest';
import { OverlaySpecError, type SpecProblem } from '../../src/spec/errors.js';
import type { OverlaySpec } from '../../src/spec/types.js';
import { validateSpecSync } from '../../src/mount/validate.js';

/** The problems of the OverlaySpecError that validateSpecSync throws for `spec`. */
export function problemsOf(spec: unknown): SpecProblem[] {
  let thrown: unknown;
  try {
    validateSpecSync(spec as OverlaySpec);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(OverlaySpecError);
  const err = thrown as OverlaySpecError;
  expect(err.code).toBe('ERR_OVERLAY_SPEC');
  return [...err.problems];
}

export const problem = (field: string, re: RegExp) => ({ field, problem: expect.stringMatching(re) as unknown as string });

/** Asserts validateSpecSync refuses `spec` with (at least) this field and problem. */
export function expectProblem(spec: unknown, field: string, re: RegExp): SpecProblem[] {
  const problems = problemsOf(spec);
  expect(problems).toContainEqual(problem(field, re));
  return problems;
}
