{
  "targets": [
    {
      "target_name": "shmarray",
      "sources": ["src/core/native.cc"],
      "cflags_cc": ["-Wall", "-Wextra", "-Wno-cast-function-type", "-O2"]
    }
  ]
}
