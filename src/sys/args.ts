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

/** A string handed to the kernel as a C string: a NUL byte would silently cut it short. */
export function cString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (value.includes('\0')) throw invalidArgValue(name, 'must be a string without null bytes', value);
  return value;
}

export function optionalCString(name: string, value: unknown): string | null {
  return value === null || value === undefined ? null : cString(name, value);
}

/** An unsigned 32-bit flag word. */
export function flags(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value);
  return value;
}

/** A non-negative integer up to 2^53-1 (mount_setattr attributes are 64-bit). */
export function uint(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > max) throw outOfRange(name, `>= 0 && <= ${max}`, value);
  return value;
}

/** Any safe integer, negative included (offsets). */
export function integer(name: string, value: unknown): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isSafeInteger(value)) throw outOfRange(name, 'a safe integer', value);
  return value;
}

export function isHandle(value: unknown): value is FdHandle {
  if (!(value instanceof native.FdHandle)) return false;
  // instanceof also accepts Object.create(FdHandle.prototype) and a Proxy of a handle; their
  // getters throw a codeless "Invalid argument" because no native handle is wrapped in them.
  try {
    return typeof value.closed === 'boolean';
  } catch {
    return false;
  }
}

/** An fd operand: one of our handles (open) or a raw fd number >= 0. */
export function fd(name: string, value: unknown): FdHandle | number {
  if (isHandle(value)) {
    if (value.closed) throw invalidArgValue(name, 'must be an open handle', value);
    return value;
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'an fd handle or of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw outOfRange(name, '>= 0 && <= 2147483647', value);
  return value;
}

/**
 * An fs-context argument: a handle from fsopen/fspick. A failed fsconfig/fsmount reads the
 * context's message log from it, and read(2) on any other fd would consume that fd's data.
 */
export function fsHandle(name: string, value: unknown): FdHandle {
  if (!isHandle(value) || value.kind !== 'fs') {
    throw invalidArgType(name, "an fd handle of kind 'fs' (from fsopen or fspick; adoptFd(n, 'fs') for an fs-context fd opened elsewhere)", value);
  }
  return fd(name, value) as FdHandle;
}

/** Like fd(), but null/undefined mean AT_FDCWD (paths resolve from the process's cwd). */
export function dirFd(name: string, value: unknown): FdHandle | number | null {
  return value === null || value === undefined ? null : fd(name, value);
}

export function bool(name: string, value: unknown, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

export function buffer(name: string, value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw invalidArgType(name, 'of type string or an instance of Buffer or Uint8Array', value);
}
