/** `ovl ls` and `ovl inspect`: the overlays of this mount namespace, read back. */
import { resolve } from 'node:path';
import { findOverlay, listOverlays, toDocker } from '../../read/inspect.js';
import { EXIT_FAILURE, UsageError, type Values } from '../command.js';
import { err, json, out, table } from '../output.js';

/** The per-mount options worth a column: ro/rw, nosuid, nodev, noexec (atime modes are noise). */
const SHOWN = new Set(['ro', 'rw', 'nosuid', 'nodev', 'noexec', 'nosymfollow']);

export async function ls(v: Values): Promise<void> {
  const all = await listOverlays();
  if (v.json) return json(all);
  if (all.length === 0) return out('no overlay mounts');
  const rows = [['TARGET', 'LAYERS', 'UPPER', 'MOUNT', 'FORM', 'OPTIONS']];
  for (const o of all) {
    const opts = Object.entries(o.options).map(([k, val]) => (val === true ? k : `${k}=${String(val)}`)).join(',');
    const mount = o.mountOptions.filter((m) => SHOWN.has(m)).join(',');
    rows.push([o.target, String(o.lower.length + o.data.length), o.upper ?? '(read-only)', mount, o.pathsKnown ? o.form : `${o.form} (paths unknown)`, opts || '-']);
  }
  for (const line of table(rows)) out(line);
}

export async function inspect(v: Values, [target, ...more]: string[]): Promise<number | void> {
  if (!target) throw new UsageError('inspect needs a TARGET');
  if (more.length > 0) throw new UsageError('inspect takes one TARGET');
  const info = await findOverlay(target);
  if (!info) {
    err(`ovl: no overlay is mounted at '${resolve(target)}'`);
    return EXIT_FAILURE;
  }
  // Always JSON, as docker inspect prints it; --json is accepted for scripts that pass it everywhere.
  json(v.typed ? info : toDocker(info));
}
