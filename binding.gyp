{
  "variables": {
    # libdeflate's static library and header when they are there at build time (Debian:
    # libdeflate-dev), else
    # the zlib inside Node. SHMARRAY_ENGINE=zlib forces the fallback (the tests build both).
    "libdeflate_a%": "<!(node -p \"const fs = require('fs'); process.env.SHMARRAY_ENGINE === 'zlib' || !['/usr/include/libdeflate.h', '/usr/local/include/libdeflate.h'].some((p) => fs.existsSync(p)) ? '' : (['/usr/lib/x86_64-linux-gnu/libdeflate.a', '/usr/lib/aarch64-linux-gnu/libdeflate.a', '/usr/lib64/libdeflate.a', '/usr/lib/libdeflate.a', '/usr/local/lib/libdeflate.a'].find((p) => fs.existsSync(p)) ?? '')\")"
  },
  "targets": [
    {
      "target_name": "shmarray",
      "sources": ["src/native/addon.cc", "src/native/codec.cc", "src/native/work.cc"],
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
