/**
 * ovl layer apply / ovl layer export: OCI layer tars into layer directories and back.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { applyLayer } from '../../oci/apply.js';
import { exportLayer } from '../../oci/export.js';
import { EXIT_OK, UsageError, xattrNamespace, type Values } from '../command.js';
import { err, json, out, stdio } from '../output.js';
import { humanBytes, interruptible, Progress } from '../progress.js';

export async function apply(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 2) throw new UsageError('expected LAYER and DIR');
  const [layer, dir] = positionals as [string, string];
  const whiteouts = values['xattr-whiteouts'] ? 'xattr' : undefined;
  const namespace = values.namespace === undefined ? undefined : xattrNamespace(values.namespace);
  const fromStdin = layer === '-';
  if (fromStdin && process.stdin.isTTY) throw new UsageError('LAYER is - but stdin is a terminal: pipe a layer in');
  const total = fromStdin ? undefined : (await stat(layer)).size;
  const progress = new Progress(`applying ${fromStdin ? 'stdin' : layer}`, { json: values.json === true });
  const ac = interruptible();
  try {
    const r = await applyLayer(fromStdin ? process.stdin : layer, dir, {
      ...(whiteouts ? { whiteouts } : {}),
      ...(namespace ? { namespace } : {}),
      ...(values.flatten ? { flatten: true } : {}),
      ...(typeof values['diff-id'] === 'string' ? { diffId: values['diff-id'] } : {}),
      ...(typeof values.digest === 'string' ? { digest: values.digest } : {}),
      ...(typeof values['media-type'] === 'string' ? { mediaType: values['media-type'] } : {}),
      signal: ac.signal,
      onProgress: (p) => progress.update({ bytes: p.compressedBytes, entries: p.entries, ...(total ? { total } : {}) }),
    });
    progress.done();
    if (values.json) {
      json({ dir, ...r });
    } else {
      out(`diffID:  ${r.diffId}`);
      out(`digest:  ${r.digest} (${r.compression}, ${humanBytes(r.compressedBytes)})`);
      out(
        `entries: ${r.entries} (${r.files} files, ${r.dirs} dirs, ${r.symlinks} symlinks, ${r.hardlinks} hard links, ${r.devices} devices, ${r.whiteouts} whiteouts, ${r.opaques} opaque dirs), ${humanBytes(r.bytes)} of tar`,
      );
    }
    return EXIT_OK;
  } finally {
    ac.release();
    progress.done();
  }
}

export async function exportCommand(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('expected one UPPER directory');
  const [upper] = positionals as [string];
  const lowers = (values.lower as string[] | undefined) ?? [];
  if (values.gzip && values.zstd) throw new UsageError('--gzip and --zstd exclude each other');
  const compression = values.gzip ? 'gzip' : values.zstd ? 'zstd' : 'none';
  const output = values.output as string | undefined;
  if (!output && process.stdout.isTTY) throw new UsageError('stdout is a terminal: give -o FILE, or redirect it');
  // The upper's markers may be in either namespace: 'auto' reads both, as `ovl diff` does.
  const namespace = values.namespace === undefined ? undefined : values.namespace === 'auto' ? 'auto' : xattrNamespace(values.namespace);
  const progress = new Progress(`exporting ${upper}`, { json: values.json === true });
  const ac = interruptible();
  try {
    const exported = exportLayer(upper, lowers, {
      compression,
      ...(namespace ? { namespace } : {}),
      ...(values.reproducible ? { reproducible: {} } : {}),
      signal: ac.signal,
      onProgress: (p) => progress.update({ bytes: p.bytes, entries: p.entries }),
    });
    await pipeline(exported.stream, output ? createWriteStream(output) : stdio('stdout'));
    const r = await exported.result;
    progress.done();
    // The tar went to stdout: what is said about it goes to stderr, unless --json asks for it.
    if (values.json) {
      const text = JSON.stringify({ ...(output ? { output } : {}), ...r }, null, 2);
      if (output) out(text);
      else err(text);
    } else {
      err(`diffID: ${r.diffId}`);
      if (compression !== 'none') err(`digest: ${r.digest} (${compression}, ${humanBytes(r.compressedBytes)})`);
      err(`entries: ${r.entries}, ${humanBytes(r.bytes)} of tar`);
    }
    return EXIT_OK;
  } finally {
    ac.release();
    progress.done();
  }
}
