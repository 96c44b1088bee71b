/**
 * The library's own errors: one class, OverlayError, with a documented union of codes, and its
 * one subclass OverlaySpecError for bad input. A failed syscall is not one of these: it is the
 * Node-shaped error `fs` throws (see sys/errors.ts), with extra context properties.
 */

/**
 * Every code an OverlayError carries.
 * - `ERR_OVERLAY_SPEC`: bad input, found before any syscall; `problems` lists every one.
 * - `ERR_OVERLAY_MARKER`: a marker the kernel would ignore where it was asked for.
 * - `ERR_LAYER_CHANGED`: a validated directory was replaced before it was opened (`field`).
 * - `ERR_MOUNT_DATA_TOO_LONG`: mount(2) data with this process's fd numbers is over one page.
 * - `ERR_MOUNT_COVERED`: our mount is no longer the top mount at its target; not unmounted.
 * - `ERR_NOT_OVERLAY`: no overlay is mounted at that path (`path`).
 * - `ERR_LAYER_FORMAT`: a layer or archive is not what it says: a corrupt or truncated tar,
 *   gzip or zstd stream, a bad header (`path` names the entry when there is one).
 * - `ERR_LAYER_UNSAFE`: a layer entry would reach outside its directory or forge an overlay
 *   marker (`path` names the entry); nothing outside the directory was written.
 * - `ERR_DIGEST_MISMATCH`: content whose sha256 is not the one expected (`expected`, `actual`).
 * - `ERR_IMAGE`: an image layout or archive is incomplete or malformed (a missing blob, a bad
 *   index or manifest, no image by that ref).
 * - `ERR_UNSUPPORTED`: this machine lacks what the operation needs, and the message names it
 *   (zstd compression on a Node.js without zlib zstd and without the zstd command).
 * - `ERR_REGISTRY`: a registry answered with an error (a RegistryError: its HTTP `status` and
 *   the registry's own error codes and words), or refused the credentials.
 */
export type OverlayErrorCode =
  | 'ERR_OVERLAY_SPEC'
  | 'ERR_OVERLAY_MARKER'
  | 'ERR_LAYER_CHANGED'
  | 'ERR_MOUNT_DATA_TOO_LONG'
  | 'ERR_MOUNT_COVERED'
  | 'ERR_NOT_OVERLAY'
  | 'ERR_LAYER_FORMAT'
  | 'ERR_LAYER_UNSAFE'
  | 'ERR_DIGEST_MISMATCH'
  | 'ERR_IMAGE'
  | 'ERR_UNSUPPORTED'
  | 'ERR_STORE'
  | 'ERR_NOT_FOUND'
  | 'ERR_CONFLICT'
  | 'ERR_REGISTRY';

/** Where an OverlayError happened, when it is known. */
export interface OverlayErrorContext {
  /** The path it concerns. */
  path?: string;
  /** The spec field it concerns (`lower[2]`, `work`). */
  field?: string;
  /** The mount step it happened at (`open lower[0] '/l'`, `mount`). */
  stage?: string;
  /** The mount strategy in use. */
  strategy?: string;
  /** For ERR_DIGEST_MISMATCH: the digest that was expected and the one the content has. */
  expected?: string;
  actual?: string;
}

export class OverlayError extends Error {
  readonly code: OverlayErrorCode;
  readonly path?: string;
  readonly field?: string;
  readonly stage?: string;
  readonly strategy?: string;
  readonly expected?: string;
  readonly actual?: string;

  constructor(code: OverlayErrorCode, message: string, context: OverlayErrorContext = {}) {
    super(message);
    this.name = 'OverlayError';
    this.code = code;
    // Only the properties that apply, so an error prints as what it is.
    for (const key of ['path', 'field', 'stage', 'strategy', 'expected', 'actual'] as const) {
      if (context[key] !== undefined) Object.defineProperty(this, key, { value: context[key], enumerable: true });
    }
  }
}

/** One problem of a spec: the field (`lower[1]`, `options.metacopy`) and what is wrong with it. */
export interface SpecProblem {
  field: string;
  problem: string;
}

/** Bad input, found before any syscall. `problems` lists every one. */
export class OverlaySpecError extends OverlayError {
  readonly problems: readonly SpecProblem[];
  constructor(problems: readonly SpecProblem[]) {
    super(
      'ERR_OVERLAY_SPEC',
      problems.length === 1
        ? `invalid overlay spec: ${problems[0]!.field}: ${problems[0]!.problem}`
        : `invalid overlay spec (${problems.length} problems):\n` + problems.map((p) => `  ${p.field}: ${p.problem}`).join('\n'),
    );
    this.name = 'OverlaySpecError';
    this.problems = problems;
  }
}

/** True for the library's own errors; with `code`, only for that code. */
export function isOverlayError<C extends OverlayErrorCode>(value: unknown, code?: C): value is OverlayError & { code: C } {
  return value instanceof OverlayError && (code === undefined || value.code === code);
}
