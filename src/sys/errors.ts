/**
 * Errors exactly as Node's fs makes them, plus the overlay context.
 *
 * A failed syscall gives a plain `Error` (like Node's) with message
 * `CODE: description, syscall 'path' -> 'dest'`, `errno` negative as in Node, `code`, `syscall`,
 * and `path`/`dest` when there are any. Extra context goes in extra properties, never in the
 * message: `key` (the fsconfig key or xattr name), `kernelMessages` (the fs-context log),
 * `step` (index in a batched call), and from the overlay layer `stage`, `strategy`, `hint`.
 */
import { getSystemErrorMap } from 'node:util';
import type { RawError } from './native-types.js';

/** The raw failure's fields, with `errno` negative as Node has it and the `code` added. */
export interface SystemError extends Error, Omit<RawError, 'errno'> {
  errno: number;
  code: string;
}

// Errnos libuv has no name for, so Node's map lacks them; the names and texts are Linux's.
const LINUX_ONLY: ReadonlyMap<number, readonly [string, string]> = new Map([
  [15, ['ENOTBLK', 'block device required']],
  [116, ['ESTALE', 'stale file handle']],
  [117, ['EUCLEAN', 'structure needs cleaning']],
  [122, ['EDQUOT', 'disk quota exceeded']],
]);

let systemErrorMap: Map<number, [string, string]> | undefined;
let cLibraryName: ((errno: number) => [string | null, string]) | undefined;

/** Lets errnoInfo ask the C library for errnos neither Node nor LINUX_ONLY knows. */
export function useCLibraryErrnoNames(lookup: (errno: number) => [string | null, string]): void {
  cLibraryName = lookup;
}

/** `[code, description]` for a positive errno, as Node's fs errors spell them. */
export function errnoInfo(errno: number): readonly [string, string] {
  systemErrorMap ??= getSystemErrorMap();
  const known = systemErrorMap.get(-errno) ?? LINUX_ONLY.get(errno);
  if (known) return known;
  const [name, text] = cLibraryName?.(errno) ?? [null, ''];
  return [name ?? `E${errno}`, text ? text.toLowerCase() : `unknown error ${errno}`];
}

/**
 * Builds the Node-shaped error for a raw failure from the addon. `detail` (the kernel's own
 * words, where a caller has them) goes at the end of the message in parentheses.
 */
export function createSystemError(raw: RawError, detail?: string): SystemError {
  const [code, description] = errnoInfo(raw.errno);
  let message = `${code}: ${description}, ${raw.syscall}`;
  if (raw.path !== undefined) message += ` '${raw.path}'`;
  if (raw.dest !== undefined) message += ` -> '${raw.dest}'`;
  if (detail) message += ` (${detail})`;
  const err = new Error(message) as SystemError;
  err.errno = -raw.errno;
  err.code = code;
  err.syscall = raw.syscall;
  if (raw.path !== undefined) err.path = raw.path;
  if (raw.dest !== undefined) err.dest = raw.dest;
  if (raw.key !== undefined) err.key = raw.key;
  if (raw.kernelMessages !== undefined) err.kernelMessages = raw.kernelMessages;
  if (raw.step !== undefined) err.step = raw.step;
  return err;
}

/** The raw failure behind a SystemError, to make it again with more words. */
export function rawErrorOf(err: SystemError): RawError {
  const raw: RawError = { errno: -err.errno, syscall: err.syscall };
  if (err.path !== undefined) raw.path = err.path;
  if (err.dest !== undefined) raw.dest = err.dest;
  if (err.key !== undefined) raw.key = err.key;
  if (err.kernelMessages !== undefined) raw.kernelMessages = err.kernelMessages;
  if (err.step !== undefined) raw.step = err.step;
  return raw;
}

/** True for errors made by createSystemError (and for Node's own fs errors). */
export function isSystemError(value: unknown): value is SystemError {
  return (
    value instanceof Error &&
    typeof (value as Partial<SystemError>).code === 'string' &&
    typeof (value as Partial<SystemError>).errno === 'number' &&
    typeof (value as Partial<SystemError>).syscall === 'string'
  );
}
