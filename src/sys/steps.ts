/**
 * runSteps(): a list of syscalls run in ONE native call (one thread-pool hop for the Promise
 * form), and the single raw calls, each a batch of one. Every step is checked here against the
 * step table (step-schema.ts) with Node's own error codes, then packed into the flat form the
 * addon reads (numbers, strings, byte buffers, handles). On failure every fd the batch opened is
 * closed and the error has `step`, `syscall`, `key` and `kernelMessages`.
 */
import { native } from './binding.js';
import { buffer, invalidArgType, invalidArgValue, isHandle, isWellFormed, outOfRange } from './args.js';
import type { FdHandle, StatxResult, StepsResult } from './native-types.js';
import { NUMS_PER_STEP, OP_NAMES, packSlots, SLOTS, STEP_OPS, type ArgsOf, type FieldSlot, type OpName, type Step, type StepFd } from './step-schema.js';

export type { Step, StepFd, StepsResult };

const STATX_FIELDS = 13;
interface OpInfo {
  code: number;
  fields: FieldSlot[];
  allowed: ReadonlySet<string>;
}

/**
 * Per op, what packing needs, found with one lookup per step: its code, its fields' slots, and
 * the keys a step of it may have (its fields, the common ones, and keep for an op that opens an fd).
 * Made on an op's first use: a process uses a handful of the ~50 ops (an `ovl` command's start).
 */
const OPS = new Map<string, OpInfo>();
const OP_CODES = new Map<string, number>(OP_NAMES.map((name, code) => [name, code]));

function opInfo(name: string): OpInfo | undefined {
  let info = OPS.get(name);
  if (info === undefined) {
    const code = OP_CODES.get(name);
    if (code === undefined) return undefined;
    const op = name as OpName;
    const fields = packSlots(op);
    info = { code, fields, allowed: new Set(['op', 'okErrno', 'recordError', ...('makes' in STEP_OPS[op] ? ['keep'] : []), ...fields.map((f) => f.name)]) };
    OPS.set(name, info);
  }
  return info;
}
const FD_BASE = SLOTS.header;
const NUM_BASE = SLOTS.header + SLOTS.fd;

interface Packed {
  nums: Float64Array;
  count: number;
  strs: Array<string | Buffer | null>;
  bufs: Array<Buffer | null> | undefined;
  handles: Array<FdHandle | number>;
  statx: Float64Array;
}

/**
 * The packing arrays, reused by every call: the addon reads (and copies) the steps before it
 * returns, for the Promise form too, so no call sees another's. Allocating typed arrays per
 * call cost more than a small batch's syscalls. A sync call's statx results come back in
 * `statxPool` too; an async call's arrive later and get their own array.
 */
let numsPool = new Float64Array(NUMS_PER_STEP * 64);
let strsPool: Array<string | Buffer | null> = new Array<string | Buffer | null>(SLOTS.str * 64).fill(null);
let statxPool = new Float64Array(STATX_FIELDS * 64);
const NO_STATX = new Float64Array(0);

function pools(count: number): void {
  if (count * NUMS_PER_STEP > numsPool.length) {
    const size = Math.max(count, (numsPool.length / NUMS_PER_STEP) * 2);
    numsPool = new Float64Array(NUMS_PER_STEP * size);
    strsPool = new Array<string | Buffer | null>(SLOTS.str * size).fill(null);
  }
}

// What the checks accept, tested without building the field's name: a bulk batch has thousands
// of steps, and a name is only needed for the error.
const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
const isU64 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
const isRawFd = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;

/** Packs and checks steps; `single`: one step whose fd operands are handles or raw fd numbers. */
class Packer {
  readonly packed: Packed;
  readonly #single: boolean;
  readonly #ops: string[];
  readonly #handleIndex = new Map<FdHandle | number, number>();

  constructor(count: number, single: boolean, statx: boolean, sync: boolean) {
    this.#single = single;
    this.#ops = new Array<string>(count);
    pools(count);
    const statxLength = statx ? (single ? 1 : count) * STATX_FIELDS : 0;
    if (sync && statxLength > statxPool.length) statxPool = new Float64Array(Math.max(statxLength, statxPool.length * 2));
    this.packed = {
      nums: numsPool,
      count,
      strs: strsPool,
      bufs: undefined,
      handles: [],
      statx: statxLength === 0 ? NO_STATX : sync ? statxPool : new Float64Array(statxLength),
    };
  }

  #name(i: number, field: string): string {
    return this.#single ? field : `steps[${i}].${field}`;
  }

  #external(v: FdHandle | number): number {
    let k = this.#handleIndex.get(v);
    if (k === undefined) {
      k = this.packed.handles.push(v) - 1;
      this.#handleIndex.set(v, k);
    }
    return -2 - k;
  }

  /** An fd operand as a slot value: -1 none, a step index, or -2-k for the k-th external fd. */
  #fd(i: number, f: FieldSlot, v: unknown): number {
    if (v === undefined || v === null) {
      if (f.optional) return -1;
      throw invalidArgType(this.#name(i, f.name), this.#single ? 'an fd handle' : 'an fd handle or the index of an earlier step', v);
    }
    if (isHandle(v)) {
      if (v.closed) throw invalidArgValue(this.#name(i, f.name), 'must be an open handle', v);
      if (f.kind === 'step') throw invalidArgValue(this.#name(i, f.name), 'must be the index of an earlier step that opens an fd', v);
      if (f.kind === 'fs' && v.kind !== 'fs') {
        if (!this.#single) throw invalidArgValue(this.#name(i, f.name), "must be an fs-context handle or the index of an earlier fsopen or fspick step", v);
        throw fsExpected(this.#name(i, f.name), v);
      }
      return this.#external(v);
    }
    if (typeof v !== 'number') {
      if (!this.#single) throw invalidArgValue(this.#name(i, f.name), 'must be an fd handle or the index of an earlier step that opens an fd', v);
      if (f.kind === 'fs') throw fsExpected(this.#name(i, f.name), v);
      throw invalidArgType(this.#name(i, f.name), 'an fd handle or of type number', v);
    }
    if (this.#single) {
      // A raw number is a caller's fd; never one for an fs context, whose log a failure reads.
      if (f.kind === 'fs') throw fsExpected(this.#name(i, f.name), v);
      if (!isRawFd(v)) throw outOfRange(this.#name(i, f.name), '>= 0 && <= 2147483647', v);
      return this.#external(v);
    }
    const ref = this.#ops[v];
    if (!Number.isInteger(v) || v < 0 || v >= i || ref === undefined || !('makes' in STEP_OPS[ref as OpName])) {
      throw invalidArgValue(this.#name(i, f.name), 'must be an fd handle or the index of an earlier step that opens an fd', v);
    }
    if (f.kind === 'fs' && ref !== 'fsopen' && ref !== 'fspick') {
      throw invalidArgValue(this.#name(i, f.name), 'must be an fs-context handle or the index of an earlier fsopen or fspick step', v);
    }
    return v;
  }

  add(i: number, step: unknown, op?: OpName): void {
    if (typeof step !== 'object' || step === null) throw invalidArgType(this.#single ? 'options' : `steps[${i}]`, 'of type object', step);
    const s = step as Record<string, unknown>;
    const name = op ?? s.op;
    if (typeof name !== 'string') throw invalidArgType(`steps[${i}].op`, 'of type string', name);
    const info = opInfo(name);
    if (info === undefined) throw invalidArgValue(`steps[${i}].op`, `must be one of ${OP_NAMES.join(', ')}`, name);
    const { code, fields, allowed } = info;
    if (!this.#single) {
      for (const key in s) {
        if (!allowed.has(key)) throw invalidArgValue(`steps[${i}].${key}`, `is not a field of a ${name} step`, s[key]);
      }
    }
    this.#ops[i] = name;
    const nums = this.packed.nums;
    const row = i * NUMS_PER_STEP;
    // Every slot of the step written, so nothing of an earlier call's steps stays in the pool.
    for (let k = 0; k < SLOTS.num; k++) nums[row + NUM_BASE + k] = 0;
    const strs = this.packed.strs;
    for (let k = i * SLOTS.str; k < (i + 1) * SLOTS.str; k++) strs[k] = null;
    nums[row] = code;
    nums[row + 2] = 0;
    let bits = 0;
    if (s.keep !== undefined && s.keep !== false) {
      if (s.keep !== true) throw invalidArgType(this.#name(i, 'keep'), 'of type boolean', s.keep);
      bits |= 1;
    }
    if (s.recordError !== undefined && s.recordError !== false) {
      if (s.recordError !== true) throw invalidArgType(this.#name(i, 'recordError'), 'of type boolean', s.recordError);
      bits |= 2;
    }
    nums[row + 1] = bits;
    if (s.okErrno !== undefined) {
      if (!(isU32(s.okErrno) && s.okErrno <= 4095)) throw outOfRange(this.#name(i, 'okErrno'), '>= 0 && <= 4095', s.okErrno);
      nums[row + 2] = s.okErrno;
    }
    nums[row + FD_BASE] = -1;
    nums[row + FD_BASE + 1] = -1;
    for (const f of fields) {
      const v = s[f.name];
      switch (f.class) {
        case 'fd':
          nums[row + FD_BASE + f.slot] = this.#fd(i, f, v);
          break;
        case 'str':
          if (typeof v === 'string' && !v.includes('\0') && isWellFormed(v)) this.packed.strs[i * SLOTS.str + f.slot] = v;
          else if (v instanceof Uint8Array && !v.includes(0)) this.packed.strs[i * SLOTS.str + f.slot] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
          else if (!(f.optional && (v === undefined || v === null))) {
            // Bytes for a name that is not UTF-8, as Node's fs takes them.
            if (typeof v !== 'string' && !(v instanceof Uint8Array)) throw invalidArgType(this.#name(i, f.name), 'of type string or an instance of Buffer', v);
            if (typeof v === 'string' && !v.includes('\0')) {
              throw invalidArgValue(this.#name(i, f.name), 'must be well-formed Unicode (no lone surrogates); give a Buffer for a name that is not UTF-8', v);
            }
            throw invalidArgValue(this.#name(i, f.name), 'must be a string without null bytes', v);
          }
          break;
        case 'buf':
          (this.packed.bufs ??= new Array<Buffer | null>(this.#ops.length).fill(null))[i] = buffer(this.#name(i, f.name), v);
          break;
        case 'num':
          nums[row + NUM_BASE + f.slot] = this.#num(i, f, v);
          break;
      }
    }
  }

  #num(i: number, f: FieldSlot, v: unknown): number {
    if (v === undefined && f.optional) return 0;
    if (f.kind === 'bool?') {
      if (typeof v !== 'boolean') throw invalidArgType(this.#name(i, f.name), 'of type boolean', v);
      return v ? 1 : 0;
    }
    if (typeof v !== 'number') throw invalidArgType(this.#name(i, f.name), 'of type number', v);
    if (f.kind === 'int') {
      if (!Number.isSafeInteger(v)) throw outOfRange(this.#name(i, f.name), 'a safe integer', v);
      return v;
    }
    const u64 = f.kind === 'u64' || f.kind === 'u64?';
    if (!(u64 ? isU64(v) : isU32(v))) throw outOfRange(this.#name(i, f.name), u64 ? `>= 0 && <= ${Number.MAX_SAFE_INTEGER}` : '>= 0 && <= 4294967295', v);
    return v;
  }
}

function fsExpected(name: string, v: unknown): TypeError {
  return invalidArgType(name, "an fd handle of kind 'fs' (from fsopen or fspick; adoptFd(n, 'fs') for an fs-context fd opened elsewhere)", v);
}

/** The statx fields the addon wrote at `at` as a StatxResult. */
function statxAt(out: Float64Array, at: number): StatxResult {
  const b = at * STATX_FIELDS;
  const st: StatxResult = {
    mask: out[b]!,
    mode: out[b + 1]!,
    nlink: out[b + 2]!,
    uid: out[b + 3]!,
    gid: out[b + 4]!,
    ino: out[b + 5]!,
    size: out[b + 6]!,
    devMajor: out[b + 7]!,
    devMinor: out[b + 8]!,
    rdevMajor: out[b + 9]!,
    rdevMinor: out[b + 10]!,
  };
  if (!Number.isNaN(out[b + 11])) {
    st.mountId = out[b + 11]!;
    st.mountIdUnique = out[b + 12] === 1;
  }
  return st;
}

function packBatch(steps: readonly Step[], sync: boolean): Packer {
  if (!Array.isArray(steps)) throw invalidArgType('steps', 'an instance of Array', steps);
  let statx = false;
  for (const s of steps) if ((s as { op?: unknown } | null)?.op === 'statx') statx = true;
  const packer = new Packer(steps.length, false, statx, sync);
  for (let i = 0; i < steps.length; i++) packer.add(i, steps[i]);
  if (statx) packer.packed.statx.fill(NaN, 0, steps.length * STATX_FIELDS);
  return packer;
}

/** The addon's answer as a StepsResult: the kernel's messages, when any, come after the results. */
function stepsResult(raw: unknown[], steps: readonly Step[], statx: Float64Array): StepsResult {
  const kernelMessages = raw.length > steps.length ? (raw.pop() as string[]) : [];
  if (statx.length > 0) {
    for (let i = 0; i < steps.length; i++) {
      // NaN: not written (an okErrno or recorded failure).
      if (steps[i]!.op === 'statx' && raw[i] === undefined && !Number.isNaN(statx[i * STATX_FIELDS])) raw[i] = statxAt(statx, i);
    }
  }
  return { results: raw, kernelMessages };
}

/**
 * Runs the steps in one native call. A step's fd operand is a handle, or the index of an
 * earlier step that opened an fd; `keep: true` returns that fd as a handle. `okErrno` makes one
 * errno count as success (the result is then undefined), `recordError` lets the batch go on past
 * a failure (the result is then the error). Results are per step (see StepsResult).
 */
export async function runSteps(steps: readonly Step[]): Promise<StepsResult> {
  const { packed: p } = packBatch(steps, false);
  const raw = (await native().runSteps(p.nums, p.count, p.strs, p.bufs, p.handles, p.statx, false)) as unknown[];
  return stepsResult(raw, steps, p.statx);
}

/** runSteps() on the calling thread. */
export function runStepsSync(steps: readonly Step[]): StepsResult {
  const { packed: p } = packBatch(steps, true);
  const raw = native().runStepsSync(p.nums, p.count, p.strs, p.bufs, p.handles, p.statx, false) as unknown[];
  return stepsResult(raw, steps, p.statx);
}

/** Result type of a single call of op `O`. */
type SingleResult<O extends OpName> = (typeof STEP_OPS)[O] extends { makes: string }
  ? FdHandle
  : (typeof STEP_OPS)[O] extends { result: infer R }
    ? R extends 'statx'
      ? StatxResult
      : R extends 'buffer'
        ? Buffer
        : R extends 'names' | 'messages'
          ? string[]
          : R extends 'number'
            ? number
            : R extends 'string'
              ? string
              : R extends 'statmount'
                ? import('./native-types.js').StatmountResult
                : R extends 'entries'
                  ? [names: string[], types: string]
                  : R extends 'ids'
                    ? Float64Array
                    : R extends 'scan'
                      ? [names: string[], types: string, marks: Array<number | string | Buffer>]
                      : void
    : void;

function packOne(op: OpName, args: object, sync: boolean): Packer {
  const packer = new Packer(1, true, op === 'statx', sync);
  packer.add(0, args, op);
  return packer;
}

/**
 * The raw call for op `O`: `[async form, Sync form]`. `toArgs` maps the function's parameters
 * to the step's fields; the async form is `async`, so a bad argument rejects rather than throws.
 */
export function rawCall<O extends OpName, P extends unknown[]>(
  op: O,
  toArgs: (...params: P) => ArgsOf<O>,
): readonly [(...params: P) => Promise<SingleResult<O>>, (...params: P) => SingleResult<O>] {
  const isStatx = op === 'statx';
  return [
    async (...params: P) => {
      const { packed: p } = packOne(op, toArgs(...params), false);
      const r = await native().runSteps(p.nums, 1, p.strs, p.bufs, p.handles, p.statx, true);
      return (isStatx ? statxAt(p.statx, 0) : r) as SingleResult<O>;
    },
    (...params: P) => {
      const { packed: p } = packOne(op, toArgs(...params), true);
      const r = native().runStepsSync(p.nums, 1, p.strs, p.bufs, p.handles, p.statx, true);
      return (isStatx ? statxAt(p.statx, 0) : r) as SingleResult<O>;
    },
  ];
}
