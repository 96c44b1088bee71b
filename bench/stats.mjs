/**
 * Measurement helpers for bench/run.mjs: interleaved rounds, medians, per-round ratios, and the
 * text table. Nothing here asserts a timing.
 */

export const now = () => process.hrtime.bigint();
export const since = (t0) => Number(process.hrtime.bigint() - t0);

export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Runs every variant `rounds` times, interleaved (A B C, B C A, C A B, ...: each round rotates
 * the order, so no variant always runs right after the same neighbour), after one warm-up
 * round that is not recorded. A variant is { name, run(k) -> per-unit ns[] | Promise<...> }
 * with its own `k` (units per round) and optional `warm` (units in the warm-up round).
 * Returns Map name -> array (per round) of arrays of samples (ns).
 */
export async function interleave(variants, rounds, log = () => {}) {
  const samples = new Map(variants.map((v) => [v.name, []]));
  for (const v of variants) await v.run(v.warm ?? Math.min(v.k, 3));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + r) % variants.length];
      samples.get(v.name).push(await v.run(v.k));
    }
    log(`round ${r + 1}/${rounds}`);
  }
  return samples;
}

/** { median (ns, over every sample), roundMedians, n } of one variant's rounds. */
export function summarize(rounds) {
  const all = rounds.flat();
  return { median: median(all), roundMedians: rounds.map(median), n: all.length };
}

/** The median over rounds of (round median of a) / (round median of b): drift cancels out. */
export function ratio(a, b) {
  const n = Math.min(a.roundMedians.length, b.roundMedians.length);
  const rs = [];
  for (let i = 0; i < n; i++) rs.push(a.roundMedians[i] / b.roundMedians[i]);
  return median(rs);
}

export function fmtTime(ns) {
  if (!Number.isFinite(ns)) return '—';
  if (ns < 0) return `-${fmtTime(-ns)}`;
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

export function fmtRatio(x) {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '—';
}

/** A plain text table: header row, then rows; columns padded, numbers right-aligned. */
export function table(header, rows) {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)));
  const line = (cells) =>
    cells
      .map((c, i) => {
        const s = String(c ?? '');
        return i === 0 || !/^[\d.<>—~-]/.test(s) ? s.padEnd(width[i]) : s.padStart(width[i]);
      })
      .join('  ')
      .trimEnd();
  return [line(header), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
