/**
 * The registry section of `npm run bench`: `pull()` from a local registry over loopback against
 * what a user would do without it, `skopeo copy docker://… oci:DIR` and then an unpack of the
 * same image (GNU `tar -xzf` of each layer in order into one directory; `umoci unpack` too when
 * it is installed). Interleaved round by round; everything (the registry's storage, the stores,
 * the OCI directories, the unpacked trees) on the bench's tmpfs.
 *
 * The image: about 110 MB of gzip (default level) in 4 layers of real files and generated ones
 * (/usr/include + /usr/lib/python3; /usr/share/doc; shared libraries from /usr/lib; 2,000 small
 * generated sources, 6 MB of random data and a whiteout), pushed with skopeo
 * (--preserve-digests) into a docker-registry (CNCF distribution) started here on 127.0.0.1.
 *
 * A second pull: image B (A's 4 layers and one small new one) into a store that has A, through
 * a proxy in front of the registry that counts the bytes of the responses: only the new layer's
 * blob (and the config) should move. Repeated over the rounds (B removed from the store after
 * each); skopeo copying B into an OCI directory that holds A, beside.
 *
 * What the comparison leaves out: GNU tar extracts a whiteout as the file `.wh.NAME` (timing
 * only); pull also checks every layer's diffID and keeps its tar-split, which tar does not.
 *
 * Skipped, with the reason in the report, when docker-registry, skopeo, tar or gzip is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fmtRatio, fmtTime, interleave, now, ratio, since, summarize, table } from './stats.mjs';

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REPO = 'bench/pull';

const onPath = (cmd) => spawnSync('sh', ['-c', 'command -v "$0" >/dev/null', cmd]).status === 0;

export function fresh(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A command as a child that does not block this process (the counting proxy lives here). */
function spawnAsync(cmd, args) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => (err += d));
    c.once('error', reject);
    c.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')} ... exited ${code}: ${err.trim()}`))));
  });
}

// ---- the image ----

/** A gzip layer from a tar made by GNU tar (`tarArgs`), at gzip's default level, as `docker build` would. */
export function gzLayer(run, dir, name, tarArgs) {
  const gz = join(dir, `${name}.tar.gz`);
  run('bash', ['-c', 'set -o pipefail; tar -cf - "${@:2}" | gzip -6 -n > "$1"', 'bash', gz, ...tarArgs]);
  // gzip -l: compressed and uncompressed sizes (the latter mod 4 GiB: these are far smaller).
  const [gzBytes, tarBytes] = run('gzip', ['-l', gz]).trim().split('\n')[1].trim().split(/\s+/).map(Number);
  return { gz, gzBytes, tarBytes };
}

/** `n` pseudo-source files of 0.5–4 KB: identifiers and numbers, compressible as code is. */
export function writeSources(dir, n, seed) {
  mkdirSync(dir, { recursive: true });
  const words = ['const', 'let', 'return', 'function', 'await', 'import', 'export', 'value', 'layer', 'image', 'digest', 'store', 'mount', 'if', 'else'];
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const sub = join(dir, `m${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    const lines = [];
    const len = 512 + Math.floor(rnd() * 3584);
    let size = 0;
    while (size < len) {
      const line = `${words[Math.floor(rnd() * words.length)]} v${Math.floor(rnd() * 1e6)} = ${words[Math.floor(rnd() * words.length)]}(${Math.floor(rnd() * 1e9)});`;
      lines.push(line);
      size += line.length + 1;
    }
    writeFileSync(join(sub, `f${i}.js`), lines.join('\n') + '\n');
  }
}

/** Shared libraries of 1–8 MB under /usr/lib, in name order, up to `max` bytes; [] when there are none. */
export function libraries(run, max) {
  let out;
  try {
    out = run('sh', ['-c', "find /usr/lib -xdev -type f -name '*.so*' -size +1024k -size -8192k -printf '%s %P\\n' 2>/dev/null | sort -k2"]);
  } catch {
    return [];
  }
  const picked = [];
  let total = 0;
  for (const line of out.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line);
    if (!m || total >= max) continue;
    picked.push(`usr/lib/${m[2]}`);
    total += Number(m[1]);
  }
  return picked;
}

/**
 * Layers of real files, as the registry and snapshotter sections both make them (gzip blobs in
 * `build`): /usr/include + /usr/lib/python3, /usr/share/doc (with `doc`), up to 32 MB of the
 * shared libraries in /usr/lib (or generated data), and an app of generated sources with a
 * whiteout.
 */
export function realLayers(run, build, { doc }) {
  const layers = [];
  const base = ['usr/include', 'usr/lib/python3'].filter((p) => existsSync(`/${p}`));
  layers.push({ name: 'base', what: base.map((p) => `/${p}`).join(' + '), ...gzLayer(run, build, 'base', ['-C', '/', ...base]) });
  if (doc && existsSync('/usr/share/doc')) layers.push({ name: 'doc', what: '/usr/share/doc', ...gzLayer(run, build, 'doc', ['-C', '/', 'usr/share/doc']) });
  const libs = libraries(run, 32 << 20);
  const libRoot = join(build, 'libs-root');
  if (libs.length > 0) {
    writeFileSync(join(build, 'libs.list'), libs.join('\n') + '\n');
    layers.push({ name: 'libs', what: `${libs.length} shared libraries from /usr/lib`, ...gzLayer(run, build, 'libs', ['-C', '/', '-T', join(build, 'libs.list')]) });
  } else {
    // No libraries to take: 24 MB of half-random data instead, compressible about as much.
    mkdirSync(join(libRoot, 'usr/lib/bench'), { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(libRoot, `usr/lib/bench/lib${i}.so`), Buffer.concat([randomBytes(2 << 20), Buffer.alloc(2 << 20)]));
    layers.push({ name: 'libs', what: '6 generated 4 MB files', ...gzLayer(run, build, 'libs', ['-C', libRoot, 'usr']) });
  }
  const appRoot = join(build, 'app-root');
  writeSources(join(appRoot, 'srv/app/src'), 2000, 1);
  mkdirSync(join(appRoot, 'srv/app/data'), { recursive: true });
  for (let i = 0; i < 2; i++) writeFileSync(join(appRoot, `srv/app/data/blob${i}.bin`), randomBytes(3 << 20));
  mkdirSync(join(appRoot, 'usr/include'), { recursive: true });
  writeFileSync(join(appRoot, 'usr/include/.wh.zlib.h'), '');
  layers.push({ name: 'app', what: '2,000 generated sources, 2 × 3 MB random, a whiteout', ...gzLayer(run, build, 'app', ['-C', appRoot, 'srv', 'usr']) });
  rmSync(appRoot, { recursive: true, force: true });
  return layers;
}

/**
 * The image's layers (A: 4 layers; B: A's 4 and one small new one), written as gzip blobs into
 * an OCI layout with the refs `a` and `b`.
 */
async function buildImage(lib, run, dir) {
  const build = fresh(join(dir, 'build'));
  const layers = [];
  layers.push(...realLayers(run, build, { doc: true }));
  const newRoot = join(build, 'new-root');
  writeSources(join(newRoot, 'srv/app/plugins'), 200, 2);
  writeFileSync(join(newRoot, 'srv/app/plugins/data.bin'), randomBytes(1 << 20));
  const added = { name: 'new', what: '200 generated sources, 1 MB random', ...gzLayer(run, build, 'new', ['-C', newRoot, 'srv']) };

  const layout = fresh(join(dir, 'layout'));
  const written = await lib.writeOciLayout(layout, { layers: layers.map((l) => ({ path: l.gz, mediaType: GZIP, createdBy: `layer ${l.name}: ${l.what}` })), ref: 'a' });
  const b = await lib.writeOciLayout(layout, {
    layers: [...layers, added].map((l, i) => ({ path: l.gz, mediaType: GZIP, createdBy: `layer ${l.name}: ${l.what}`, ...(written.layers[i] ? { diffId: written.layers[i].diffId } : {}) })),
    ref: 'b',
  });
  rmSync(build, { recursive: true, force: true });
  const blobBytes = (w) => w.layers.reduce((n, l) => n + l.size, 0);
  return {
    layout,
    layers: layers.map(({ name, what, gzBytes, tarBytes }) => ({ name, what, gzBytes, tarBytes })),
    added: { name: added.name, what: added.what, gzBytes: added.gzBytes, tarBytes: added.tarBytes },
    a: { layerBytes: blobBytes(written), manifest: written.manifestDigest },
    b: { layerBytes: blobBytes(b), manifest: b.manifestDigest },
  };
}

// ---- the registry, and a proxy that counts what goes through it ----

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function ping(url) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(null));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** docker-registry on a free port of 127.0.0.1, storage in `dir`, its log in a file (nothing to drain). */
export async function startRegistry(dir) {
  const storage = join(dir, 'storage');
  const logFile = join(dir, 'registry.log');
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const config = join(dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${JSON.stringify(storage)}`,
        '  maintenance:',
        '    uploadpurging:',
        '      enabled: false',
        'http:',
        `  addr: 127.0.0.1:${port}`,
        `  secret: ${randomBytes(16).toString('hex')}`,
        'health:',
        '  storagedriver:',
        '    enabled: false',
        '',
      ].join('\n'),
    );
    const fd = openSync(logFile, 'a');
    const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    let spawnError;
    child.once('error', (e) => (spawnError = e));
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    };
    process.once('exit', kill);
    const stop = async () => {
      process.off('exit', kill);
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        process.kill(child.pid, 'SIGTERM');
        if (!(await waitExit(child, 5000))) {
          kill();
          await waitExit(child, 5000);
        }
      }
    };
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && child.exitCode === null && !spawnError) {
      if ((await ping(`http://127.0.0.1:${port}/v2/`)) === 200) return { host: `127.0.0.1:${port}`, port, stop, log: () => readFileSync(logFile, 'utf8') };
      await sleep(50);
    }
    await stop();
    if (spawnError) throw new Error(`cannot run docker-registry: ${spawnError.message}`);
  }
  throw new Error(`docker-registry did not start:\n${readFileSync(logFile, 'utf8')}`);
}

/** An HTTP proxy to the registry on another port: the bytes of the response bodies it passes (blobs apart). */
async function countingProxy(port) {
  const counts = { requests: 0, bytes: 0, blobGets: 0, blobBytes: 0 };
  const server = http.createServer((req, res) => {
    counts.requests++;
    const blob = req.method === 'GET' && /\/blobs\/sha256:/.test(req.url);
    if (blob) counts.blobGets++;
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.rawHeaders);
      ur.on('data', (c) => {
        counts.bytes += c.length;
        if (blob) counts.blobBytes += c.length;
      });
      ur.pipe(res);
    });
    up.once('error', (e) => res.destroy(e));
    req.pipe(up);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    host: `127.0.0.1:${server.address().port}`,
    counts,
    reset: () => Object.assign(counts, { requests: 0, bytes: 0, blobGets: 0, blobBytes: 0 }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---- the section ----

/** Why the section cannot run here, or null. */
export function registrySkip() {
  const missing = ['docker-registry', 'skopeo', 'tar', 'gzip'].filter((t) => !onPath(t));
  return missing.length > 0 ? `${missing.join(', ')} not on PATH (apt-get install docker-registry skopeo)` : null;
}

export async function benchRegistry({ lib, baseLib, base, run, log, rounds, results, quick }) {
  const skip = registrySkip();
  if (skip) {
    log(`registry: skipped: ${skip}`);
    results.notes.push(`registry section skipped: ${skip}`);
    return;
  }
  const umoci = onPath('umoci');
  const dir = fresh(join(base, 'registry'));
  let reg;
  try {
    log('registry: building the image (4 gzip layers, and B: the same 4 and 1 new)');
    const image = await buildImage(lib, run, dir);
    try {
      reg = await startRegistry(dir);
    } catch (e) {
      log(`registry: skipped: ${e.message}`);
      results.notes.push(`registry section skipped: ${e.message.split('\n')[0]}`);
      return;
    }
    const policy = join(dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const skopeo = (...args) => ['--policy', policy, ...args];
    for (const tag of ['a', 'b']) {
      run('skopeo', skopeo('copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests', `oci:${image.layout}:${tag}`, `docker://${reg.host}/${REPO}:${tag}`));
    }
    const refA = `${reg.host}/${REPO}:a`;

    // Each variant into a directory of its own, removed after (outside the timing).
    let n = 0;
    const variant = (name, fn) => ({
      name,
      k: 1,
      warm: 1,
      run: async () => {
        const out = fresh(join(dir, `run-${n++}`));
        const t0 = now();
        await fn(out);
        const ns = since(t0);
        rmSync(out, { recursive: true, force: true });
        return [ns];
      },
    });
    /** skopeo copy into out/oci; the layers' blob paths, bottom first, from its index and manifest. */
    const skopeoCopy = (out, ref = refA) => {
      const oci = join(out, 'oci');
      run('skopeo', skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${oci}:a`));
      return oci;
    };
    const blobPath = (oci, digest) => join(oci, 'blobs', ...digest.split(':'));
    const pullInto = (concurrency, L = lib) => async (out) => {
      const store = await L.openStore({ root: join(out, 'store') });
      await L.pull(store, refA, concurrency ? { concurrency } : {});
    };
    // --baseline=DIR: the same pull from another build, to measure a change of src/registry or src/store.
    const baseline = baseLib?.pull && baseLib.openStore ? baseLib : undefined;
    const variants = [
      variant('skopeo copy + tar -xzf', async (out) => {
        const oci = skopeoCopy(out);
        const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8'));
        const manifest = JSON.parse(readFileSync(blobPath(oci, index.manifests[0].digest), 'utf8'));
        const root = join(out, 'rootfs');
        mkdirSync(root);
        for (const l of manifest.layers) run('tar', ['-xzf', blobPath(oci, l.digest), '-C', root]);
      }),
      variant('ovl pull', pullInto()),
      variant('ovl pull, concurrency 1', pullInto(1)),
    ];
    if (baseline) variants.push(variant('baseline ovl pull', pullInto(undefined, baseline)));
    if (umoci) {
      variants.push(
        variant('skopeo copy + umoci unpack', async (out) => {
          const oci = skopeoCopy(out);
          run('umoci', ['unpack', '--image', `${oci}:a`, join(out, 'bundle')]);
        }),
      );
    }
    const mb = (x) => `${(x / 1e6).toFixed(1)} MB`;
    log(`registry: pull of ${mb(image.a.layerBytes)} in ${image.layers.length} gzip layers from ${reg.host}; ${variants.length} variants; ${rounds} rounds`);
    const samples = await interleave(variants, rounds, log);
    const ref = summarize(samples.get('skopeo copy + tar -xzf'));
    results.registry = variants.map((v) => {
      const s = summarize(samples.get(v.name));
      return { name: v.name, ns: s.median, vsSkopeoTar: ratio(s, ref) };
    });
    if (baseline) {
      const row = results.registry.find((r) => r.name === 'ovl pull');
      row.vsBaseline = ratio(summarize(samples.get('ovl pull')), summarize(samples.get('baseline ovl pull')));
    }
    results.config.registry = { layers: image.layers, added: image.added, imageBytes: image.a.layerBytes, umoci, rounds, quick: Boolean(quick) };

    // Where a pull's time goes, at concurrency 3 and 1: from onProgress, when each layer was
    // queued, when its first bytes were applied, when it was done; before the first layer (the
    // manifest, the config, the store's look-ups) and after the last (the image record, the tag).
    results.registryStages = [];
    for (const concurrency of [3, 1]) {
      const out = fresh(join(dir, `stages-${concurrency}`));
      const store = await lib.openStore({ root: join(out, 'store') });
      const seen = image.layers.map(() => ({}));
      const t0 = now();
      const at = () => since(t0);
      await lib.pull(store, refA, {
        concurrency,
        onProgress: (p) => {
          const l = seen[p.layer];
          if (p.status === 'waiting') l.queued ??= at();
          if (p.status === 'applying') l.first ??= at();
          if (p.status === 'done') l.done = at();
        },
      });
      const total = at();
      rmSync(out, { recursive: true, force: true });
      results.registryStages.push({
        concurrency,
        total,
        before: Math.min(...seen.map((l) => l.queued)),
        after: total - Math.max(...seen.map((l) => l.done)),
        layers: seen.map((l, i) => ({ name: image.layers[i].name, gzBytes: image.layers[i].gzBytes, ...l })),
      });
    }

    // A second pull: B (A's layers and one new) into a store that has A, through the counting
    // proxy: only the new layer's blob should move. Repeated over rounds: B is removed from the
    // store after each (its new layer with it; A's stay). skopeo copying B into a copy of an OCI
    // directory that holds A, beside. Each variant's counts are those of its last run.
    const proxy = await countingProxy(reg.port);
    try {
      const shared = fresh(join(dir, 'shared'));
      const via = (tag) => `${proxy.host}/${REPO}:${tag}`;
      const store = await lib.openStore({ root: join(shared, 'store') });
      await lib.pull(store, via('a'));
      const baseStore = baseline ? await baseline.openStore({ root: join(shared, 'base-store') }) : undefined;
      if (baseStore) await baseline.pull(baseStore, via('a'));
      const ociA = join(shared, 'oci-a');
      const copy = (oci, tag) => spawnAsync('skopeo', skopeo('copy', '--quiet', '--src-tls-verify=false', `docker://${via(tag)}`, `oci:${oci}:${tag}`));
      await copy(ociA, 'a');
      const counted = {};
      const second = (name, fn) => ({
        name,
        k: 1,
        warm: 1,
        run: async () => {
          const undo = await fn.before?.();
          proxy.reset();
          const t0 = now();
          const extra = await fn.pull(undo);
          const ns = since(t0);
          counted[name] = { ...proxy.counts, ...extra };
          await fn.after?.(undo);
          return [ns];
        },
      });
      const bVariants = [
        second('ovl pull (same store)', {
          pull: async () => {
            const pulled = await lib.pull(store, via('b'));
            return { applied: pulled.layers.filter((l) => l.applied).length };
          },
          after: () => store.removeImage(via('b')),
        }),
        ...(baseStore
          ? [
              second('baseline ovl pull (same store)', {
                pull: async () => {
                  const pulled = await baseline.pull(baseStore, via('b'));
                  return { applied: pulled.layers.filter((l) => l.applied).length };
                },
                after: () => baseStore.removeImage(via('b')),
              }),
            ]
          : []),
        second('skopeo copy (same oci dir)', {
          before: () => {
            const oci = join(shared, 'oci-b');
            run('cp', ['-a', ociA, oci]);
            return oci;
          },
          pull: (oci) => copy(oci, 'b'),
          after: (oci) => rmSync(oci, { recursive: true, force: true }),
        }),
      ];
      log(`registry: second pull (B after A), ${rounds} rounds`);
      const bSamples = await interleave(bVariants, rounds, log);
      results.registrySecond = {
        newLayerBytes: image.added.gzBytes,
        imageBytes: image.b.layerBytes,
        layers: image.layers.length + 1,
        rows: bVariants.map((v) => ({ name: v.name, ns: summarize(bSamples.get(v.name)).median, ...counted[v.name] })),
      };
      if (baseStore) {
        results.registrySecond.rows[0].vsBaseline = ratio(summarize(bSamples.get('ovl pull (same store)')), summarize(bSamples.get('baseline ovl pull (same store)')));
      }
    } finally {
      await proxy.close();
    }
  } finally {
    await reg?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The section's lines of the text report (none when it did not run). */
export function reportRegistry(results) {
  const rows = results.registry;
  if (!rows?.length) return [];
  const c = results.config.registry;
  const lines = [];
  lines.push(
    `registry pull: an image of ${(c.imageBytes / 1e6).toFixed(0)} MB of gzip in ${c.layers.length} layers (${c.layers.map((l) => `${l.name} ${(l.gzBytes / 1e6).toFixed(1)} MB`).join(', ')})` +
      ` from docker-registry on 127.0.0.1, into tmpfs; ${c.rounds} rounds${c.umoci ? '' : ' (umoci not installed: GNU tar only)'}`,
  );
  const base = rows.some((r) => r.vsBaseline !== undefined);
  lines.push(
    table(
      ['pull', 'time', '× skopeo+tar', ...(base ? ['÷ base'] : [])],
      rows.map((r) => [r.name, fmtTime(r.ns), fmtRatio(r.vsSkopeoTar), ...(base ? [r.vsBaseline === undefined ? '' : fmtRatio(r.vsBaseline)] : [])]),
    ),
  );
  lines.push('(tar extracts whiteouts as plain .wh. files; pull also checks each diffID and keeps a tar-split)');
  for (const st of results.registryStages ?? []) {
    const ms = (ns) => `${(ns / 1e6).toFixed(0)} ms`;
    lines.push(
      `one pull, concurrency ${st.concurrency}: ${fmtTime(st.total)}; before the first layer (manifest, config, store look-ups) ${ms(st.before)}, after the last (image record, tag) ${ms(st.after)}; per layer, from the pull's start:`,
    );
    lines.push(
      table(
        ['layer', 'gzip', 'queued', 'first bytes', 'done', 'download+apply', 'MB/s'],
        st.layers.map((l) => [l.name, `${(l.gzBytes / 1e6).toFixed(1)} MB`, ms(l.queued), ms(l.first), ms(l.done), ms(l.done - l.first), (l.gzBytes / 1e6 / ((l.done - l.first) / 1e9)).toFixed(0)]),
      ),
    );
  }
  const b = results.registrySecond;
  if (b) {
    const mb = (x) => `${(x / 1e6).toFixed(2)} MB`;
    lines.push(
      `second pull: B = A's ${b.layers - 1} layers + 1 new (${mb(b.newLayerBytes)} of gzip; B's layers ${mb(b.imageBytes)}), after A, bytes counted by a proxy in front of the registry`,
    );
    lines.push(
      table(
        ['pull of B after A', 'blob GETs', 'blob bytes', '÷ new layer', '÷ B', 'all responses', 'time', ...(base ? ['÷ base'] : [])],
        b.rows.map((r) => [
          r.name,
          r.blobGets,
          mb(r.blobBytes),
          fmtRatio(r.blobBytes / b.newLayerBytes),
          fmtRatio(r.blobBytes / b.imageBytes),
          mb(r.bytes),
          fmtTime(r.ns),
          ...(base ? [r.vsBaseline === undefined ? '' : fmtRatio(r.vsBaseline)] : []),
        ]),
      ),
    );
    lines.push(`(median time over the rounds; ovl pull applied ${b.rows[0].applied} of ${b.layers} layers; blob GETs include the config)`);
  }
  lines.push('');
  return lines;
}
