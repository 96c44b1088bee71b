/** `ovl bind` and `ovl tmpfs`: the mounts beside an overlay (volumes, scratch space). */
import { resolve } from 'node:path';
import { bindMount, tmpfsMount } from '../../mount/volumes.js';
import { UsageError, type Values } from '../command.js';
import { json } from '../output.js';

export async function bind(v: Values, [source, target, ...more]: string[]): Promise<void> {
  if (!source || !target || more.length > 0) throw new UsageError('bind needs SOURCE and TARGET');
  const m = await bindMount(resolve(source), resolve(target), { readOnly: v.readonly === true, recursive: v.recursive === true });
  if (v.json) json({ target: m.target, mountId: m.mountId });
}

export async function tmpfs(v: Values, [target, ...more]: string[]): Promise<void> {
  if (!target || more.length > 0) throw new UsageError('tmpfs needs a TARGET');
  const options: { size?: string; mode?: number } = {};
  if (v.size !== undefined) options.size = v.size as string;
  if (v.mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(v.mode as string)) throw new UsageError(`--mode must be an octal mode such as 1777, not '${String(v.mode)}'`);
    options.mode = parseInt(v.mode as string, 8);
  }
  const m = await tmpfsMount(resolve(target), options);
  if (v.json) json({ target: m.target, mountId: m.mountId });
}
