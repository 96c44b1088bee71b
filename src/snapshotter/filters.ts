/**
 * containerd's filter syntax (pkg/filters), as ctr and containerd's List send it for
 * snapshots: `name==x`, `kind==committed`, `parent!=y`, `labels."containerd.io/gc.root"` (the
 * label is there), `labels.a~=^v1` (a regular expression); terms joined by `,` must all hold;
 * the request's several filters are alternatives. Pure.
 */
import { OverlaySpecError } from '../spec/errors.js';

export interface FilterTerm {
  path: string[];
  op?: '==' | '!=' | '~=';
  value?: string;
  regexp?: RegExp;
}

/** One filter: its terms (all must hold). OverlaySpecError naming the problem when it does not parse. */
export function parseFilter(text: string): FilterTerm[] {
  const bad = (problem: string) => new OverlaySpecError([{ field: 'filters', problem: `'${text}': ${problem}` }]);
  let i = 0;
  const n = text.length;
  const terms: FilterTerm[] = [];
  const quoted = (): string => {
    const q = text[i]!;
    i++;
    let out = '';
    while (i < n && text[i] !== q) {
      if (text[i] === '\\' && i + 1 < n) {
        i++;
        const c = text[i]!;
        out += c === 'n' ? '\n' : c === 't' ? '\t' : c;
      } else out += text[i];
      i++;
    }
    if (i >= n) throw bad('a quoted string does not end');
    i++;
    return out;
  };
  const ident = (): string => {
    const start = i;
    while (i < n && /[A-Za-z0-9_\-/]/.test(text[i]!)) i++;
    if (i === start) throw bad(`a field name was expected at ${i}`);
    return text.slice(start, i);
  };
  while (i < n) {
    while (text[i] === ' ') i++;
    const path: string[] = [];
    for (;;) {
      path.push(text[i] === '"' || text[i] === "'" ? quoted() : ident());
      if (text[i] !== '.') break;
      i++;
    }
    while (text[i] === ' ') i++;
    const term: FilterTerm = { path };
    const op = text.slice(i, i + 2);
    if (op === '==' || op === '!=' || op === '~=') {
      i += 2;
      while (text[i] === ' ') i++;
      let value: string;
      if (text[i] === '"' || text[i] === "'") value = quoted();
      else if (text[i] === '/') {
        value = quoted();
      } else {
        const start = i;
        while (i < n && text[i] !== ',') i++;
        value = text.slice(start, i).trim();
      }
      term.op = op;
      term.value = value;
      if (op === '~=') {
        try {
          term.regexp = new RegExp(value);
        } catch (e) {
          throw bad(`not a regular expression: ${(e as Error).message}`);
        }
      }
    }
    terms.push(term);
    while (text[i] === ' ') i++;
    if (i < n) {
      if (text[i] !== ',') throw bad(`',' or an operator (==, !=, ~=) was expected at ${i}`);
      i++;
    }
  }
  return terms;
}

/** A field of the object a filter looks at: `name` → its name, `labels.x` → the label x. */
export type Fields = (path: readonly string[]) => string | undefined;

export function matches(terms: readonly FilterTerm[], fields: Fields): boolean {
  return terms.every((t) => {
    const v = fields(t.path);
    if (t.op === undefined) return v !== undefined;
    if (t.op === '==') return v === t.value;
    if (t.op === '!=') return v !== t.value;
    return v !== undefined && t.regexp!.test(v);
  });
}

/** Whether any of the filters matches (no filters: everything does). */
export function matchesAny(filters: readonly FilterTerm[][], fields: Fields): boolean {
  return filters.length === 0 || filters.some((f) => matches(f, fields));
}
