{
  "variables": {
    # libdeflate's static library and header when they are there at build time (Debian:
    # libdeflate-dev, or libdeflate-dev:arm64 for a cross build), else the zlib inside Node.
    # The library is looked up for the target's architecture (argv[1]): an arm64 cross build on
    # x64 must not link the x64 one. SHMARRAY_ENGINE=zlib forces the fallback (the tests build both).
    "libdeflate_a%": "<!(node -p \"const fs = require('fs'); const triple = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.argv[1]]; process.env.SHMARRAY_ENGINE === 'zlib' || !['/usr/include/libdeflate.h', '/usr/local/include/libdeflate.h'].some((p) => fs.existsSync(p)) ? '' : ([...(triple ? ['/usr/lib/' + triple + '/libdeflate.a'] : []), ...(process.argv[1] === process.arch ? ['/usr/lib64/libdeflate.a', '/usr/lib/libdeflate.a', '/usr/local/lib/libdeflate.a'] : [])].find((p) => fs.existsSync(p)) ?? '')\" <(target_arch))"
  },
  "targets": [
    {
      "target_name": "shmarray",
      "sources": ["src/native/addon.cc", "src/native/codec.cc", "src/native/guard.cc", "src/native/stats.cc", "src/native/work.cc"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-cast-function-type", "-O2"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["libdeflate_a != ''", {
          "defines": ["SHMARRAY_LIBDEFLATE"],
          "libraries": ["<(libdeflate_a)"]
        }]
      ]
    }
  ]
}
