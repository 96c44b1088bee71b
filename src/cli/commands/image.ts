/**
 * ovl image ls / ovl image unpack: images in OCI layouts, oci-archives and docker save archives.
 */
import { existsSync } from 'node:fs';
import { openImageSource } from '../../oci/image.js';
import { unpackImage } from '../../oci/unpack.js';
import { EXIT_OK, UsageError, xattrNamespace, type Values } from '../command.js';
import { json, out, table } from '../output.js';
import { humanBytes, interruptible, Progress } from '../progress.js';

/**
 * SOURCE[:REF]: a path may hold ':' and a ref does (busybox:1.36), so the source is the shortest
 * prefix that exists on disk and the ref is the rest.
 */
export function splitSourceRef(arg: string): { source: string; ref?: string } {
  if (existsSync(arg)) return { source: arg };
  for (let i = arg.indexOf(':'); i > 0; i = arg.indexOf(':', i + 1)) {
    if (existsSync(arg.slice(0, i))) return { source: arg.slice(0, i), ref: arg.slice(i + 1) };
  }
  return { source: arg };
}

function platformOf(v: unknown): { os: string; architecture: string; variant?: string } | undefined {
  if (typeof v !== 'string') return undefined;
  const [os, architecture, variant, extra] = v.split('/');
  if (!os || !architecture || extra !== undefined) throw new UsageError('--platform is os/arch[/variant], e.g. linux/arm64/v8');
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export async function ls(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('expected one SOURCE (an OCI layout, an oci-archive or a docker save archive)');
  const source = await openImageSource(positionals[0]!);
  try {
    const images = await source.images();
    if (values.json) {
      json({ kind: source.kind, images });
      return EXIT_OK;
    }
    const rows = [['REF', 'PLATFORM', 'MANIFEST']];
    for (const i of images) {
      const p = i.platform ? [i.platform.os, i.platform.architecture, i.platform.variant].filter(Boolean).join('/') : '';
      rows.push([i.ref ?? '<none>', p, i.manifestDigest]);
    }
    out(table(rows).join('\n'));
    return EXIT_OK;
  } finally {
    await source.close();
  }
}

export async function unpack(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 2) throw new UsageError('expected SOURCE[:REF] and DIR');
  const split = splitSourceRef(positionals[0]!);
  const ref = (values.ref as string | undefined) ?? split.ref;
  const platform = platformOf(values.platform);
  const namespace = values.namespace === undefined ? undefined : xattrNamespace(values.namespace);
  const progress = new Progress('unpacking', { json: values.json === true });
  const ac = interruptible();
  try {
    const r = await unpackImage(split.source, positionals[1]!, {
      ...(ref !== undefined ? { ref } : {}),
      ...(platform ? { platform } : {}),
      ...(values.flatten ? { flatten: true } : {}),
      ...(values['xattr-whiteouts'] ? { whiteouts: 'xattr' as const } : {}),
      ...(namespace ? { namespace } : {}),
      signal: ac.signal,
      onProgress: (p) => progress.update({ bytes: p.compressedBytes, entries: p.entries, total: p.size }),
    });
    progress.done();
    if (values.json) {
      json({ ...r, layers: r.layers.map(({ applied, ...l }) => ({ ...l, entries: applied.entries, bytes: applied.bytes })) });
      return EXIT_OK;
    }
    out(`${r.ref ?? r.manifestDigest}: ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}`);
    out(
      table(
        r.layers.map((l, i) => [`  ${i}`, l.dir, l.diffId.slice(0, 19), `${l.applied.entries} entries`, humanBytes(l.applied.bytes), l.createdBy ? l.createdBy.slice(0, 60) : '']),
      ).join('\n'),
    );
    if (r.lower.length > 0) out(`lowerdir=${r.lower.join(':')}`);
    return EXIT_OK;
  } finally {
    ac.release();
    progress.done();
  }
}
