/**
 * Docker's formats, for the store's commands (ovl image, container, volume, system): sizes as
 * docker prints them (go-units: decimal kB/MB/GB, no space, N significant digits), durations
 * ("2 hours ago"), 12-character ids, and tables laid out as docker's tabwriter lays them (each
 * column at least 10 wide, 3 spaces between). Pure: no I/O, no store.
 */

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Go's %.Ng: `digits` significant digits, trailing zeros dropped (7.80 → 7.8). */
function significant(n: number, digits: number): string {
  return String(Number(n.toPrecision(digits)));
}

/**
 * A size as docker prints it: go-units' HumanSizeWithPrecision, decimal units, no space:
 * `docker images` and `docker history` use 3 significant digits (7.81MB, 133MB), `docker system
 * df` 4 (16.43MB). Unlike go-units, a value that rounds up to 1000 moves to the next unit
 * (999.9kB at 3 digits is 1MB, not "1e+03kB").
 */
export function dockerSize(bytes: number, digits = 3): string {
  let n = Math.max(0, bytes);
  let i = 0;
  while (n >= 1000 && i < DECIMAL_UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  if (Number(n.toPrecision(digits)) >= 1000 && i < DECIMAL_UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  return `${significant(n, digits)}${DECIMAL_UNITS[i]}`;
}

/** go-units' HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  // Go rounds the hours (d.Round(time.Hour)): 1h29m is "About an hour", 1h31m "2 hours".
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** docker's CREATED column: "2 hours ago"; N/A when the time is missing or not a date. */
export function since(iso: string | undefined, now = Date.now()): string {
  const t = iso === undefined ? NaN : Date.parse(iso);
  if (!Number.isFinite(t)) return 'N/A';
  return `${humanDuration(Math.max(0, now - t))} ago`;
}

/** The 12 hex characters docker prints for an id (`sha256:` dropped). */
export const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

/** docker's Ellipsis: at most `width` characters, the last one "…" when cut. */
export function ellipsis(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, width - 1).join('')}…`;
}

/**
 * A table as docker's tabwriter (minwidth 10, padding 3) lays it out: every column but the last
 * as wide as its widest cell plus 3, and at least 10; the last one not padded.
 */
export function dockerTable(rows: readonly (readonly string[])[]): string[] {
  const columns = Math.max(0, ...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let i = 0; i < columns; i++) widths.push(Math.max(10, ...rows.map((r) => [...(r[i] ?? '')].length + 3)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length))).join(''));
}

/** docker's RECLAIMABLE column: `1.2MB (45%)`, the percentage truncated; no percentage of nothing. */
export function reclaimable(bytes: number, total: number): string {
  return total > 0 ? `${dockerSize(bytes, 4)} (${Math.floor((bytes * 100) / total)}%)` : dockerSize(bytes, 4);
}
