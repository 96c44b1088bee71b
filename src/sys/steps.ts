/**
 * runSteps(): a list of mount syscalls executed in ONE native call (one thread-pool hop for the
 * Promise form). fds made by a step are referred to by the step's index; on failure every fd
 * the batch opened is closed and the error has `step`, `syscall`, `key` and `kernelMessages`.
 */
import { native } from '../binding.js';
import type { Step, StepFd, StepsResult } from '../native-types.js';
import { buffer, cString, flags, invalidArgType, invalidArgValue, isHandle, uint } from '../validate.js';
import { pair } from './pair.js';

export type { Step, StepFd, StepsResult };

const STRING_FIELDS = ['fsname', 'path', 'key', 'fromPath', 'toPath', 'target', 'source', 'fstype', 'data'] as const;
const FLAG_FIELDS = ['flags', 'attrs', 'mode', 'mask', 'cmd'] as const;
const FD_FIELDS = ['fs', 'dirfd', 'from', 'to', 'fd', 'userns', 'cwd'] as const;

function checkStep(step: unknown, i: number): Step {
  const at = `steps[${i}]`;
  if (typeof step !== 'object' || step === null) throw invalidArgType(at, 'of type object', step);
  const s = step as Record<string, unknown>;
  if (typeof s.op !== 'string') throw invalidArgType(`${at}.op`, 'of type string', s.op);
  for (const f of STRING_FIELDS) if (s[f] !== undefined && s[f] !== null) cString(`${at}.${f}`, s[f]);
  for (const f of FLAG_FIELDS) flags(`${at}.${f}`, s[f]);
  for (const f of ['attrSet', 'attrClr', 'propagation'] as const) uint(`${at}.${f}`, s[f]);
  for (const f of FD_FIELDS) {
    const v = s[f];
    if (v === undefined || v === null || isHandle(v)) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= i) {
      throw invalidArgValue(`${at}.${f}`, 'must be an fd handle or the index of an earlier step', v);
    }
  }
  if (s.op === 'fsconfig' && s.cmd === 1) cString(`${at}.value`, s.value);
  if (s.op === 'fsconfig' && s.cmd === 2) buffer(`${at}.value`, s.value);
  return step as Step;
}

export const [runSteps, runStepsSync] = pair(
  (steps: readonly Step[]) => {
    if (!Array.isArray(steps)) throw invalidArgType('steps', 'an instance of Array', steps);
    return [steps.map(checkStep)] as const;
  },
  native.runSteps,
  native.runStepsSync,
);
