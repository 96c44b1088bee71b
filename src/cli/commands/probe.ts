/** `ovl probe`: what this kernel's overlay can do. */
import { resolve } from 'node:path';
import { probe as probeKernel, probeIdmap } from '../../mount/probe.js';
import type { Values } from '../command.js';
import { json, out } from '../output.js';

export async function probe(v: Values, positionals: string[] = []): Promise<void> {
  const paths = (v.idmap as string[] | undefined) ?? [];
  if (paths.length > 0 || positionals.length > 0) {
    // `ovl probe --idmap PATH...`: whether layers there can be idmapped.
    const all = await probeIdmap([...paths, ...positionals].map((p) => resolve(p)));
    if (v.json) return json(all);
    for (const r of all) out(`${r.path}  ${r.filesystem ?? '?'}  idmap: ${r.idmap ? 'yes' : `no (${r.error})`}`);
    return;
  }
  const caps = await probeKernel();
  if (v.json) return json(caps);
  // A feature the probe could not test reads `unknown (why)`, not its false-as-unseen value.
  const unknown: Partial<Record<string, string>> = { ...caps.unknown };
  if (unknown.fsync !== undefined) unknown.fsyncModes = unknown.fsync;
  for (const [k, value] of Object.entries(caps)) {
    if (k === 'unknown') continue;
    const why = unknown[k];
    out(`${k.padEnd(22)} ${why !== undefined ? `unknown (${why})` : typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
  }
}
