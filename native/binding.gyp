{
  # Built by scripts/build-native.sh only (never at npm install time: this
  # file lives in native/, not at the package root, so npm does not run gyp).
  "targets": [
    {
      "target_name": "alps_native",
      "sources": ["src/addon.cc", "src/bpf_handle.cc", "src/syscalls.cc", "src/layout.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "libraries": ["<!@(pkg-config --libs libbpf)", "-lelf", "-lz"]
    }
  ]
}
