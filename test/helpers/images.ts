/**
 * Making images for the tests: layer tars (GNU tar), oci-archives (a layout tarred), and
 * `docker save` archives hand-built in the two formats Docker writes (before 25: `<id>/layer.tar`;
 * 25 and later: an OCI layout plus manifest.json).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeIndex, writeOciLayout, type WriteLayoutOptions } from '../../src/oci/image/write.js';
import { tempDir, writeTree } from './tmp.js';

export const sha = (b: Buffer | string): `sha256:${string}` => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const hex = (d: string): string => d.slice('sha256:'.length);

function tar(args: string[]): Buffer {
  const r = spawnSync('tar', args, { maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}

/** A layer tar of `files` (see writeTree), made by GNU tar with fixed owners and times. */
export function layerTar(files: Record<string, string | null>): Buffer {
  const dir = writeTree(join(tempDir('ovl-layer-'), 'root'), files);
  return tar(['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=pax', '-C', dir, '-cf', '-', '.']);
}

/** `dir` as one tar file (its entries `./oci-layout`, `./blobs/…`, as `tar -C dir -cf x .` makes them). */
export function tarDir(dir: string, out: string, options: { dotSlash?: boolean } = {}): string {
  const names = options.dotSlash === false ? readdirSync(dir).sort() : ['.'];
  tar(['--sort=name', '--format=pax', '-C', dir, '-cf', out, ...names]);
  return out;
}

/** An OCI image layout with the images given, in a fresh temp dir. */
export async function ociLayout(images: WriteLayoutOptions[]): Promise<string> {
  const dir = tempDir('ovl-layout-');
  for (const img of images) await writeOciLayout(dir, img);
  return dir;
}

export interface DockerImage {
  tags: string[];
  layers: Buffer[];
  platform?: { os: string; architecture: string };
  history?: Array<{ created_by?: string; empty_layer?: boolean }>;
  /** Store the layer files gzip'd (skopeo's docker-archive may; Docker does not). */
  gzip?: boolean;
}

function dockerConfig(img: DockerImage): Buffer {
  const platform = img.platform ?? { os: 'linux', architecture: 'amd64' };
  return Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      config: { Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: img.layers.map((l) => sha(l)) },
      history: img.history ?? img.layers.map((_, i) => ({ created_by: `layer ${i}` })),
    }),
  );
}

/**
 * A `docker save` archive as Docker before 25 writes it: `<config-hex>.json`, per layer a
 * `<v1-id>/` with `layer.tar`, `VERSION` and `json`, `manifest.json` and `repositories`. A layer
 * saved already (same diffID) is a symlink to the first `layer.tar`, as Docker writes it.
 */
export function dockerSaveOld(images: DockerImage[]): string {
  const dir = tempDir('ovl-docker-old-');
  const manifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const saved = new Map<string, string>();
  for (const img of images) {
    const config = dockerConfig(img);
    const configName = `${hex(sha(config))}.json`;
    writeFileSync(join(dir, configName), config);
    let parent = '';
    const layers: string[] = [];
    for (const [i, layer] of img.layers.entries()) {
      const id = hex(sha(`${parent} ${sha(layer)} ${hex(sha(config))} ${i}`));
      mkdirSync(join(dir, id));
      const first = saved.get(sha(layer));
      if (first) symlinkSync(`../${first}/layer.tar`, join(dir, id, 'layer.tar'));
      else {
        writeFileSync(join(dir, id, 'layer.tar'), img.gzip ? gzipSync(layer) : layer);
        saved.set(sha(layer), id);
      }
      writeFileSync(join(dir, id, 'VERSION'), '1.0');
      writeFileSync(join(dir, id, 'json'), JSON.stringify({ id, ...(parent ? { parent } : {}) }));
      layers.push(`${id}/layer.tar`);
      parent = id;
    }
    manifest.push({ Config: configName, RepoTags: img.tags.length ? img.tags : null, Layers: layers });
    for (const t of img.tags) {
      const [name, tag] = t.split(':') as [string, string];
      (repositories[name] ??= {})[tag] = parent;
    }
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  writeFileSync(join(dir, 'repositories'), JSON.stringify(repositories));
  return tarDir(dir, join(tempDir('ovl-docker-tar-'), 'old.tar'), { dotSlash: false });
}

/**
 * A `docker save` archive as Docker ≥ 25 writes it: an OCI layout (uncompressed layers as
 * `blobs/sha256/<diffID>`, one index.json descriptor per tag, annotated with the full name and
 * the tag) plus `manifest.json` whose paths are those blobs, and `repositories`.
 */
export async function dockerSave25(images: DockerImage[]): Promise<{ path: string; manifestDigests: string[] }> {
  const dir = tempDir('ovl-docker-25-');
  const manifest: unknown[] = [];
  const descriptors = [];
  const manifestDigests: string[] = [];
  for (const img of images) {
    const written = await writeOciLayout(dir, {
      layers: img.layers.map((data) => ({ data })),
      platform: img.platform ?? { os: 'linux', architecture: 'amd64' },
      config: JSON.parse(dockerConfig(img).toString()),
      index: false,
    });
    manifestDigests.push(written.manifestDigest);
    for (const t of img.tags) {
      const full = t.includes('/') ? `docker.io/${t}` : `docker.io/library/${t}`;
      descriptors.push({
        ...written.descriptor,
        annotations: { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': t.split(':')[1]! },
      });
    }
    manifest.push({
      Config: `blobs/sha256/${hex(written.configDigest)}`,
      RepoTags: img.tags,
      Layers: written.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
    });
  }
  await writeIndex(dir, descriptors);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  writeFileSync(join(dir, 'repositories'), '{}');
  return { path: tarDir(dir, join(tempDir('ovl-docker-tar-'), 'new.tar'), { dotSlash: false }), manifestDigests };
}

/** Reads a layout's blob file. */
export const blobFile = (dir: string, digest: string): Buffer => readFileSync(join(dir, 'blobs', 'sha256', hex(digest)));
