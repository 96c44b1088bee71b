#!/usr/bin/env node
// Builds dist/ from src/. `tsc` emits every module with its .d.ts (the types the package ships,
// and the per-module files the stress and benchmark tools import); esbuild then bundles what the
// package runs, as CommonJS that src/boot/load.ts compiles through V8's code cache (on Node 20
// an ES module's compiled code cannot be kept between runs; a vm.Script's can):
//
//   dist/lib/core.cjs     spec/ sys/ mount/ read/ layers/: what every mount needs
//   dist/lib/images.cjs   oci/ store/ registry/ snapshotter/: loaded on the first call into them
//   dist/cli/main.cjs     cli/: the command line (each command's code evaluated when it runs)
//   dist/cli/ovl.cjs      the `ovl` executable (src/boot/ovl.ts)
//   (src/boot/load.ts, the code-cache loader, is inlined where a bundle is loaded from)
//   dist/index.js         the library's ES module entry, generated below: core's exports as they
//                         are, images' behind functions (and class proxies) that load it on use
//
// Each module is in exactly one bundle: an import that crosses into another bundle becomes a
// lookup in that bundle's table of module namespaces, so the library's state (the kernel-log
// reader, the mount table, the addon) exists once per process whichever bundle reaches it.
// The package's dependencies stay outside, loaded from node_modules.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

const BUNDLES = {
  core: ['spec', 'sys', 'mount', 'read', 'layers'],
  images: ['oci', 'store', 'registry', 'snapshotter'],
  cli: ['cli'],
};
const bundleOf = (folder) => Object.keys(BUNDLES).find((b) => BUNDLES[b].includes(folder));

const fail = (message) => {
  console.error(`build: ${message}`);
  process.exit(1);
};

// An empty dist/ first: a module moved or removed must not linger from an older build (nor a
// code cache of an older bundle).
rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit', cwd: root });
if (tsc.status !== 0) fail('the TypeScript build failed');

/** Every .ts module under src/FOLDER, as paths relative to src/ without the extension. */
function modules(folder) {
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
      const p = join(dir, d.name);
      return d.isDirectory() ? walk(p) : d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [relative(src, p).slice(0, -3)] : [];
    });
  return walk(join(src, folder)).sort();
}

/** The name a module's namespace has in its bundle's table: mount/overlay → mount$overlay. */
const keyOf = (rel) => rel.replace(/[^A-Za-z0-9]/g, '$');

const esbuild = await import('esbuild');
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  // fzstd, node-gyp-build, gRPC: the package's dependencies, resolved from node_modules at run time.
  packages: 'external',
  // Readable stack traces: names and layout kept (the code cache makes the size matter little).
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  // import.meta.url in CommonJS: the bundle's own file, as the module's was beside it.
  // (computed when asked: few modules ask, and not at start).
  define: { 'import.meta.url': '__ovlImportMeta.url', 'import.meta.dirname': '__dirname' },
  // Strict, as the ES modules they were: the wrapper src/boot/load.ts compiles them in is not.
  banner: { js: '"use strict";\nvar __ovlImportMeta = { get url() { return require("node:url").pathToFileURL(__filename).href; } };' },
};

const LOAD = join(src, 'boot', 'load.ts');

/** Namespaces other bundles (and the entry) take from each bundle: key -> module. */
const wanted = { core: new Map(), images: new Map() };
function wantNamespace(bundle, rel) {
  const key = keyOf(rel);
  if (wanted[bundle].has(key) && wanted[bundle].get(key) !== rel) fail(`${rel} and ${wanted[bundle].get(key)} have one table key (${key}): rename one`);
  wanted[bundle].set(key, rel);
}

/**
 * Resolves the imports of a bundle's modules: one into another bundle becomes a module whose
 * exports are that bundle's namespace of the module (loaded through src/boot/load.ts); one into
 * a bundle this one may not use fails the build (core uses no other, images only core).
 */
function crossBundle(self, outfile) {
  const may = { core: [], images: ['core'], cli: ['core', 'images'] }[self];
  const here = dirname(join(dist, outfile));
  return {
    name: 'cross-bundle',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (!args.importer.startsWith(src + '/')) return undefined;
        const target = resolve(dirname(args.importer), args.path).replace(/\.js$/, '.ts');
        if (!target.startsWith(src + '/') || !existsSync(target)) return undefined;
        const rel = relative(src, target).slice(0, -3);
        const owner = bundleOf(rel.split('/')[0]);
        if (owner === self) return undefined;
        if (!may.includes(owner)) return { errors: [{ text: `${relative(src, args.importer)} imports ${rel}, in the ${owner} bundle, which the ${self} bundle may not load` }] };
        wantNamespace(owner, rel);
        return { path: rel, namespace: 'cross-bundle', pluginData: { owner } };
      });
      build.onLoad({ filter: /.*/, namespace: 'cross-bundle' }, (args) => ({
        contents:
          `module.exports = require(${JSON.stringify(LOAD)}).load(require("node:path").join(__dirname, ` +
          `${JSON.stringify(relative(here, join(dist, 'lib', `${args.pluginData.owner}.cjs`)))})).${keyOf(args.path)};`,
        loader: 'js',
        resolveDir: src,
      }));
    },
  };
}

/**
 * A bundle whose exports are the namespaces other bundles and the entry take from it, each a
 * getter that require()s its module: esbuild then wraps every module of the bundle in an
 * initializer run on first use, so a process evaluates only the modules it reaches (an `ovl
 * mount` never runs layers/), and its code cache holds only their code.
 */
async function tableBundle(name) {
  const outfile = `lib/${name}.cjs`;
  const contents = [...wanted[name]]
    .sort()
    .map(([key, rel]) => `  get ${key}() {\n    return (made.${key} ??= require('./${rel}.js'));\n  },`)
    .join('\n');
  // (Each namespace made once: a require() of a bundled module builds a new copy of its exports.)
  await esbuild.build({
    ...common,
    stdin: { contents: `const made = {};\nmodule.exports = {\n${contents}\n};\n`, resolveDir: src, sourcefile: `${name}-bundle.js`, loader: 'js' },
    outfile: join('dist', outfile),
    plugins: [crossBundle(name, outfile)],
  });
}

// The entry's exports (tsc's dist/index.js has the names the .d.ts declares), each found by
// identity in the module of core or images that defines it.
const api = await import(pathToFileURL(join(dist, 'index.js')).href);
const homes = new Map(); // value -> [{ bundle, rel, name }]
for (const bundle of ['core', 'images']) {
  for (const rel of BUNDLES[bundle].flatMap(modules)) {
    const ns = await import(pathToFileURL(join(dist, `${rel}.js`)).href);
    const put = (value, name) => {
      if (!homes.has(value)) homes.set(value, []);
      homes.get(value).push({ bundle, rel, name });
    };
    put(ns, '*');
    for (const [name, value] of Object.entries(ns)) put(value, name);
  }
}
const exportsOf = [];
for (const [name, value] of Object.entries(api)) {
  const found = homes.get(value) ?? [];
  const home = found.find((h) => h.name === name) ?? found.find((h) => h.name === '*') ?? (typeof value === 'object' || typeof value === 'function' ? found[0] : undefined);
  if (!home) fail(`the export ${name} of src/index.ts was found in no module of core or images`);
  if (home.bundle === 'core' || typeof value === 'function') wantNamespace(home.bundle, home.rel);
  exportsOf.push({ name, value, home, key: keyOf(home.rel) });
}

// The command line first, then images: what each takes from the bundles below decides their tables.
await esbuild.build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli/main.cjs', plugins: [crossBundle('cli', 'cli/main.cjs')] });
await tableBundle('images');
await tableBundle('core');
await esbuild.build({ ...common, banner: { js: '#!/usr/bin/env node' }, define: {}, entryPoints: ['src/boot/ovl.ts'], outfile: 'dist/cli/ovl.cjs' });
chmodSync(join(dist, 'cli', 'ovl.cjs'), 0o755);

// Each bundle runs as CommonJS inside a vm.Script: a dynamic import() there needs an
// experimental vm hook, so none may be left (esbuild turns those of bundled modules into requires).
for (const file of ['lib/core.cjs', 'lib/images.cjs', 'cli/main.cjs']) {
  const text = readFileSync(join(dist, file), 'utf8');
  const m = /\bimport\((?!\s*\))/.exec(text);
  if (m) fail(`dist/${file} keeps a dynamic import() (${text.slice(m.index, m.index + 60)}...): load that dependency with require()`);
}

// dist/index.js, the library's ES module entry: core's exports as they are, images' behind
// functions and class stand-ins that load it on first use; the loader inlined.
const lines = [];
const coreGroups = new Map(); // key -> ["name", "orig as name"]
for (const { name, value, home, key } of exportsOf) {
  if (home.bundle === 'core') {
    if (home.name === '*') lines.push(`export const ${name} = $core.${key};`);
    else {
      if (!coreGroups.has(key)) coreGroups.set(key, []);
      coreGroups.get(key).push(home.name === name ? name : `${home.name}: ${name}`);
    }
  } else if (typeof value === 'function' && /^class\b/.test(Function.prototype.toString.call(value))) {
    lines.push(`export const ${name} = $lazyClass(${JSON.stringify(key)}, ${JSON.stringify(home.name)});`);
  } else if (typeof value === 'function') {
    // The same kind of function (an async one returns a rejected Promise if the bundle cannot
    // load) and the same length.
    const kind = value.constructor.name === 'AsyncFunction' ? 'async function' : 'function';
    lines.push(`export ${kind} ${name}(...args) {\n  return $images().${key}.${home.name}.apply(this, args);\n}`);
    lines.push(`Object.defineProperty(${name}, 'length', { value: ${value.length} });`);
  } else if (value === null || ['number', 'string', 'boolean'].includes(typeof value)) {
    lines.push(`export const ${name} = ${JSON.stringify(value)};`);
  } else {
    fail(`the export ${name} (${typeof value}) of the images bundle cannot be loaded on first use: export a function, a class or a constant`);
  }
}
const entry = `// The library's entry (generated by scripts/build.mjs from src/index.ts's exports). The code is in
// CommonJS bundles compiled through V8's code cache (src/boot/load.ts): lib/core.cjs (the mount
// path, loaded here) and lib/images.cjs (OCI layers, the store, registries, the snapshotter),
// loaded on the first call of one of its functions or the first use of one of its classes.
import { isLoaded as $isLoaded, load as $load } from ${JSON.stringify(LOAD)};

const $core = $load(\`\${import.meta.dirname}/lib/core.cjs\`);
const $imagesFile = \`\${import.meta.dirname}/lib/images.cjs\`;
let $imagesBundle;
const $images = () => ($imagesBundle ??= $load($imagesFile));

/**
 * A class of the images bundle: a stand-in that forwards everything to it, loading it on first use
 * (instanceof answers false before then without loading it: no instance can exist yet). What it
 * cannot be: the class itself (an instance's .constructor is the real class).
 */
function $lazyClass(key, name) {
  const real = () => $images()[key][name];
  // The target is a plain (strict) function: a class target's read-only prototype would have to
  // be what the proxy answers. Its own prototype is writable, so the real one is reported so too.
  return new Proxy(function () {}, {
    get: (_, prop) => (prop === Symbol.hasInstance && !$isLoaded($imagesFile) ? () => false : Reflect.get(real(), prop)),
    has: (_, prop) => Reflect.has(real(), prop),
    set: (_, prop, value) => Reflect.set(real(), prop, value),
    construct: (_, args, newTarget) => Reflect.construct(real(), args, newTarget),
    apply: (_, self, args) => Reflect.apply(real(), self, args),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_, prop) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), prop);
      return prop === 'prototype' && d ? { ...d, writable: true } : d;
    },
  });
}

${[...coreGroups].map(([key, names]) => `export const { ${names.join(', ')} } = $core.${key};`).join('\n')}
${lines.join('\n')}
`;
await esbuild.build({
  ...common,
  format: 'esm',
  define: {},
  banner: {},
  stdin: { contents: entry, resolveDir: root, sourcefile: 'index-entry.js', loader: 'js' },
  outfile: 'dist/index.js',
  allowOverwrite: true,
});

// The entry exports exactly what src/index.ts does. (Loading it here must not leave a code cache
// of this process's run behind.)
process.env.NODE_DISABLE_COMPILE_CACHE = '1';
const built = await import(`${pathToFileURL(join(dist, 'index.js')).href}?check`);
const want = Object.keys(api).sort().join(' ');
const have = Object.keys(built).sort().join(' ');
if (want !== have) fail(`dist/index.js exports differ from src/index.ts's:\n  want ${want}\n  have ${have}`);
