/**
 * What every `ovl` command shares: its description (summary, usage, options for
 * util.parseArgs), the exit codes (mount(8)'s: 1 bad usage, 32 failure), and how a failure is
 * printed, in the command line's words rather than the library's.
 */
import type { ParseArgsConfig } from 'node:util';
import { OverlaySpecError } from '../spec/errors.js';
import { isSystemError } from '../sys/errors.js';
import { err, paint } from './output.js';

export const EXIT_OK = 0;
/** mount(8): incorrect invocation. */
export const EXIT_USAGE = 1;
/** mount(8): mount failure. */
export const EXIT_FAILURE = 32;

export type Values = Record<string, unknown>;
export type Run = (values: Values, positionals: string[]) => Promise<number | void> | number | void;

export interface CommandInfo {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** The command's code, loaded only when it runs (the others cost nothing at start). */
  load(): Promise<Run>;
  /**
   * The exit code of every failure, bad usage included, where the command's convention is not
   * mount(8)'s (1 usage, 32 failure): `ovl which` follows which(1), 1 "not found", 2 trouble.
   */
  troubleCode?: number;
}

/** Bad usage: exit 1 with the command's usage. */
export class UsageError extends Error {}

export const JSON_OPTION = { json: { type: 'boolean' as const } };

/** The store's commands: where the store is (default $OVL_ROOT, else the library's defaultStoreRoot()). */
export const ROOT_OPTION = { root: { type: 'string' as const } };

/** The exit code of every failure of the store's commands (docker's: 1), bad usage included. */
export const EXIT_STORE_FAILURE = 1;

/** The library's option names in hints and problems, as the command line spells them. */
const CLI_WORDS: Array<[RegExp, string]> = [
  [/pass allowShared: true/g, 'pass --allow-shared'],
  [/allowShared: true/g, '--allow-shared'],
  [/clearVolatile: true/g, '--clear-volatile'],
  [/options\.index 'off'/g, '-o index=off'],
  [/detach: true/g, '--lazy'],
  [/use the userxattr option/g, 'use -o userxattr'],
];

export function cliWords(text: string): string {
  return CLI_WORDS.reduce((t, [re, words]) => t.replace(re, words), text);
}

/** A failure as data: what --json and `ovl batch --json` give (stage, strategy and hint always). */
export interface FailureInfo {
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  stage?: string;
  strategy?: string;
  hint?: string;
  kernelMessages?: string[];
  kernelLog?: string[];
  problems?: Array<{ field: string; problem: string }>;
}

let lastFailure: FailureInfo | undefined;

/** The failure printed last (and forgets it): `ovl batch --json` puts it in the line's result. */
export function takeFailure(): FailureInfo | undefined {
  const f = lastFailure;
  lastFailure = undefined;
  return f;
}

/** Records a failure as data, in the command line's words. */
export function failureInfo(e: unknown): FailureInfo {
  if (e instanceof OverlaySpecError) {
    return { message: e.message, code: e.code, problems: e.problems.map((p) => ({ field: p.field, problem: cliWords(p.problem) })) };
  }
  const x = e as Partial<FailureInfo> & { message?: string };
  const info: FailureInfo = { message: cliWords(x?.message ?? String(e)) };
  for (const k of ['code', 'errno', 'syscall', 'stage', 'strategy', 'kernelMessages', 'kernelLog'] as const) {
    if (x?.[k] !== undefined) (info as unknown as Record<string, unknown>)[k] = x[k];
  }
  if (x?.hint !== undefined) info.hint = cliWords(x.hint);
  return info;
}

export function recordFailure(e: unknown): void {
  lastFailure = failureInfo(e);
}

/**
 * Prints a failure on stderr: the first line red on a terminal; the kernel's words once.
 * `prefix` starts the first line (the store's commands say `Error: `, as docker does).
 */
export function printFailure(e: unknown, prefix = 'ovl: '): number {
  recordFailure(e);
  if (e instanceof OverlaySpecError) {
    err(paint(process.stderr, 'red', `ovl: ${e.problems.length === 1 ? 'invalid overlay spec' : `invalid overlay spec (${e.problems.length} problems)`}`));
    for (const p of e.problems) err(`  ${p.field}: ${cliWords(p.problem)}`);
    return EXIT_FAILURE;
  }
  if (isSystemError(e)) {
    const x = e as typeof e & { stage?: string; strategy?: string; hint?: string; kernelLog?: string[] };
    err(paint(process.stderr, 'red', `${prefix}${x.message}`));
    if (x.stage) err(`  stage: ${x.stage}${x.strategy ? ` (strategy ${x.strategy})` : ''}`);
    // The kernel's error words are in the message already; print only what is not.
    for (const m of x.kernelMessages ?? []) if (!x.message.includes(m.replace(/^[a-z] /, ''))) err(`  kernel: ${m}`);
    for (const m of x.kernelLog ?? []) if (!x.message.includes(m)) err(`  kernel log: ${m}`);
    if (x.hint) err(`  hint: ${cliWords(x.hint)}`);
    return EXIT_FAILURE;
  }
  err(`${prefix}${cliWords((e as Error)?.message ?? String(e))}`);
  return EXIT_FAILURE;
}

/** A failure of a store command, as docker prints one (`Error: No such image: x`); exit 1. */
export function storeFailure(e: unknown): number {
  if (e instanceof OverlaySpecError) {
    // Each problem on a line of its own, in docker's way (the store has no "overlay spec").
    recordFailure(e);
    for (const p of e.problems) err(paint(process.stderr, 'red', `Error: ${cliWords(p.problem)}`));
  } else {
    printFailure(e, 'Error: ');
  }
  return EXIT_STORE_FAILURE;
}

/**
 * A store command's code with docker's failures: what it throws is printed as storeFailure()
 * prints it and exits 1; bad usage (UsageError) goes on to the dispatcher, which prints the usage.
 */
export function storeCommand(run: Run): Run {
  return async (values, positionals) => {
    try {
      return await run(values, positionals);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      return storeFailure(e);
    }
  };
}

/** 'trusted' or 'user' from --namespace. */
export function xattrNamespace(v: unknown): 'trusted' | 'user' {
  if (v === undefined) return 'trusted';
  if (v !== 'trusted' && v !== 'user') throw new UsageError("--namespace must be 'trusted' or 'user'");
  return v;
}
