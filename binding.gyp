{
  # The node-gyp build: prebuilds/ (npm run prebuild), build/Release (npm run build:native), and
  # npm install's build from source when no prebuilt binary loads (scripts/install.mjs).
  # native/CMakeLists.txt lists the same sources for cmake-js (sanitizer builds; not shipped);
  # test/unit/build-files.test.ts keeps them in step.
  "targets": [
    {
      "target_name": "overlayfs",
      "sources": [
        "native/addon.cc",
        "native/batch.cc",
        "native/errors.cc",
        "native/fd.cc",
        "native/mount_api.cc",
        "native/mount_info.cc",
        "native/mount_legacy.cc",
        "native/node.cc",
        "native/xattr.cc"
      ],
      # node_addon_api (not _except): C++ exceptions off, errors are pending JS exceptions.
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      # SWALLOW_UNTHROWABLE_EXCEPTIONS: a call completing while a worker's environment shuts
      # down cannot throw or call JS; without it node-addon-api aborts the whole process.
      "defines": ["NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++20", "-fno-exceptions", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"]
    }
  ]
}
