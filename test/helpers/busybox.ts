/**
 * A busybox image for running real containers (containerd + runc): an OCI layout whose first
 * layer holds the static /bin/busybox (busybox-static) with the applets the tests use as
 * symlinks, /etc/passwd with root and a /tmp; then, for deep-chain tests, one tiny file per extra
 * layer; then the caller's own layers. Layers are gzip'd (what registries serve; skopeo pushes
 * them as they are), config Cmd ['sh'] and a PATH.
 *
 * The layout is a tempDir(): removed after the test that made it, so make it in the test (push
 * it to a registry there), not in beforeAll.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, mkdirSync, openSync, readSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeOciLayout, type WriteLayer } from '../../src/oci/image/write.js';
import { layerTar } from './images.js';
import { tempDir } from './tmp.js';

export const BUSYBOX = '/bin/busybox';
export const BUSYBOX_APPLETS = ['sh', 'echo', 'cat', 'ls', 'touch', 'mkdir', 'rm', 'sleep', 'true'] as const;
export const BUSYBOX_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/**
 * Why /bin/busybox cannot go into an image, or null: it must be there and statically linked (no
 * PT_INTERP program header), as the busybox-static package installs it. The dynamic one from the
 * `busybox` package would need the host's libc inside the image.
 */
export function busyboxStaticMissing(path = BUSYBOX): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return `${path} is missing (apt-get install busybox-static)`;
  }
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return `${path} is not a 64-bit little-endian ELF file`;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) {
      if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return `${path} is dynamically linked (apt-get install busybox-static)`;
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

let baseLayer: Buffer | undefined;

/** The busybox layer (gzip'd), made once per process: the same bytes, so the same digest, each time. */
function busyboxLayer(): Buffer {
  if (baseLayer) return baseLayer;
  const why = busyboxStaticMissing();
  if (why !== null) throw new Error(`busyboxLayout: ${why}`);
  const root = join(tempDir('ovl-busybox-'), 'root');
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  chmodSync(join(root, 'root'), 0o700);
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');
  const r = spawnSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=pax', '-C', root, '-cf', '-', '.'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`busyboxLayout: tar: ${r.error?.message ?? r.stderr.toString()}`);
  baseLayer = gzipSync(r.stdout);
  return baseLayer;
}

export interface BusyboxOptions {
  /** Layers after the busybox one and the `layers` fillers, each a tree as writeTree() takes it. */
  extraLayers?: Record<string, string | null>[];
  /**
   * How many layers the busybox part has (default 1): the busybox layer, then one tiny file
   * (/layers/N, N = 1…) per layer after it. 200 makes a 200-layer image.
   */
  layers?: number;
  /** The tag in the layout's index.json (default '1'): push it as `oci:DIR:REF`. */
  ref?: string;
}

/** An OCI layout with the busybox image; `oci:${dir}:${ref}` is its skopeo name. */
export async function busyboxLayout(options: BusyboxOptions = {}): Promise<{ dir: string; ref: string }> {
  const count = options.layers ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error(`busyboxLayout: layers must be an integer >= 1, not ${count}`);
  const ref = options.ref ?? '1';
  const layers: WriteLayer[] = [{ data: busyboxLayer(), mediaType: GZIP_LAYER, createdBy: 'busybox' }];
  for (let i = 1; i < count; i++) {
    layers.push({ data: gzipSync(layerTar({ [`layers/${i}`]: `${i}\n` })), mediaType: GZIP_LAYER, createdBy: `layer ${i}` });
  }
  for (const [i, tree] of (options.extraLayers ?? []).entries()) {
    layers.push({ data: gzipSync(layerTar(tree)), mediaType: GZIP_LAYER, createdBy: `extra ${i}` });
  }
  const dir = tempDir('ovl-busybox-layout-');
  await writeOciLayout(dir, {
    layers,
    ref,
    config: { config: { Cmd: ['sh'], Env: [BUSYBOX_PATH], WorkingDir: '/' } },
  });
  return { dir, ref };
}
