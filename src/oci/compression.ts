/**
 * The compressions of an OCI layer (image-spec layer.md): a plain tar, gzip or zstd. Detection
 * by magic number and by media type, and streams that decompress and compress, with every
 * failure of the data an OverlayError ERR_LAYER_FORMAT ("corrupt gzip stream: …", "truncated
 * zstd stream").
 *
 * gzip is Node's zlib (on the thread pool); concatenated members (pigz, multi-member files)
 * decode whole. zstd has three implementations, chosen once per process in this order:
 * - `zlib`: Node's own (zlib.createZstdDecompress/createZstdCompress, Node ≥ 22.15 / 23.8);
 * - `command`: the zstd program on PATH, run as a pipe (as containerd runs unpigz): on a 280 MB
 *   layer it decompressed at ~460 MB/s in its own process, 3.5× fzstd, and compresses too;
 * - `js`: fzstd, pure JavaScript, decompression only (~130 MB/s, on the main thread).
 * So decompression always works; zstd compression on Node 20 needs the zstd command, and
 * without it createCompressor('zstd') throws ERR_UNSUPPORTED naming what is missing.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { Duplex, PassThrough, Transform } from 'node:stream';
import zlib from 'node:zlib';
import { Decompress as FzstdDecompress } from 'fzstd';
import { OverlayError } from '../spec/errors.js';

export type Compression = 'none' | 'gzip' | 'zstd';

/** The implementations of zstd this module can use (see the file comment). */
export type ZstdImplementation = 'zlib' | 'command' | 'js';

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd] as const;

/** How many bytes detectCompression() wants to see (fewer only when the stream is shorter). */
export const DETECT_BYTES = 4;

function startsWith(head: Uint8Array, magic: readonly number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

/**
 * The compression of a stream from its first bytes: gzip (1f 8b), zstd (28 b5 2f fd), otherwise
 * 'none' (a tar, or something openLayer's reader will refuse as one). Give it the first 4 bytes,
 * or the whole stream when it is shorter.
 */
export function detectCompression(head: Uint8Array): Compression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';
const OCI_NONDISTRIBUTABLE = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
const DOCKER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar';

/** Every layer media type this module reads, and its compression. */
export const LAYER_MEDIA_TYPES: Readonly<Record<string, Compression>> = {
  [OCI_LAYER]: 'none',
  [`${OCI_LAYER}+gzip`]: 'gzip',
  [`${OCI_LAYER}+zstd`]: 'zstd',
  // Deprecated by image-spec 1.1 but still in registries (Windows base layers).
  [OCI_NONDISTRIBUTABLE]: 'none',
  [`${OCI_NONDISTRIBUTABLE}+gzip`]: 'gzip',
  [`${OCI_NONDISTRIBUTABLE}+zstd`]: 'zstd',
  // Docker image manifest v2 schema 2; `.tar` and `.tar.zstd` are the names containerd and
  // moby give the uncompressed and zstd forms.
  [DOCKER_LAYER]: 'none',
  [`${DOCKER_LAYER}.gzip`]: 'gzip',
  [`${DOCKER_LAYER}.zstd`]: 'zstd',
  [`${DOCKER_FOREIGN}.gzip`]: 'gzip',
};

/**
 * The compression a layer media type declares. An unknown one (an encrypted layer, a typo, a
 * config blob passed as a layer) is an OverlayError ERR_LAYER_FORMAT that names it.
 */
export function compressionOfMediaType(mediaType: string): Compression {
  const c = Object.hasOwn(LAYER_MEDIA_TYPES, mediaType) ? LAYER_MEDIA_TYPES[mediaType] : undefined;
  if (c === undefined) {
    throw new OverlayError('ERR_LAYER_FORMAT', `unknown layer media type '${mediaType}' (known: a tar, tar+gzip or tar+zstd of OCI or Docker)`);
  }
  return c;
}

/** The media type of a layer blob with compression `c`: OCI's (default) or Docker's. */
export function mediaTypeOf(c: Compression, flavour: 'oci' | 'docker' = 'oci'): string {
  checkCompression(c);
  if (flavour === 'docker') return c === 'none' ? DOCKER_LAYER : `${DOCKER_LAYER}.${c}`;
  if (flavour !== 'oci') throw new TypeError(`The "flavour" argument must be 'oci' or 'docker'. Received ${JSON.stringify(flavour)}`);
  return c === 'none' ? OCI_LAYER : `${OCI_LAYER}+${c}`;
}

function checkCompression(c: Compression): void {
  if (c !== 'none' && c !== 'gzip' && c !== 'zstd') {
    throw new TypeError(`The compression must be 'none', 'gzip' or 'zstd'. Received ${JSON.stringify(c)}`);
  }
}

// ---- which zstd ----------------------------------------------------------------------------

type ZlibWithZstd = typeof zlib & {
  createZstdDecompress?: (options?: object) => Transform;
  createZstdCompress?: (options?: object) => Transform;
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number };
};
const zz = zlib as ZlibWithZstd;

let commandCache: { path: string; found: string | undefined } | undefined;

/** The zstd program on PATH (looked up once per PATH value), or undefined. */
export function zstdCommand(): string | undefined {
  const path = process.env.PATH ?? '';
  if (commandCache?.path !== path) {
    let found: string | undefined;
    for (const dir of path.split(':')) {
      if (!dir.startsWith('/')) continue; // a relative PATH entry would depend on the cwd
      try {
        accessSync(join(dir, 'zstd'), fsConstants.X_OK);
        found = join(dir, 'zstd');
        break;
      } catch {
        // not here
      }
    }
    commandCache = { path, found };
  }
  return commandCache.found;
}

/** The implementations present for each direction, best first. */
function available(direction: 'decompress' | 'compress'): ZstdImplementation[] {
  const out: ZstdImplementation[] = [];
  if (typeof (direction === 'decompress' ? zz.createZstdDecompress : zz.createZstdCompress) === 'function') out.push('zlib');
  if (zstdCommand() !== undefined) out.push('command');
  if (direction === 'decompress') out.push('js');
  return out;
}

function describeImpl(impl: ZstdImplementation): string {
  if (impl === 'zlib') return 'node:zlib';
  if (impl === 'command') return `the zstd command (${zstdCommand()})`;
  return 'fzstd (JavaScript)';
}

/**
 * Which zstd implementation this process uses, for `ovl probe` and error messages:
 * `compress` is undefined when there is none (Node < 22.15 without the zstd command).
 */
export function zstdSupport(): { decompress: string; compress: string | undefined } {
  const c = available('compress')[0];
  return { decompress: describeImpl(available('decompress')[0]!), compress: c === undefined ? undefined : describeImpl(c) };
}

const MISSING_COMPRESSOR =
  'zstd compression needs Node.js ≥ 22.15 (zlib.createZstdCompress) or the zstd command on PATH ' +
  '(Debian/Ubuntu: apt-get install zstd); this is Node.js ' + process.versions.node + ' without it';

function pickImpl(direction: 'decompress' | 'compress', wanted: ZstdImplementation | undefined): ZstdImplementation {
  const have = available(direction);
  if (wanted === undefined) {
    if (have[0] === undefined) throw new OverlayError('ERR_UNSUPPORTED', MISSING_COMPRESSOR);
    return have[0];
  }
  if (wanted !== 'zlib' && wanted !== 'command' && wanted !== 'js') {
    throw new TypeError(`The zstd implementation must be 'zlib', 'command' or 'js'. Received ${JSON.stringify(wanted)}`);
  }
  if (!have.includes(wanted)) {
    const why =
      wanted === 'zlib' ? `Node.js ${process.versions.node} has no zstd in zlib (it came in 22.15)` : wanted === 'command' ? 'there is no zstd command on PATH' : 'fzstd only decompresses';
    throw new OverlayError('ERR_UNSUPPORTED', `zstd ${direction}ion with ${describeImpl(wanted)} is not possible here: ${why}`);
  }
  return wanted;
}

// ---- errors --------------------------------------------------------------------------------

function truncated(format: string, cause: unknown, detail?: string): OverlayError {
  const e = new OverlayError('ERR_LAYER_FORMAT', `truncated ${format} stream${detail ? ` (${detail})` : ''}`);
  Object.defineProperty(e, 'cause', { value: cause, configurable: true, writable: true });
  return e;
}

function corrupt(format: string, detail: string, cause: unknown): OverlayError {
  const e = new OverlayError('ERR_LAYER_FORMAT', `corrupt ${format} stream: ${detail}`);
  Object.defineProperty(e, 'cause', { value: cause, configurable: true, writable: true });
  return e;
}

/** A zlib error (its code is Z_… or ZSTD_…) as ERR_LAYER_FORMAT; anything else (an AbortError) unchanged. */
function zlibError(format: string, e: Error): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !/^(Z_|ZSTD_|ERR_ZLIB)/.test(code)) return e;
  // zlib says "unexpected end of file" (Z_BUF_ERROR) when the input stops inside the stream.
  if (code === 'Z_BUF_ERROR' || /end of (file|stream)|truncat|src_size_wrong/i.test(e.message)) return truncated(format, e);
  return corrupt(format, e.message, e);
}

/** Makes the errors a stream emits go through `map` (destroy(err) passes them to _destroy). */
function mapErrors<T extends Duplex>(stream: T, map: (e: Error) => Error): T {
  const own = stream._destroy.bind(stream);
  stream._destroy = (err, cb) => own(err, (e) => cb(e ? map(e) : e));
  return stream;
}

// ---- streams -------------------------------------------------------------------------------

/** Options of createDecompressor/createCompressor. */
export interface CodecOptions {
  /** For zstd: use this implementation instead of the best one present (tests, benchmarks). */
  zstd?: ZstdImplementation;
}

/**
 * A stream from compressed bytes to the tar: a Transform (a PassThrough for 'none'), or a Duplex
 * over the zstd command. Errors of the data are ERR_LAYER_FORMAT; a stream that ends inside a
 * gzip member or zstd frame is "truncated".
 */
export function createDecompressor(c: Compression, options: CodecOptions = {}): Duplex {
  checkCompression(c);
  if (c === 'none') return new PassThrough();
  if (c === 'gzip') {
    // zlib decodes concatenated members by itself.
    return mapErrors(zlib.createGunzip({ chunkSize: 128 * 1024 }), (e) => zlibError('gzip', e));
  }
  const impl = pickImpl('decompress', options.zstd);
  if (impl === 'zlib') return mapErrors(zz.createZstdDecompress!({ chunkSize: 128 * 1024 }), (e) => zlibError('zstd', e));
  if (impl === 'command') return new CommandStream(zstdCommand()!, ['-d', '-c', '-q', '--no-progress'], 'zstd', 'decompress');
  return new FzstdStream();
}

/** A stream from the tar to compressed bytes ('none': a PassThrough); `level` as the format knows it. */
export function createCompressor(c: Compression, options: CodecOptions & { level?: number } = {}): Duplex {
  checkCompression(c);
  const { level } = options;
  if (level !== undefined && !Number.isInteger(level)) throw new TypeError(`The "level" option must be an integer. Received ${String(level)}`);
  if (c === 'none') return new PassThrough();
  if (c === 'gzip') {
    if (level !== undefined && (level < 0 || level > 9)) throw new RangeError(`The gzip level must be from 0 to 9. Received ${level}`);
    return zlib.createGzip(level === undefined ? {} : { level });
  }
  if (level !== undefined && (level < 1 || level > 19)) throw new RangeError(`The zstd level must be from 1 to 19. Received ${level}`);
  const impl = pickImpl('compress', options.zstd);
  if (impl === 'zlib') {
    const key = zz.constants.ZSTD_c_compressionLevel;
    return zz.createZstdCompress!(level === undefined || key === undefined ? {} : { params: { [key]: level } });
  }
  // -T0: the zstd command compresses on every core; 3 is its (and containerd's) default level.
  return new CommandStream(zstdCommand()!, ['-c', '-q', '--no-progress', '-T0', `-${level ?? 3}`], 'zstd', 'compress');
}

/**
 * fzstd as a Transform. It decodes on the main thread, block by block (≤ 128 KiB each), and
 * pushes every block of the input it is given at once: so the input goes in slices sized by
 * the ratio seen so far (about a readable buffer's worth of output each; at least 64 bytes,
 * which zstd's RLE blocks can still turn into 2 MiB), and when the readable buffer is full the
 * next slice waits for the consumer (_read). That bounds memory however well the data
 * compresses. (Fixed small slices would cost speed: fzstd copies a block it got in pieces.)
 */
class FzstdStream extends Transform {
  readonly #d: FzstdDecompress;
  #wake: (() => void) | undefined;
  #in = 0;
  #out = 0;

  constructor() {
    super({ readableHighWaterMark: 1 << 20 });
    this.#d = new FzstdDecompress((chunk) => {
      this.#out += chunk.length;
      if (chunk.length > 0) this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
  }

  static #error(e: unknown): Error {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'number') return e as Error;
    // fzstd's code 5 is 'unexpected EOF'.
    return code === 5 ? truncated('zstd', e) : corrupt('zstd', (e as Error).message, e);
  }

  #slice(): number {
    // Until there is output to judge by, assume a high ratio (1:64).
    const ratio = this.#out === 0 ? 64 : Math.max(1, this.#out / Math.max(1, this.#in));
    return Math.max(64, Math.floor(this.readableHighWaterMark / ratio));
  }

  async #feed(chunk: Buffer, final: boolean): Promise<void> {
    let i = 0;
    do {
      const end = Math.min(chunk.length, i + this.#slice());
      this.#d.push(chunk.subarray(i, end), final && end === chunk.length);
      this.#in += end - i;
      i = end;
      if (this.destroyed) return;
      if (this.readableLength >= this.readableHighWaterMark) await new Promise<void>((resolve) => (this.#wake = resolve));
    } while (i < chunk.length);
  }

  override _read(size: number): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.#wake?.();
    cb(err);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#feed(chunk, false).then(
      () => cb(),
      (e: unknown) => cb(FzstdStream.#error(e)),
    );
  }

  override _flush(cb: (e?: Error | null) => void): void {
    this.#feed(Buffer.alloc(0), true).then(
      () => cb(),
      (e: unknown) => cb(FzstdStream.#error(e)),
    );
  }
}

/**
 * A program as a Duplex: what is written goes to its stdin, its stdout is what is read. The
 * readable side ends only after the program exited 0; otherwise the stream fails with its
 * stderr. Destroying the stream (an error, an abort, a consumer that stops) kills the program
 * and finishes destroying only once it has been reaped: no process is left behind.
 * (A Duplex, not a Transform: a Transform ends its readable side when its input ends, before
 * the exit status is known.)
 */
class CommandStream extends Duplex {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #format: string;
  readonly #direction: 'decompress' | 'compress';
  #stderr = '';
  #exited = false;
  #onExit: (() => void) | undefined;
  #onDrain: (() => void) | undefined;

  constructor(file: string, args: string[], format: string, direction: 'decompress' | 'compress') {
    super({ readableHighWaterMark: 1 << 20 });
    this.#format = format;
    this.#direction = direction;
    this.#child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const child = this.#child;
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (this.#stderr.length < 4096) this.#stderr += s;
    });
    // The program may exit (bad data) while we write: EPIPE. Its exit status tells the story.
    child.stdin.on('error', () => {});
    child.stdin.on('drain', () => {
      const f = this.#onDrain;
      this.#onDrain = undefined;
      f?.();
    });
    const exited = (): boolean => {
      this.#exited = true;
      const f = this.#onExit;
      this.#onExit = undefined;
      f?.();
      return f !== undefined || this.destroyed;
    };
    child.on('error', (e) => {
      // spawn failed (ENOENT when the program went away after the PATH lookup)
      if (exited()) return;
      this.destroy(new OverlayError('ERR_UNSUPPORTED', `cannot run ${file} to ${direction} ${format}: ${e.message}`));
    });
    // 'close': exited and its stdio drained, so every byte of stdout was pushed.
    child.on('close', (code, signal) => {
      if (exited()) return;
      if (code === 0) this.push(null);
      else this.destroy(this.#failure(code, signal));
    });
  }

  #failure(code: number | null, signal: NodeJS.Signals | null): Error {
    const msg = this.#stderr
      .trim()
      .replace(/^zstd: \/\*stdin\*\\?: /gm, '')
      .replace(/\s+/g, ' ');
    const how = signal ? `killed by ${signal}` : `exit status ${code}`;
    if (this.#direction === 'compress') return new Error(`the ${this.#format} command failed (${how}): ${msg}`);
    if (/unexpected end|premature|truncat|incomplete/i.test(msg)) return truncated(this.#format, undefined, `zstd: ${msg}`);
    return corrupt(this.#format, msg ? `zstd: ${msg}` : how, undefined);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.#child.stdin.write(chunk)) cb();
    else this.#onDrain = () => cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    // The readable side is ended by 'close', once the exit status is known.
    this.#child.stdin.end();
    cb();
  }

  override _read(): void {
    this.#child.stdout.resume();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    const child = this.#child;
    child.stdin.destroy();
    child.stdout.destroy();
    if (this.#exited) return cb(err);
    this.#onExit = () => cb(err);
    child.kill('SIGKILL');
  }
}
