/**
 * The three-layer example of issue 3, for the mountOverlay tests (and, by path, the rootless
 * fixture): base has /etc/os-release, /bin/sh and /etc/app/config.json; app adds /app/server.py;
 * config (the top layer) overrides /etc/app/config.json.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTree } from './tmp.js';

export interface Example {
  root: string;
  base: string;
  app: string;
  config: string;
  upper: string;
  work: string;
  target: string;
  /** Top first, as OverlaySpec.lower wants them. */
  lower: string[];
}

export const BASE = {
  'etc/os-release': 'ID=example\nVERSION_ID=1\n',
  'bin/sh': '#!/bin/true\n',
  'etc/app/config.json': '{"from":"base"}\n',
};
export const APP = { 'app/server.py': 'print("serving")\n' };
export const CONFIG = { 'etc/app/config.json': '{"from":"config"}\n' };

/** What the merged view must show: every file, with the content of its topmost layer. */
export const MERGED: Record<string, string> = {
  'app/server.py': APP['app/server.py'],
  'bin/sh': BASE['bin/sh'],
  'etc/app/config.json': CONFIG['etc/app/config.json'],
  'etc/os-release': BASE['etc/os-release'],
};

/** Creates the three layers, an empty upper and target under `root` (work is left to mountOverlay). */
export function makeExample(root: string, name = ''): Example {
  const at = (s: string) => join(root, `${s}${name}`);
  const x: Example = {
    root,
    base: writeTree(at('base'), BASE),
    app: writeTree(at('app'), APP),
    config: writeTree(at('config'), CONFIG),
    upper: writeTree(at('upper'), {}),
    work: at('work'),
    target: writeTree(at('merged'), {}),
    lower: [],
  };
  x.lower = [x.config, x.app, x.base];
  return x;
}

/** Every regular file under `dir` with its content, by relative path (directories implied). */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) out[r] = readFileSync(join(dir, r), 'utf8');
      else out[r] = `<${st.isCharacterDevice() ? `chr ${st.rdev}` : 'other'}>`;
    }
  };
  walk('');
  return out;
}
