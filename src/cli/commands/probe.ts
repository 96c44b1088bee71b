/** `ovl probe`: what this kernel's overlay can do. */
import { probe as probeKernel } from '../../mount/probe.js';
import type { Values } from '../command.js';
import { json, out } from '../output.js';

export async function probe(v: Values): Promise<void> {
  const caps = await probeKernel();
  if (v.json) return json(caps);
  for (const [k, value] of Object.entries(caps)) out(`${k.padEnd(22)} ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
}
