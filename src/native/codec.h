// Deflate and inflate with no V8 in sight: the engines (deflate: libdeflate when it was found at
// build time, else the zlib inside Node; inflate: Node's zlib), and one zip entry inflated from a
// mapped archive into its output file (under the SIGBUS guard of guard.h). Called from the worker
// threads of src/native/work.cc; every function is thread-safe and allocates only what it frees.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shmarray {
namespace codec {

// "libdeflate 1.14 (deflate), zlib 1.3.1 of Node (inflate)" or "zlib 1.3.1 of Node (deflate, inflate)".
const char* EngineName();

// How an entry (or a chunk) went. The names are the `reason` of the ERR_SHM_BAD_ZIP JS reports.
enum Status : int {
  kOk = 0,
  kSizeExceeded = 1,  // inflates past its declared size (a zip bomb, or corrupt)
  kSizeMismatch = 2,  // inflates to fewer bytes than declared
  kCorrupt = 3,       // not a valid deflate stream
  kChanged = 4,       // the file shrank or vanished under the mapping (SIGBUS caught), or a short read
  kErrno = 5,         // a system call failed: `err` is its errno, `syscall` its name
};
constexpr int kStatusCount = 6;
// The name of each Status (index = value), exported to JS as CODEC_STATUS: the one list of them.
extern const char* const kStatusNames[kStatusCount];

struct EntryResult {
  int status = kOk;
  int err = 0;
  const char* syscall = "";
  uint64_t bytes = 0;  // bytes written (the declared size, on success)
  uint32_t crc = 0;    // CRC-32 of what was written
  uint8_t head[8] = {0};
  int head_len = 0;    // the first bytes, for the .npy magic, without reading the file again
};

// Inflates (method 8) or copies (method 0) `comp_size` bytes at `data_start` of the archive into
// `out_fd`, sized to `size` first (ftruncate + fallocate: a full filesystem is ENOSPC here). The
// archive is mapped and read in place; the output is written with pwrite(2) from a 256 KiB buffer
// reused for the whole entry. CRC-32 in the same pass. Never writes past `size`.
EntryResult InflateEntry(int archive_fd, uint64_t data_start, uint64_t comp_size, int method, int out_fd, uint64_t size);

// A gzip compressor of one level, reused chunk after chunk by one thread.
struct Deflater;
Deflater* NewDeflater(int level);
void FreeDeflater(Deflater* d);
// The most bytes one gzip member of `n` input bytes can take.
size_t GzipBound(Deflater* d, size_t n);
// One complete gzip member (RFC 1952) of `in` into `out`; returns its length, 0 if it did not fit.
size_t GzipMember(Deflater* d, const uint8_t* in, size_t n, uint8_t* out, size_t cap);


}  // namespace codec
}  // namespace shmarray
