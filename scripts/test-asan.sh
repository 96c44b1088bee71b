#!/usr/bin/env bash
# npm run test:asan [-- <vitest args>]: builds the addon with ASan + UBSan through cmake-js
# (npm run build:asan -> build-asan/build/Debug/overlayfs.node) and runs the native and
# privileged tests against it. Node itself is not instrumented, so libasan is preloaded; leak
# detection is off because V8 and Node keep allocations alive until exit by design.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

npm run build:asan

export OVERLAYFS_PREBUILD="$root/build-asan"
addon="$OVERLAYFS_PREBUILD/build/Debug/overlayfs.node"
if [[ ! -f $addon ]]; then
  echo "test:asan: $addon was not built" >&2
  exit 1
fi

# node-gyp-build tries <dir>/build/Release first: a stale one there would shadow this Debug build.
resolved=$(node -e 'console.log(require("node-gyp-build").resolve(process.argv[1]))' "$root")
if [[ $resolved != "$addon" ]]; then
  echo "test:asan: node-gyp-build resolves $resolved, not $addon" >&2
  exit 1
fi
echo "test:asan: addon $resolved"

libasan=$(g++ -print-file-name=libasan.so)
if [[ ! -f $libasan ]]; then
  echo "test:asan: libasan.so not found (g++ -print-file-name=libasan.so gave '$libasan')" >&2
  exit 1
fi
export LD_PRELOAD=$libasan
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
# test/native/binding.test.ts fails unless this exact file and libasan are mapped in the test process.
export OVERLAYFS_EXPECT_ADDON=$addon

if [[ $# -eq 0 ]]; then
  set -- --project native --project privileged
fi
exec node scripts/run-tests.mjs "$@"
