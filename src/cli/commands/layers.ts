/** `ovl which`, `ovl diff`, `ovl whiteout`, `ovl opaque`: layers on disk. */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { findOverlay, type OverlayInfo } from '../../read/inspect.js';
import { changes, formatChange } from '../../layers/changes.js';
import { resolvePath } from '../../layers/lookup.js';
import { applyMarkers, clearOpaque, createXattrWhiteout, setOpaque, type Opaque } from '../../layers/markers.js';
import { EXIT_FAILURE, UsageError, xattrNamespace, type Values } from '../command.js';
import { err, json, out, paint } from '../output.js';

/** `ovl which`'s own exit codes, as which(1) and grep(1) have them: 0 found, 1 not found, 2 trouble. */
export const WHICH_NOT_FOUND = 1;
export const WHICH_TROUBLE = 2;

function notOverlay(target: string, code: number): number {
  err(`ovl: no overlay is mounted at '${resolve(target)}'`);
  return code;
}

/** Layers given by relative paths or by fds from elsewhere: what the kernel shows names other dirs. */
function layersUnknown(info: OverlayInfo, instead: string, code: number): number {
  err(`ovl: the kernel does not show where the layers of '${info.target}' are (relative paths or fds: ${JSON.stringify(info.lower)}); ${instead}`);
  return code;
}

export async function which(v: Values, [target, path, ...more]: string[]): Promise<number | void> {
  if (!target || !path || more.length > 0) throw new UsageError('which needs TARGET and PATH');
  const info = await findOverlay(target);
  if (!info) return notOverlay(target, WHICH_TROUBLE);
  if (!info.pathsKnown) return layersUnknown(info, 'ovl which cannot tell which layer serves a path', WHICH_TROUBLE);
  const layers = [...(info.upper ? [info.upper] : []), ...info.lower];
  const names = [...(info.upper ? ['upper'] : []), ...info.lower.map((_, i) => `lower[${i}]`)];
  const r = await resolvePath(layers, path);
  if (v.json) json({ ...r, ...('layer' in r ? { layerName: names[r.layer] } : {}) });
  else if (r.found) out(`${path}: ${names[r.layer]} ${r.realPath}${r.dataFrom ? ` (data from ${names[r.dataFrom.layer]} ${r.dataFrom.path})` : ''}`);
  else if (r.whiteout) out(`${path}: whited out in ${names[r.layer]} (${r.realPath})`);
  else out(`${path}: not found`);
  return r.found ? 0 : WHICH_NOT_FOUND;
}

export async function diff(v: Values, [arg, ...more]: string[]): Promise<number | void> {
  if (!arg || more.length > 0) throw new UsageError('diff needs one UPPER dir or TARGET');
  let upper: string;
  let lowers = ((v.lower as string[] | undefined) ?? []).map((p) => resolve(p));
  const info = lowers.length === 0 ? await findOverlay(arg) : undefined;
  if (info) {
    if (!info.pathsKnown) return layersUnknown(info, 'give them: `ovl diff UPPER --lower L1 ...`', EXIT_FAILURE);
    if (!info.upper) throw new UsageError(`the overlay at '${info.target}' has no upper layer`);
    upper = info.upper;
    lowers = info.lower;
  } else {
    if (lowers.length === 0) throw new UsageError(`'${arg}' is not an overlay mount point: give its lower layers with --lower`);
    if (!existsSync(arg) || !statSync(arg).isDirectory()) throw new UsageError(`'${arg}' is not a directory`);
    upper = resolve(arg);
  }
  const ns = v.namespace === 'auto' || v.namespace === undefined ? 'auto' : xattrNamespace(v.namespace);
  const all = [];
  for await (const c of changes(upper, lowers, { namespace: ns })) {
    if (v.json) all.push(c);
    else out(paint(process.stdout, c.kind === 'A' ? 'green' : c.kind === 'D' ? 'red' : 'yellow', formatChange(c)));
  }
  if (v.json) json(all);
}

export async function whiteout(v: Values, paths: string[]): Promise<void> {
  if (paths.length === 0) throw new UsageError('whiteout needs at least one PATH');
  const namespace = xattrNamespace(v.namespace);
  if (v.xattr) for (const p of paths) await createXattrWhiteout(p, { layer: 'lower', namespace });
  else await applyMarkers(paths.map((path) => ({ op: 'whiteout' as const, path })));
}

export async function opaque(v: Values, dirs: string[]): Promise<void> {
  if (dirs.length === 0) throw new UsageError('opaque needs at least one DIR');
  const namespace = xattrNamespace(v.namespace);
  const value = (v.value ?? 'y') as string;
  if (value !== 'y' && value !== 'x') throw new UsageError("--value must be 'y' or 'x'");
  for (const d of dirs) await (v.clear ? clearOpaque(d, { namespace }) : setOpaque(d, value as Opaque, { namespace }));
}
