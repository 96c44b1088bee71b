import { defineConfig } from 'vitest/config';

// unit: no privileges, no kernel state. native: loads the addon, no mounts (user.* xattrs,
// handles, finalizers). privileged: real mounts as root inside the private mount namespace that
// scripts/run-tests.mjs creates. Each project `extends: true`: an inline project inherits
// nothing from the root config otherwise (the pool and timeouts below).
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      // unit: the addon cannot load there (test/helpers/no-addon.ts): the pure parts need none.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], setupFiles: ['test/helpers/no-addon.ts'] } },
      { extends: true, test: { name: 'native', include: ['test/native/**/*.test.ts'], execArgv: ['--expose-gc'] } },
      {
        extends: true,
        test: {
          name: 'privileged',
          include: ['test/privileged/**/*.test.ts'],
          execArgv: ['--expose-gc'],
          fileParallelism: false,
        },
      },
      // rootless: child processes under `unshare -Urm` run the compiled library (dist/).
      { extends: true, test: { name: 'rootless', include: ['test/rootless/**/*.test.ts'], fileParallelism: false } },
    ],
  },
});
