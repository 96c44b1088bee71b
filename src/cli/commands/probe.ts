/** `ovl probe`: what this kernel's overlay can do. */
import { probe as probeKernel } from '../../mount/probe.js';
import type { Values } from '../command.js';
import { json, out } from '../output.js';

export async function probe(v: Values): Promise<void> {
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
