/**
 * The README documents every export: each name index.ts exports (values and types) and each
 * raw call of `sys` appears there in backticks. A new export without a line in the README fails.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as lib from '../../src/index.js';

const README = readFileSync('README.md', 'utf8');
const named = (name: string) => new RegExp('`[^`]*\\b' + name + '\\b[^`]*`').test(README);
/** Named in backticks; a …Sync twin also as the README's shorthand `name`/`Sync`. */
const mentioned = (name: string) => named(name) || (name.endsWith('Sync') && README.includes(`\`${name.slice(0, -4)}\`/\`Sync\``));

/** The names index.ts exports, types included (parsed: types leave no trace at run time). */
function exportedNames(): string[] {
  const src = readFileSync('src/index.ts', 'utf8');
  const names = new Set<string>();
  for (const m of src.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1]!.split(',')) {
      const name = part.replace(/\btype\b/, '').split(/\sas\s/).pop()!.trim();
      if (name) names.add(name);
    }
  }
  return [...names];
}

describe('README.md documents the API', () => {
  it('every value index.ts exports', () => {
    expect(Object.keys(lib).filter((n) => !mentioned(n))).toEqual([]);
  });

  it('every type index.ts exports', () => {
    expect(exportedNames().filter((n) => !mentioned(n))).toEqual([]);
  });

  it('every raw call of sys (its Promise form; the …Sync twin is implied)', () => {
    const raw = Object.keys(lib.sys).filter((n) => !n.endsWith('Sync'));
    const missing = raw.filter((n) => !mentioned(n) && !(n.startsWith('fsconfig') && mentioned(n.replace(/^fsconfig/, ''))));
    expect(missing).toEqual([]);
  });
});
