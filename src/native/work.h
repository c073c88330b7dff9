// Compression work on threads of the addon's own, away from the JS thread and from libuv's
// threadpool (which file I/O needs): a job runs its body on N threads and calls `done` from the
// last thread to finish. No V8 here; src/native/addon.cc turns `done` into a resolved Promise.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "codec.h"

namespace shmarray {

class Job {
 public:
  virtual ~Job();
  // Starts `threads` threads running Body(); `done` runs on the last one to finish.
  void Start(int threads, std::function<void()> done);
  // Asks the threads to stop after their current piece of work.
  virtual void Cancel();
  // Waits for every thread (after `done`, or at teardown after Cancel()).
  void Join();
  bool cancelled() const { return cancelled_.load(); }

 protected:
  virtual void Body() = 0;
  std::atomic<bool> cancelled_{false};

 private:
  std::vector<std::thread> threads_;
  std::atomic<int> running_{0};
  std::function<void()> done_;
};

// One zip entry to inflate (see codec::InflateEntry) and, once run, how it went.
struct InflateTask {
  int archive_fd;
  uint64_t data_start;
  uint64_t comp_size;
  int method;
  int out_fd;
  uint64_t size;
  codec::EntryResult result;
  bool ran = false;
};

// Entries inflated by whichever thread is free, in no particular order.
class InflateJob : public Job {
 public:
  explicit InflateJob(std::vector<InflateTask> tasks) : tasks(std::move(tasks)) {}
  std::vector<InflateTask> tasks;

 protected:
  void Body() override;

 private:
  std::atomic<size_t> next_{0};
};

// pigz's pipeline: each thread reads (pread) a chunk of the input into a buffer it keeps,
// compresses it into another it keeps (one gzip member), waits for its turn and appends it to
// the output. At most one chunk per thread is in memory; the output is in input order.
class GzipJob : public Job {
 public:
  GzipJob(int in_fd, uint64_t offset, uint64_t length, int out_fd, int level, uint64_t chunk)
      : in_fd(in_fd), offset(offset), length(length), out_fd(out_fd), level(level), chunk(chunk),
        chunks(length == 0 ? 1 : (length + chunk - 1) / chunk) {}
  void Cancel() override;

  const int in_fd;
  const uint64_t offset, length;
  const int out_fd;
  const int level;
  const uint64_t chunk, chunks;
  // results, read after Join()
  uint64_t bytes_out = 0;
  uint64_t members = 0;
  int status = codec::kOk;
  int err = 0;
  const char* syscall = "";
  uint64_t failed_at = 0;  // input offset of the chunk that failed

 protected:
  void Body() override;

 private:
  void Fail(int status, int err, const char* syscall, uint64_t at);
  std::atomic<uint64_t> next_{0};
  std::mutex mutex_;
  std::condition_variable turn_changed_;
  uint64_t turn_ = 0;
  bool stop_ = false;
};

}  // namespace shmarray
