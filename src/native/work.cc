// See work.h.
#include "work.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

namespace shmarray {

Job::~Job() {
  Join();
}

void Job::Start(int threads, std::function<void()> done) {
  done_ = std::move(done);
  running_.store(threads);
  for (int i = 0; i < threads; i++) {
    threads_.emplace_back([this] {
      Body();
      if (running_.fetch_sub(1) == 1) done_();
    });
  }
}

void Job::Cancel() {
  cancelled_.store(true);
}

void Job::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void InflateJob::Body() {
  for (;;) {
    size_t i = next_.fetch_add(1);
    if (i >= tasks.size() || cancelled()) return;
    InflateTask& t = tasks[i];
    t.result = codec::InflateEntry(t.archive_fd, t.data_start, t.comp_size, t.method, t.out_fd, t.size);
    t.ran = true;
  }
}

void GzipJob::Cancel() {
  Job::Cancel();
  std::lock_guard<std::mutex> lock(mutex_);
  stop_ = true;
  turn_changed_.notify_all();
}

void GzipJob::Fail(int why, int errnum, const char* call, uint64_t at) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (status == codec::kOk) {
    status = why;
    err = errnum;
    syscall = call;
    failed_at = at;
  }
  cancelled_.store(true);  // the other threads stop taking chunks
  stop_ = true;
  turn_changed_.notify_all();
}

void GzipJob::Body() {
  std::unique_ptr<codec::Deflater, void (*)(codec::Deflater*)> deflater(codec::NewDeflater(level), codec::FreeDeflater);
  if (!deflater) return Fail(codec::kErrno, ENOMEM, "deflateInit", offset);
  size_t in_cap = static_cast<size_t>(std::min(chunk, std::max<uint64_t>(length, 1)));
  size_t out_cap = codec::GzipBound(deflater.get(), in_cap);
  std::unique_ptr<uint8_t[]> in(new uint8_t[in_cap]);
  std::unique_ptr<uint8_t[]> out(new uint8_t[out_cap]);
  for (;;) {
    uint64_t i = next_.fetch_add(1);
    if (i >= chunks || cancelled()) return;
    uint64_t at = offset + i * chunk;
    size_t n = static_cast<size_t>(std::min(chunk, length - std::min(length, i * chunk)));
    // Read, not mapped: the input may be anyone's file, and one that shrinks under a mapping
    // is SIGBUS; under a read it is a short read, reported as such.
    for (size_t done = 0; done < n;) {
      ssize_t r = pread(in_fd, in.get() + done, n - done, static_cast<off_t>(at + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Fail(codec::kErrno, errno, "read", at + done);
      if (r == 0) return Fail(codec::kChanged, 0, "read", at + done);
      done += static_cast<size_t>(r);
    }
    size_t len = codec::GzipMember(deflater.get(), in.get(), n, out.get(), out_cap);
    if (len == 0) return Fail(codec::kErrno, ENOBUFS, "deflate", at);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      turn_changed_.wait(lock, [&] { return turn_ == i || stop_; });
      if (stop_) return;
    }
    // Only the thread whose turn it is writes, so the output stays in input order.
    for (size_t done = 0; done < len;) {
      ssize_t w = write(out_fd, out.get() + done, len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Fail(codec::kErrno, errno, "write", at);
      done += static_cast<size_t>(w);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    bytes_out += len;
    members++;
    turn_++;
    turn_changed_.notify_all();
  }
}

}  // namespace shmarray
