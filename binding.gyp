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
        "native/kernel_log.cc",
        "native/layer_write.cc",
        "native/layer_read.cc",
        "native/mount_api.cc",
        "native/mount_info.cc",
        "native/mount_legacy.cc",
        "native/node.cc",
        "native/scan_dir.cc",
        "native/userns.cc",
        "native/xattr.cc"
      ],
      # node-addon-api's headers by include path, not through its gyp target: a dependency on
      # ../node-addon-api/node_addon_api.gyp (node-addon-api hoisted beside this package) makes
      # gyp write that file's Makefiles to ../node-addon-api relative to build/, i.e. into the
      # package root. What the target would add: the include dir and the define below.
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      # DISABLE_CPP_EXCEPTIONS: C++ exceptions off, errors are pending JS exceptions.
      # SWALLOW_UNTHROWABLE_EXCEPTIONS: a call completing while a worker's environment shuts
      # down cannot throw or call JS; without it node-addon-api aborts the whole process.
      "defines": ["NAPI_VERSION=9", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS",
                  "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++20", "-fno-exceptions", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"]
    }
  ]
}
