#!/usr/bin/env node
/**
 * One store operation in a process of its own, for the crash and concurrency tests (which kill
 * it, or run two at once). It runs the BUILT library (dist/index.js, as a user's process would):
 *
 *   node test/helpers/store-child.mjs [FLAGS] OP ROOT ARGS...
 *
 *   import LAYOUT REF TAG      (REF or TAG '-': none)
 *   create IMAGE NAME
 *   mount NAME
 *   commit NAME REF            (REF '-': untagged)
 *   rm-image NAME
 *   rm-container NAME
 *   prune
 *   tag IMAGE REF
 *   recover                    (the store opened without its recovery) the recovery, store.recover()
 *   reopen                     open the store again and again (each open runs the recovery when
 *                              no other process is busy with it) until a line on stdin
 *
 * FLAGS:
 *   --gate                     after opening the store, print {"event":"ready"} and wait for a
 *                              line on stdin before the operation (to start several at once)
 *   --pause-before-layer N     (import) when the import asks for layer N's blob (bottom first),
 *                              print {"event":"paused"} and wait for a line on stdin
 *
 * stdout, one JSON object a line: {"event":"start"} when the real work begins (the store is
 * open), then {"event":"result","ok":true,"result":...} or {"event":"result","ok":false,
 * "error":{...}} (exit status 1).
 */
import { createInterface } from 'node:readline';

const lib = await import(new URL('../../dist/index.js', import.meta.url).href);

const argv = process.argv.slice(2);
let gate = false;
let pauseLayer;
while (argv[0]?.startsWith('--')) {
  const flag = argv.shift();
  if (flag === '--gate') gate = true;
  else if (flag === '--pause-before-layer') pauseLayer = Number(argv.shift());
  else fail(new Error(`unknown flag ${flag}`));
}
const [op, root, ...args] = argv;

function say(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function fail(e) {
  say({ event: 'result', ok: false, error: { code: e?.code, name: e?.name, message: String(e?.message ?? e), stack: e?.stack } });
  process.exit(1);
}

const lines = createInterface({ input: process.stdin });
const waiting = [];
const queued = [];
lines.on('line', (l) => (waiting.length > 0 ? waiting.shift()(l) : queued.push(l)));
const nextLine = () => (queued.length > 0 ? Promise.resolve(queued.shift()) : new Promise((resolve) => waiting.push(resolve)));
const opt = (v) => (v === undefined || v === '-' ? undefined : v);

/** The layout's image, its blob() made to wait (for the parent's go) before layer `n`. */
async function pausingSource(layout, ref, n) {
  const src = await lib.openImageSource(layout);
  const image = await src.resolve(ref);
  const digest = image.layers[n]?.digest;
  if (digest === undefined) throw new Error(`the image has no layer ${n}`);
  let paused = false;
  return {
    kind: src.kind,
    path: src.path,
    close: () => src.close(),
    [Symbol.asyncDispose]: () => src.close(),
    images: () => src.images(),
    resolve: (r, p) => src.resolve(r, p),
    readJson: (d) => src.readJson(d),
    blob: async (d, o) => {
      if (d === digest && !paused) {
        paused = true;
        say({ event: 'paused', layer: n });
        await nextLine();
      }
      return src.blob(d, o);
    },
  };
}

try {
  const store = await lib.openStore({ root, noRecovery: op === 'recover' });
  if (gate) {
    say({ event: 'ready', recovery: store.recovery.ran });
    await nextLine();
  }
  let run;
  switch (op) {
    case 'import': {
      const [layout, ref, tag] = args;
      const options = { ...(opt(ref) ? { ref: opt(ref) } : {}), ...(opt(tag) ? { tag: opt(tag) } : {}) };
      if (pauseLayer !== undefined) {
        const source = await pausingSource(layout, opt(ref), pauseLayer);
        run = async () => {
          try {
            return await store.importImage(source, options);
          } finally {
            await source.close();
          }
        };
      } else run = () => store.importImage(layout, options);
      break;
    }
    case 'create':
      run = () => store.createContainer(args[0], { name: args[1] });
      break;
    case 'mount':
      run = () => store.mountContainer(args[0]);
      break;
    case 'commit':
      run = () => store.commit(args[0], opt(args[1]) ? { ref: args[1] } : {});
      break;
    case 'rm-image':
      run = () => store.removeImage(args[0]);
      break;
    case 'rm-container':
      run = () => store.removeContainer(args[0]);
      break;
    case 'prune':
      run = () => store.prune();
      break;
    case 'recover':
      run = () => store.recover();
      break;
    case 'tag':
      run = () => store.tag(args[0], args[1]);
      break;
    case 'reopen':
      run = async () => {
        let stop = false;
        void nextLine().then(() => (stop = true));
        const out = { opens: 0, recoveries: 0, removed: [] };
        while (!stop) {
          const again = await lib.openStore({ root });
          out.opens++;
          if (again.recovery.ran) out.recoveries++;
          out.removed.push(...again.recovery.removed);
          await new Promise((r) => setImmediate(r));
        }
        return out;
      };
      break;
    default:
      throw new Error(`unknown operation '${op}'`);
  }
  say({ event: 'start', op, pid: process.pid, recovery: store.recovery.ran });
  const result = await run();
  say({ event: 'result', ok: true, result });
  lines.close();
  process.exit(0);
} catch (e) {
  fail(e);
}
