// See codec.h. Two engines behind one interface, chosen when the addon is built (binding.gyp):
// libdeflate (whole-buffer, ~1.7x zlib's inflate and ~1.6x its deflate at level 6 on float data)
// when its static library is found, else the zlib that Node itself exports, which is always there.
#include "codec.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#ifdef SHMARRAY_LIBDEFLATE
#include <libdeflate.h>
#else
#include <zlib.h>
#endif

namespace shmarray {
namespace codec {

namespace {

// ---- The SIGBUS guard ----------------------------------------------------------------------
// A page of a mapped file that was truncated away raises SIGBUS on access. SIGBUS from a memory
// access is delivered to the thread that made it, so a thread-local jump buffer says whether the
// fault is ours (inside RunGuarded) and where to go back to; any other SIGBUS goes to whoever
// handled it before (by default: the process dies, as it would have without shmarray).

thread_local sigjmp_buf* guard = nullptr;
struct sigaction previous;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  sigjmp_buf* jump = guard;
  if (jump != nullptr) siglongjmp(*jump, 1);
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    // Put the default back and return: the access faults again and the process dies of SIGBUS.
    signal(SIGBUS, SIG_DFL);
    return;
  }
  previous.sa_handler(sig);
}

void InstallGuard() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous);
  });
}

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// zlib counts in 32-bit units: feed it at most 1 GiB at a time.
constexpr uint64_t kSlice = uint64_t{1} << 30;

struct Inflate {
  const uint8_t* in;
  uint64_t in_len;
  uint8_t* out;
  uint64_t out_len;
  int method;
#ifdef SHMARRAY_LIBDEFLATE
  libdeflate_decompressor* decompressor;
#else
  z_stream* stream;
#endif
  // results
  int status;
  uint64_t produced;
  uint32_t crc;
  uint8_t head[8];
  int head_len;
};

uint32_t Crc32(const uint8_t* data, uint64_t n) {
#ifdef SHMARRAY_LIBDEFLATE
  return libdeflate_crc32(0, data, n);
#else
  uLong crc = crc32_z(0, Z_NULL, 0);
  for (uint64_t at = 0; at < n; at += kSlice) crc = crc32_z(crc, data + at, std::min(kSlice, n - at));
  return static_cast<uint32_t>(crc);
#endif
}

// Stored entries: a copy, bounded by the declared size.
void Copy(Inflate* a) {
  uint64_t n = std::min(a->in_len, a->out_len);
  memcpy(a->out, a->in, n);
  a->produced = n;
  a->status = a->in_len > a->out_len ? kSizeExceeded : a->in_len < a->out_len ? kSizeMismatch : kOk;
}

#ifdef SHMARRAY_LIBDEFLATE
void Decompress(Inflate* a) {
  size_t used = 0, made = 0;
  libdeflate_result r = libdeflate_deflate_decompress_ex(a->decompressor, a->in, a->in_len, a->out, a->out_len, &used, &made);
  if (r == LIBDEFLATE_SUCCESS) {
    a->produced = made;
    a->status = made == a->out_len ? kOk : kSizeMismatch;
  } else if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
    a->produced = a->out_len;
    a->status = kSizeExceeded;
  } else {
    a->status = kCorrupt;
  }
}
#else
void Decompress(Inflate* a) {
  z_stream* s = a->stream;
  uint64_t in_left = a->in_len, out_left = a->out_len;
  const uint8_t* in = a->in;
  uint8_t* out = a->out;
  uint8_t probe;
  bool probing = false;  // the declared size is full: any further byte means the entry is larger
  s->avail_in = 0;
  s->avail_out = 0;
  for (;;) {
    if (s->avail_in == 0 && in_left > 0) {
      uint64_t n = std::min(kSlice, in_left);
      s->next_in = const_cast<Bytef*>(in);
      s->avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
    if (s->avail_out == 0 && !probing) {
      if (out_left > 0) {
        uint64_t n = std::min(kSlice, out_left);
        s->next_out = out;
        s->avail_out = static_cast<uInt>(n);
        out += n;
        out_left -= n;
      } else {
        probing = true;
        s->next_out = &probe;
        s->avail_out = 1;
      }
    }
    int r = inflate(s, Z_NO_FLUSH);
    if (probing && s->avail_out == 0) {
      a->produced = a->out_len;
      a->status = kSizeExceeded;
      return;
    }
    if (r == Z_STREAM_END) break;
    if (r == Z_OK) continue;
    // Z_BUF_ERROR: no progress possible — the input ended before the stream did. Anything else is bad data.
    a->status = kCorrupt;
    return;
  }
  a->produced = a->out_len - out_left - (probing ? 0 : s->avail_out);
  a->status = a->produced == a->out_len ? kOk : kSizeMismatch;
}
#endif

void InflateBody(void* arg) {
  Inflate* a = static_cast<Inflate*>(arg);
  if (a->method == 0) Copy(a);
  else Decompress(a);
  if (a->status == kOk) a->crc = Crc32(a->out, a->produced);
  a->head_len = static_cast<int>(std::min<uint64_t>(a->produced, sizeof a->head));
  memcpy(a->head, a->out, a->head_len);
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
#ifdef SHMARRAY_LIBDEFLATE
  return "libdeflate " LIBDEFLATE_VERSION_STRING;
#else
  static char name[64];
  static std::once_flag once;
  std::call_once(once, [] { snprintf(name, sizeof name, "zlib %s (Node's)", zlibVersion()); });
  return name;
#endif
}

bool RunGuarded(void (*fn)(void*), void* arg) {
  InstallGuard();
  sigjmp_buf jump;
  // savemask = 1: the jump back also restores the signal mask, so SIGBUS is not left blocked.
  if (sigsetjmp(jump, 1) != 0) {
    guard = nullptr;
    return false;
  }
  guard = &jump;
  fn(arg);
  guard = nullptr;
  return true;
}

EntryResult InflateEntry(int archive_fd, uint64_t data_start, uint64_t comp_size, int method, int out_fd, uint64_t size) {
  struct stat st;
  if (fstat(archive_fd, &st) != 0) return Errno("fstat", errno);
  if (data_start + comp_size > static_cast<uint64_t>(st.st_size)) {
    EntryResult r;
    r.status = kChanged;  // the directory was checked against the file: it shrank since
    return r;
  }
  if (ftruncate(out_fd, static_cast<off_t>(size)) != 0) return Errno("ftruncate", errno);
  if (size > 0) {
    int err = posix_fallocate(out_fd, 0, static_cast<off_t>(size));
    if (err != 0 && err != EOPNOTSUPP && err != EINVAL) return Errno("fallocate", err);
  }

  size_t page = PageSize();
  uint64_t in_base = data_start & ~static_cast<uint64_t>(page - 1);
  size_t in_map = static_cast<size_t>(data_start - in_base + comp_size);
  void* in_addr = nullptr;
  if (comp_size > 0) {
    in_addr = mmap(nullptr, in_map, PROT_READ, MAP_SHARED, archive_fd, static_cast<off_t>(in_base));
    if (in_addr == MAP_FAILED) return Errno("mmap", errno);
    madvise(in_addr, in_map, MADV_SEQUENTIAL);
  }
  void* out_addr = nullptr;
  if (size > 0) {
    out_addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, out_fd, 0);
    if (out_addr == MAP_FAILED) {
      int err = errno;
      if (in_addr != nullptr) munmap(in_addr, in_map);
      return Errno("mmap", err);
    }
  }

  Inflate a;
  memset(&a, 0, sizeof a);
  a.in = in_addr == nullptr ? nullptr : static_cast<const uint8_t*>(in_addr) + (data_start - in_base);
  a.in_len = comp_size;
  a.out = static_cast<uint8_t*>(out_addr);
  a.out_len = size;
  a.method = method;
  EntryResult r;
  bool ready = true;
#ifdef SHMARRAY_LIBDEFLATE
  a.decompressor = method == 0 ? nullptr : libdeflate_alloc_decompressor();
  ready = method == 0 || a.decompressor != nullptr;
#else
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  a.stream = &stream;
  ready = method == 0 || inflateInit2(&stream, -15) == Z_OK;
#endif
  if (!ready) {
    r = Errno("inflate", ENOMEM);
  } else if (!RunGuarded(InflateBody, &a)) {
    r.status = kChanged;
  } else {
    r.status = a.status;
    r.bytes = a.produced;
    r.crc = a.crc;
    r.head_len = a.head_len;
    memcpy(r.head, a.head, sizeof r.head);
  }
#ifdef SHMARRAY_LIBDEFLATE
  if (a.decompressor != nullptr) libdeflate_free_decompressor(a.decompressor);
#else
  if (method != 0 && ready) inflateEnd(&stream);
#endif
  if (out_addr != nullptr) munmap(out_addr, size);
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
