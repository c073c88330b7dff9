// See codec.h. Deflate: libdeflate when its static library is found at build time (binding.gyp;
// ~2.2x Node's zlib at level 6 on float data), else the zlib that Node itself exports, which is
// always there. Inflate: Node's zlib, streamed through a small buffer, in both builds: libdeflate
// only inflates whole buffers, so its output must be a mapping, and the first stores into fresh
// mapped pages cost more than its faster decoding saves (native-notes/compression.md).
#include "codec.h"
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include <zlib.h>
#ifdef SHMARRAY_LIBDEFLATE
#include <libdeflate.h>
#endif

namespace shmarray {
namespace codec {

const char* const kStatusNames[kStatusCount] = {"ok", "size-exceeded", "size-mismatch", "corrupt-data", "changed", "errno"};

namespace {

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// zlib counts in 32-bit units: feed it at most 1 GiB of input at a time.
constexpr uint64_t kSlice = uint64_t{1} << 30;
// Inflated bytes go through a buffer this size, reused, then pwrite(2): it stays in cache, and
// the kernel fills the file's pages far faster than first stores through a mapping do (measured
// in native-notes/compression.md: 7x on this machine's tmpfs), with no output mapping to fault.
constexpr size_t kChunk = size_t{256} << 10;

struct Inflate {
  const uint8_t* in;
  uint64_t in_len;
  int out_fd;
  uint64_t out_len;
  int method;
  z_stream* stream;
  uint8_t* chunk;
  // results
  int status;
  int err;
  uint64_t produced;
  uint32_t crc;
  uint8_t head[8];
  int head_len;
};

uint32_t Crc32(uint32_t crc, const uint8_t* data, uint64_t n) {
#ifdef SHMARRAY_LIBDEFLATE
  return libdeflate_crc32(crc, data, n);
#else
  for (uint64_t at = 0; at < n; at += kSlice) crc = static_cast<uint32_t>(crc32_z(crc, data + at, std::min(kSlice, n - at)));
  return crc;
#endif
}

// Appends `n` bytes at the entry's current end (a->produced), with its CRC and first bytes.
// A failed write leaves status kErrno (EFAULT: the archive shrank under a stored entry's copy).
bool Emit(Inflate* a, const uint8_t* data, uint64_t n) {
  if (a->head_len < static_cast<int>(sizeof a->head)) {
    int take = static_cast<int>(std::min<uint64_t>(n, sizeof a->head - a->head_len));
    memcpy(a->head + a->head_len, data, take);
    a->head_len += take;
  }
  a->crc = Crc32(a->crc, data, n);
  while (n > 0) {
    ssize_t w = pwrite(a->out_fd, data, std::min<uint64_t>(n, kSlice), static_cast<off_t>(a->produced));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      a->err = w < 0 ? errno : ENOSPC;
      a->status = a->err == EFAULT ? kChanged : kErrno;
      return false;
    }
    data += w;
    n -= static_cast<uint64_t>(w);
    a->produced += static_cast<uint64_t>(w);
  }
  return true;
}

// Stored entries: written straight from the mapped archive, bounded by the declared size.
void Copy(Inflate* a) {
  if (!Emit(a, a->in, std::min(a->in_len, a->out_len))) return;
  a->status = a->in_len > a->out_len ? kSizeExceeded : a->in_len < a->out_len ? kSizeMismatch : kOk;
}

// Deflated entries: streamed through the chunk. Never writes past the declared size: the chunk
// that would cross it is cut there and the entry reported as too large (a zip bomb stops here).
void Decompress(Inflate* a) {
  z_stream* s = a->stream;
  uint64_t in_left = a->in_len;
  const uint8_t* in = a->in;
  s->avail_in = 0;
  for (;;) {
    if (s->avail_in == 0 && in_left > 0) {
      uint64_t n = std::min(kSlice, in_left);
      s->next_in = const_cast<Bytef*>(in);
      s->avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
    s->next_out = a->chunk;
    s->avail_out = static_cast<uInt>(kChunk);
    int r = inflate(s, Z_NO_FLUSH);
    uint64_t got = kChunk - s->avail_out;
    uint64_t room = a->out_len - a->produced;
    if (got > room) {
      if (Emit(a, a->chunk, room)) a->status = kSizeExceeded;
      return;
    }
    if (got > 0 && !Emit(a, a->chunk, got)) return;
    if (r == Z_STREAM_END) break;
    if (r == Z_OK) continue;
    // Z_BUF_ERROR: no progress possible (the input ended before the stream did); else bad data.
    a->status = kCorrupt;
    return;
  }
  a->status = a->produced == a->out_len ? kOk : kSizeMismatch;
}

void InflateBody(void* arg) {
  Inflate* a = static_cast<Inflate*>(arg);
  if (a->method == 0) Copy(a);
  else Decompress(a);
}

EntryResult Errno(const char* syscall, int err) {
  EntryResult r;
  r.status = kErrno;
  r.err = err;
  r.syscall = syscall;
  return r;
}

}  // namespace

const char* EngineName() {
  static char name[96];
  static std::once_flag once;
#ifdef SHMARRAY_LIBDEFLATE
  std::call_once(once, [] { snprintf(name, sizeof name, "libdeflate %s (deflate), zlib %s of Node (inflate)", LIBDEFLATE_VERSION_STRING, zlibVersion()); });
#else
  std::call_once(once, [] { snprintf(name, sizeof name, "zlib %s of Node (deflate, inflate)", zlibVersion()); });
#endif
  return name;
}


EntryResult InflateEntry(int archive_fd, uint64_t data_start, uint64_t comp_size, int method, int out_fd, uint64_t size) {
  struct stat st;
  if (fstat(archive_fd, &st) != 0) return Errno("fstat", errno);
  if (data_start + comp_size > static_cast<uint64_t>(st.st_size)) {
    EntryResult r;
    r.status = kChanged;  // the directory was checked against the file: it shrank since
    return r;
  }
  // Sized first: a full filesystem is ENOSPC here, before any work (tmpfs reserves the pages).
  if (ftruncate(out_fd, static_cast<off_t>(size)) != 0) return Errno("ftruncate", errno);
  if (size > 0) {
    int err = posix_fallocate(out_fd, 0, static_cast<off_t>(size));
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) return Errno("fallocate", err);
  }

  // The archive is mapped read-only (the inflater reads it in place); a truncation under it is
  // the SIGBUS the guard catches.
  size_t page = PageSize();
  uint64_t in_base = data_start & ~static_cast<uint64_t>(page - 1);
  size_t in_map = static_cast<size_t>(data_start - in_base + comp_size);
  void* in_addr = nullptr;
  if (comp_size > 0) {
    in_addr = mmap(nullptr, in_map, PROT_READ, MAP_SHARED, archive_fd, static_cast<off_t>(in_base));
    if (in_addr == MAP_FAILED) return Errno("mmap", errno);
    madvise(in_addr, in_map, MADV_SEQUENTIAL);
  }

  Inflate a;
  memset(&a, 0, sizeof a);
  a.in = in_addr == nullptr ? nullptr : static_cast<const uint8_t*>(in_addr) + (data_start - in_base);
  a.in_len = comp_size;
  a.out_fd = out_fd;
  a.out_len = size;
  a.method = method;
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  a.stream = &stream;
  bool ready = method == 0 || inflateInit2(&stream, -15) == Z_OK;
  a.chunk = method == 0 ? nullptr : static_cast<uint8_t*>(malloc(kChunk));
  EntryResult r;
  if (!ready || (method != 0 && a.chunk == nullptr)) {
    r = Errno("inflate", ENOMEM);
  } else if (!guard::RunGuarded(InflateBody, &a)) {
    r.status = kChanged;
  } else {
    r.status = a.status;
    r.err = a.err;
    r.syscall = a.status == kErrno ? "write" : "";
    r.bytes = a.produced;
    r.crc = a.crc;
    r.head_len = a.head_len;
    memcpy(r.head, a.head, sizeof r.head);
  }
  free(a.chunk);
  if (method != 0 && ready) inflateEnd(&stream);
  if (in_addr != nullptr) munmap(in_addr, in_map);
  return r;
}

#ifdef SHMARRAY_LIBDEFLATE
struct Deflater {
  libdeflate_compressor* c;
};

Deflater* NewDeflater(int level) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(level);
  return c == nullptr ? nullptr : new Deflater{c};
}

void FreeDeflater(Deflater* d) {
  if (d == nullptr) return;
  libdeflate_free_compressor(d->c);
  delete d;
}

size_t GzipBound(Deflater* d, size_t n) {
  return libdeflate_gzip_compress_bound(d->c, n);
}

size_t GzipMember(Deflater* d, const uint8_t* in, size_t n, uint8_t* out, size_t cap) {
  return libdeflate_gzip_compress(d->c, in, n, out, cap);
}
#else
struct Deflater {
  z_stream s;
};

Deflater* NewDeflater(int level) {
  Deflater* d = new Deflater();
  // windowBits 15 + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&d->s, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    delete d;
    return nullptr;
  }
  return d;
}

void FreeDeflater(Deflater* d) {
  if (d == nullptr) return;
  deflateEnd(&d->s);
  delete d;
}

size_t GzipBound(Deflater* d, size_t n) {
  return static_cast<size_t>(deflateBound(&d->s, static_cast<uLong>(n)));
}

size_t GzipMember(Deflater* d, const uint8_t* in, size_t n, uint8_t* out, size_t cap) {
  if (n > UINT32_MAX || cap > UINT32_MAX) return 0;  // chunks are at most 512 MiB
  deflateReset(&d->s);
  d->s.next_in = const_cast<Bytef*>(in);
  d->s.avail_in = static_cast<uInt>(n);
  d->s.next_out = out;
  d->s.avail_out = static_cast<uInt>(cap);
  if (deflate(&d->s, Z_FINISH) != Z_STREAM_END) return 0;
  return static_cast<size_t>(d->s.total_out);
}
#endif

}  // namespace codec
}  // namespace shmarray
