/**
 * The escaping of layer paths in mount data, as the kernel splits and unescapes them
 * (fs/overlayfs/params.c: ovl_parse_param_split_lowerdirs, ovl_unescape). Pure.
 */

/**
 * Splits a legacy `lowerdir=` value as the kernel does (ovl_parse_param_split_lowerdirs): an
 * unescaped `:` separates layers, `::` starts the data-only layers, and `\x` is a literal x.
 */
export function splitLegacyLowerdir(value: string): { lower: string[]; data: string[] } {
  const lower: string[] = [];
  const data: string[] = [];
  let current = '';
  let inData = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\') {
      // A final lone backslash escapes the NUL: ovl_unescape drops it.
      if (i + 1 < value.length) current += value[++i];
    } else if (c === ':') {
      (inData ? data : lower).push(current);
      current = '';
      if (value[i + 1] === ':') {
        inData = true;
        i++;
      }
    } else current += c;
  }
  (inData ? data : lower).push(current);
  return { lower, data };
}

/**
 * Escapes a path for `lowerdir=`/`upperdir=`/`workdir=` in mount(2) data: `\` and `:` for the
 * kernel's unescape, `,` for the option splitter.
 */
export function escapeLegacyPath(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}

/** Escapes a path for fsconfig `upperdir`/`workdir`: the kernel drops each `\` before lookup. */
export function escapeBackslashes(path: string): string {
  return path.replace(/\\/g, '\\\\');
}

/** Drops the backslash escapes the kernel removes from upperdir=/workdir= (ovl_unescape), a final lone one too. */
export function unescapeBackslashes(value: string): string {
  return value.replace(/\\(.?)/gs, '$1');
}
