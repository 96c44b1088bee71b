/**
 * runSteps(): a list of mount syscalls executed in ONE native call (one thread-pool hop for the
 * Promise form). fds made by a step are referred to by the step's index; on failure every fd
 * the batch opened is closed and the error has `step`, `syscall`, `key` and `kernelMessages`.
 */
import { native } from '../binding.js';
import type { Step, StepFd, StepsResult } from '../native-types.js';
import { buffer, cString, fd, flags, invalidArgType, invalidArgValue, isHandle, uint } from '../validate.js';
import { pair } from './pair.js';

export type { Step, StepFd, StepsResult };

const STRING_FIELDS = ['fsname', 'path', 'key', 'name', 'fromPath', 'toPath', 'target', 'source', 'fstype', 'data'] as const;
const FLAG_FIELDS = ['flags', 'attrs', 'mode', 'mask', 'cmd', 'major', 'minor', 'okErrno'] as const;
const FD_FIELDS = ['fs', 'dirfd', 'from', 'to', 'fd', 'userns', 'cwd'] as const;
// The ops native/batch.cc knows (a Record, so tsc flags an op added to Step but not here);
// anything else would reach the addon and fail there without a code.
const OPS: Readonly<Record<Step['op'], true>> = {
  fsopen: true, fspick: true, fsconfig: true, fsmount: true, move_mount: true, open_tree: true,
  mount_setattr: true, open: true, mount: true, umount2: true, statx: true, close: true,
  mknod: true, setxattr: true, removexattr: true,
};

// What cString(), flags() and uint() accept, tested without building the field's name: a bulk
// batch has thousands of steps, and a name is only needed for the error.
const okString = (v: unknown) => typeof v === 'string' && !v.includes('\0');
const okUint = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;

function checkStep(step: unknown, i: number, all: readonly unknown[]): Step {
  const at = () => `steps[${i}]`;
  if (typeof step !== 'object' || step === null) throw invalidArgType(at(), 'of type object', step);
  const s = step as Record<string, unknown>;
  if (typeof s.op !== 'string') throw invalidArgType(`${at()}.op`, 'of type string', s.op);
  if (!Object.hasOwn(OPS, s.op)) throw invalidArgValue(`${at()}.op`, `must be one of ${Object.keys(OPS).join(', ')}`, s.op);
  for (const f of STRING_FIELDS) {
    const v = s[f];
    if (v !== undefined && v !== null && !okString(v)) cString(`${at()}.${f}`, v);
  }
  for (const f of FLAG_FIELDS) {
    const v = s[f];
    if (v !== undefined && !okUint(v, 0xffffffff)) flags(`${at()}.${f}`, v);
  }
  for (const f of ['attrSet', 'attrClr', 'propagation'] as const) {
    const v = s[f];
    if (v !== undefined && !okUint(v, Number.MAX_SAFE_INTEGER)) uint(`${at()}.${f}`, v);
  }
  for (const f of FD_FIELDS) {
    const v = s[f];
    if (v === undefined || v === null) continue;
    if (isHandle(v)) {
      if (v.closed) fd(`${at()}.${f}`, v); // refuses a closed handle
      continue;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= i) {
      throw invalidArgValue(`${at()}.${f}`, 'must be an fd handle or the index of an earlier step', v);
    }
  }
  if (s.op === 'fsconfig' || s.op === 'fsmount') {
    // A failed fsconfig/fsmount reads the fs context's log: read(2) on another fd eats its data.
    const v = s.fs;
    const op = typeof v === 'number' ? (all[v] as { op?: unknown } | undefined)?.op : undefined;
    if (!(isHandle(v) ? v.kind === 'fs' : op === 'fsopen' || op === 'fspick')) {
      throw invalidArgValue(`${at()}.fs`, "must be an fs-context handle or the index of an earlier fsopen or fspick step", v);
    }
  }
  if (s.op === 'fsconfig' && s.cmd === 1 && !okString(s.value)) cString(`${at()}.value`, s.value);
  // The addon takes only a Buffer here; strings and Uint8Arrays are converted as setxattr's are.
  if (s.op === 'setxattr') return { ...s, value: buffer(`${at()}.value`, s.value) } as Step;
  if (s.op === 'fsconfig' && s.cmd === 2) return { ...s, value: buffer(`${at()}.value`, s.value) } as Step;
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
