/**
 * Argument checks with Node's own error codes (ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE,
 * ERR_OUT_OF_RANGE), made before any syscall.
 */
import { inspect } from 'node:util';
import type { FdHandle } from './native-types.js';
import { native } from './binding.js';

type ErrorCtor = new (message: string) => Error;

function nodeError(Ctor: ErrorCtor, code: string, message: string): Error & { code: string } {
  const err = new Ctor(message) as Error & { code: string };
  err.code = code;
  return err;
}

function received(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`;
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') return `Received an instance of ${value.constructor?.name ?? 'Object'}`;
  return `Received type ${typeof value} (${inspect(value).slice(0, 28)})`;
}

export function invalidArgType(name: string, expected: string, value: unknown): TypeError {
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}. ${received(value)}`) as TypeError;
}

export function invalidArgValue(name: string, reason: string, value: unknown): TypeError {
  return nodeError(
    TypeError,
    'ERR_INVALID_ARG_VALUE',
    `The argument '${name}' ${reason}. Received ${inspect(value).slice(0, 128)}`,
  ) as TypeError;
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  return nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`) as RangeError;
}

/**
 * No lone surrogate: the string converts to UTF-8 exactly (String#isWellFormed, Node 20+ has it
 * in V8 but not in TypeScript's es2023 lib). spec/shape.ts has the same check: spec/ may not
 * import sys/.
 */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

const NOT_WELL_FORMED = 'must be well-formed Unicode (no lone surrogates)';

/**
 * A string handed to the kernel as a C string: a NUL byte would silently cut it short, and a lone
 * surrogate would become U+FFFD (another name). Where a Buffer is taken too, use cPath().
 */
export function cString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.includes('\0')) throw invalidArgValue(name, 'must be a string without null bytes', value);
  if (!isWellFormed(value)) throw invalidArgValue(name, NOT_WELL_FORMED, value);
  return value;
}

/**
 * A path handed to the kernel: a string as cString() takes it, or its bytes (a Buffer or a
 * Uint8Array, as Node's fs takes paths) for a name that is not UTF-8. A Uint8Array comes back
 * as a Buffer over the same memory.
 */
export function cPath(name: string, value: unknown): string | Buffer {
  if (value instanceof Uint8Array) {
    if (value.includes(0)) throw invalidArgValue(name, 'must be a string or Buffer without null bytes', value);
    return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string or an instance of Buffer or Uint8Array', value);
  if (value.includes('\0')) throw invalidArgValue(name, 'must be a string without null bytes', value);
  if (!isWellFormed(value)) throw invalidArgValue(name, `${NOT_WELL_FORMED}; give a Buffer for a name that is not UTF-8`, value);
  return value;
}

/**
 * A flag argument as one unsigned 32-bit word: a number, or an array of numbers OR-ed together.
 * undefined is 0.
 */
export function flagWord(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (Array.isArray(value)) {
    let word = 0;
    value.forEach((v: unknown, i) => {
      word = (word | flagWord(`${name}[${i}]`, v)) >>> 0;
    });
    return word;
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number or an array of numbers', value);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value);
  return value;
}

/** An optional unsigned integer up to `max` (device numbers, file modes); undefined stays undefined. */
export function uintUpTo(name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > max) throw outOfRange(name, `>= 0 && <= ${max}`, value);
  return value;
}

export function bool(name: string, value: unknown, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

export function isHandle(value: unknown): value is FdHandle {
  if (!(value instanceof native().FdHandle)) return false;
  // instanceof also accepts Object.create(FdHandle.prototype) and a Proxy of a handle; their
  // getters throw a codeless "Invalid argument" because no native handle is wrapped in them.
  try {
    return typeof value.closed === 'boolean';
  } catch {
    return false;
  }
}

export function buffer(name: string, value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgType(name, 'of type string or an instance of Buffer or Uint8Array', value);
}
