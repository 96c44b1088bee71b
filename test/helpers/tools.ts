/**
 * describe() for unit tests that run another program as an independent implementation (GNU tar,
 * python3) and need no root: skipped with the reason where the program is missing, and in
 * CI=true every test failing with it instead (CI installs them).
 */
import { accessSync, constants } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { beforeEach, describe } from 'vitest';
import { inCI } from './caps.js';

export function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(`${dir}/${tool}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Why `tool` cannot be used, or null. 'gnu-tar' is `tar` that says it is GNU tar. */
function missing(tool: string): string | null {
  if (tool === 'gnu-tar') {
    if (!onPath('tar')) return 'tar is not installed';
    const v = spawnSync('tar', ['--version'], { encoding: 'utf8' });
    return /GNU tar/.test(v.stdout ?? '') ? null : 'tar is not GNU tar';
  }
  return onPath(tool) ? null : `${tool} is not installed`;
}

export function describeWithTools(tools: readonly string[], name: string, fn: () => void): void {
  const reasons = tools.map(missing).filter((r): r is string => r !== null);
  if (reasons.length === 0) describe(name, fn);
  else if (inCI) {
    describe(`${name} [${reasons.join('; ')}]`, () => {
      beforeEach(() => {
        throw new Error(`CI=true requires this test to run, but ${reasons.join('; ')}`);
      });
      fn();
    });
  } else describe.skip(`${name} [skipped: ${reasons.join('; ')}]`, fn);
}
