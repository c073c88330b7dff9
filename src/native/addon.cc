// shmarray's addon, the JS-facing half: file mappings as ArrayBuffers that V8 does not count as
// external memory, unmapped the moment close() is called; flock; the entry points of the
// compression work (inflating zip entries, gzip members) that codec.cc and work.cc do on the
// addon's threads; and the column-sums kernel of stats.cc. Only src/core/native.ts loads it; that file validates every argument first,
// and this file validates them again, because a wrong size here is a wild pointer.
//
// V8 C++ API, not Node-API, on purpose: a backing store made with BackingStore::EmptyDeleter is
// the only non-shared kind V8 leaves out of its external-memory GC trigger, and a private detach
// key is the only way to make a buffer that user code cannot detach or transfer. Node-API offers
// neither. The price is a rebuild per Node ABI, which node-gyp does at install.
#include <node.h>
#include <v8.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <unordered_map>

#include "codec.h"
#include "guard.h"
#include "stats.h"
#include "work.h"

namespace shmarray {

using v8::ArrayBuffer;
using v8::BackingStore;
using v8::Context;
using v8::Exception;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::Global;
using v8::Isolate;
using v8::Local;
using v8::Number;
using v8::Object;
using v8::String;
using v8::Symbol;
using v8::Value;

// 2^53 - 1: every size and offset JS can hand over exactly.
constexpr double kMaxSafe = 9007199254740991.0;

// The largest typed array this V8 can make over a buffer. V8 11 (Node 20) caps the element count;
// V8 12 and later cap the byte length instead.
#if V8_MAJOR_VERSION >= 12
constexpr double kTypedArrayMaxLength = kMaxSafe;
constexpr double kTypedArrayMaxBytes = static_cast<double>(v8::TypedArray::kMaxByteLength);
#else
constexpr double kTypedArrayMaxLength = static_cast<double>(v8::TypedArray::kMaxLength);
constexpr double kTypedArrayMaxBytes = kMaxSafe;
#endif

struct State;

// One live mapping. Owned by State::live until close(), a GC of its buffer, or environment teardown.
struct Mapping {
  State* state;
  void* addr;
  size_t length;
  bool shared;  // MAP_SHARED and writable: msync before unmapping
  Global<ArrayBuffer> buffer;
};

struct Pending;

// Per environment (main thread or worker thread): its live mappings, its private detach key, and
// its running compression jobs.
struct State {
  Isolate* isolate;
  Global<Symbol> detach_key;
  Global<Function> mark_untransferable;
  std::unordered_map<void*, Mapping*> live;
  std::unordered_map<double, Pending*> jobs;
  double next_job = 1;
};

// A job on the addon's threads and the Promise JS awaits: resolved on this environment's loop
// (a uv_async_t the last thread signals) with what `result` builds from the finished job.
struct Pending {
  State* state;
  double id;
  Job* job;
  Global<Context> context;
  Global<v8::Promise::Resolver> resolver;
  std::function<Local<Value>(Isolate*, Local<Context>)> result;
  uv_async_t async;
};

void FreePending(uv_handle_t* handle) {
  Pending* p = static_cast<Pending*>(handle->data);
  delete p->job;
  delete p;
}

// One environment per thread in Node, so a thread-local pointer finds this thread's state.
thread_local State* current = nullptr;

void Throw(Isolate* isolate, const char* message, int err, const char* syscall) {
  Local<Context> context = isolate->GetCurrentContext();
  Local<Value> error = Exception::Error(String::NewFromUtf8(isolate, message).ToLocalChecked());
  Local<Object> obj = error.As<Object>();
  if (err != 0) {
    obj->Set(context, String::NewFromUtf8Literal(isolate, "errno"), Number::New(isolate, err)).Check();
    obj->Set(context, String::NewFromUtf8Literal(isolate, "syscall"), String::NewFromUtf8(isolate, syscall).ToLocalChecked()).Check();
  }
  isolate->ThrowException(error);
}

void ThrowErrno(Isolate* isolate, const char* syscall, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s failed: %s", syscall, strerror(err));
  Throw(isolate, message, err, syscall);
}

void ThrowType(Isolate* isolate, const char* message) {
  isolate->ThrowException(Exception::TypeError(String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

// A whole number in [0, 2^53 - 1]; anything else (NaN, fractions, negatives, strings) is refused.
bool ToSize(Local<Value> value, uint64_t* out) {
  if (!value->IsNumber()) return false;
  double d = value.As<Number>()->Value();
  if (!(d >= 0 && d <= kMaxSafe) || std::floor(d) != d) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

void Unmap(Mapping* m) {
  m->buffer.Reset();
  munmap(m->addr, m->length);
  m->state->live.erase(m->addr);
  delete m;
}

// The buffer became unreachable without close(): nothing in JS can touch it any more.
void OnCollected(const v8::WeakCallbackInfo<Mapping>& info) {
  Unmap(info.GetParameter());
}

// The environment is going away (a worker thread exiting, or the main thread at teardown):
// running jobs are stopped and joined (their Promises never settle: no JS is left to see them),
// then every mapping is unmapped.
void OnTeardown(void* arg) {
  State* state = static_cast<State*>(arg);
  for (auto& entry : state->jobs) {
    Pending* p = entry.second;
    p->job->Cancel();
    p->job->Join();
    p->resolver.Reset();
    p->context.Reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&p->async), FreePending);
  }
  state->jobs.clear();
  while (!state->live.empty()) Unmap(state->live.begin()->second);
  if (current == state) current = nullptr;
  delete state;
}

// The mapping behind `value`, only if it is a live buffer this environment made.
Mapping* Find(Isolate* isolate, Local<Value> value) {
  if (current == nullptr || !value->IsArrayBuffer()) return nullptr;
  Local<ArrayBuffer> ab = value.As<ArrayBuffer>();
  auto it = current->live.find(ab->Data());
  if (it == current->live.end() || it->second->buffer != ab) return nullptr;
  return it->second;
}

Mapping* FindOrThrow(const FunctionCallbackInfo<Value>& args) {
  Mapping* m = Find(args.GetIsolate(), args[0]);
  if (m == nullptr) ThrowType(args.GetIsolate(), "not a live mapping made by shmarray in this thread");
  return m;
}

// setup(markAsUntransferable): called once per environment by src/core/native.ts.
void Setup(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsFunction()) return ThrowType(isolate, "setup needs worker_threads.markAsUntransferable");
  if (current == nullptr || current->isolate != isolate) {
    current = new State();
    current->isolate = isolate;
    current->detach_key.Reset(isolate, Symbol::New(isolate));
    node::AddEnvironmentCleanupHook(isolate, OnTeardown, current);
  }
  current->mark_untransferable.Reset(isolate, args[0].As<Function>());
}

// map(fd, offset, length, shared, advice) -> ArrayBuffer over the file's bytes [offset, offset + length).
// shared: MAP_SHARED read-write. Otherwise MAP_PRIVATE, readable and writable, so a stray write to
// a read-only array lands in a private copy of that page instead of killing the process.
void Map(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (current == nullptr || current->isolate != isolate) return ThrowType(isolate, "setup() was not called in this thread");
  uint64_t offset = 0, length = 0, page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (!args[0]->IsInt32() || args[0].As<v8::Int32>()->Value() < 0) return ThrowType(isolate, "fd must be a non-negative int32");
  if (!ToSize(args[1], &offset) || offset % page != 0) return ThrowType(isolate, "offset must be a page-aligned integer in [0, 2^53)");
  if (!ToSize(args[2], &length) || length == 0 || offset + length > static_cast<uint64_t>(kMaxSafe)) {
    return ThrowType(isolate, "length must be a positive integer and offset + length at most 2^53 - 1");
  }
  if (!args[3]->IsBoolean() || !args[4]->IsInt32()) return ThrowType(isolate, "shared must be a boolean and advice an int32");
  int fd = args[0].As<v8::Int32>()->Value();
  bool shared = args[3].As<v8::Boolean>()->Value();
  int advice = args[4].As<v8::Int32>()->Value();
  if (advice != MADV_NORMAL && advice != MADV_RANDOM && advice != MADV_SEQUENTIAL && advice != MADV_WILLNEED) {
    return ThrowType(isolate, "advice must be one of the MADV constants");
  }

  // The file must hold every mapped byte now: a page past its end would be SIGBUS on first touch.
  struct stat st;
  if (fstat(fd, &st) != 0) return ThrowErrno(isolate, "fstat", errno);
  if (!S_ISREG(st.st_mode)) return Throw(isolate, "only regular files can be mapped", EINVAL, "mmap");
  if (offset + length > static_cast<uint64_t>(st.st_size)) {
    return Throw(isolate, "the file is shorter than offset + length", EOVERFLOW, "mmap");
  }

  int prot = PROT_READ | PROT_WRITE;
  int flags = shared ? MAP_SHARED : (MAP_PRIVATE | MAP_NORESERVE);
  void* addr = mmap(nullptr, static_cast<size_t>(length), prot, flags, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) return ThrowErrno(isolate, "mmap", errno);
  if (advice != MADV_NORMAL) madvise(addr, static_cast<size_t>(length), advice);  // a hint: failure is harmless

  // EmptyDeleter: V8 neither frees this memory nor counts it toward its external-memory GC trigger.
  std::unique_ptr<BackingStore> store =
      ArrayBuffer::NewBackingStore(addr, static_cast<size_t>(length), BackingStore::EmptyDeleter, nullptr);
  Local<ArrayBuffer> ab = ArrayBuffer::New(isolate, std::move(store));

  // Untransferable first: Node 24+ implements it with a detach key of its own, which ours then
  // replaces; the other order makes postMessage(…, [buffer]) abort on Node 20.
  Local<Value> argv[] = {ab};
  Local<Function> mark = current->mark_untransferable.Get(isolate);
  if (mark->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, argv).IsEmpty()) {
    munmap(addr, static_cast<size_t>(length));
    return;  // the exception is pending
  }
  ab->SetDetachKey(current->detach_key.Get(isolate));

  Mapping* m = new Mapping{current, addr, static_cast<size_t>(length), shared, Global<ArrayBuffer>(isolate, ab)};
  m->buffer.SetWeak(m, OnCollected, v8::WeakCallbackType::kParameter);
  current->live.emplace(addr, m);
  args.GetReturnValue().Set(ab);
}

// close(buffer): msync (shared mappings), detach every view (length 0 from now on), munmap.
// A buffer that was already closed is a no-op.
void Close(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (args[0]->IsArrayBuffer() && args[0].As<ArrayBuffer>()->WasDetached()) return;
  Mapping* m = FindOrThrow(args);
  if (m == nullptr) return;
  int sync_error = 0;
  if (m->shared && msync(m->addr, m->length, MS_SYNC) != 0) sync_error = errno;
  Local<ArrayBuffer> ab = m->buffer.Get(isolate);
  if (ab->Detach(current->detach_key.Get(isolate)).IsNothing()) return;  // cannot happen: our key
  Unmap(m);
  if (sync_error != 0) ThrowErrno(isolate, "msync", sync_error);
}

// sync(buffer): blocks until the mapping's dirty pages are in the file.
void Sync(const FunctionCallbackInfo<Value>& args) {
  Mapping* m = FindOrThrow(args);
  if (m == nullptr || !m->shared) return;
  if (msync(m->addr, m->length, MS_SYNC) != 0) ThrowErrno(args.GetIsolate(), "msync", errno);
}

// residency(buffer) -> [resident pages, total pages] (mincore).
void Residency(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Mapping* m = FindOrThrow(args);
  if (m == nullptr) return;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t pages = (m->length + page - 1) / page;
  double resident = 0;
  unsigned char vec[4096];
  for (size_t first = 0; first < pages; first += sizeof vec) {
    size_t n = pages - first < sizeof vec ? pages - first : sizeof vec;
    size_t bytes = first + n == pages ? m->length - first * page : n * page;
    if (mincore(static_cast<char*>(m->addr) + first * page, bytes, vec) != 0) return ThrowErrno(isolate, "mincore", errno);
    for (size_t i = 0; i < n; i++) resident += vec[i] & 1;
  }
  Local<v8::Array> out = v8::Array::New(isolate, 2);
  Local<Context> context = isolate->GetCurrentContext();
  out->Set(context, 0, Number::New(isolate, resident)).Check();
  out->Set(context, 1, Number::New(isolate, static_cast<double>(pages))).Check();
  args.GetReturnValue().Set(out);
}

// reserve(fd, length): allocates the file's blocks now (posix_fallocate), so that a full tmpfs is
// an error here, not a SIGBUS at the first write of a page of a sparse file.
void Reserve(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint64_t length = 0;
  if (!args[0]->IsInt32() || args[0].As<v8::Int32>()->Value() < 0) return ThrowType(isolate, "fd must be a non-negative int32");
  if (!ToSize(args[1], &length) || length == 0) return ThrowType(isolate, "length must be a positive integer below 2^53");
  int err = posix_fallocate(args[0].As<v8::Int32>()->Value(), 0, static_cast<off_t>(length));
  if (err != 0) ThrowErrno(isolate, "posix_fallocate", err);
}

// tryLock(fd, shared) -> true if this call took a flock on fd (exclusive, or shared when `shared`
// is true; on an fd that holds one already, the lock is converted), false if another open file
// holds a conflicting one. A store's owner keeps its exclusive lock for life, a cache entry's
// holders their shared ones; the kernel drops a lock when its holder dies, whatever pid namespace
// it ran in — a liveness proof that kill(pid, 0) cannot give.
void TryLock(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsInt32() || args[0].As<v8::Int32>()->Value() < 0) return ThrowType(isolate, "fd must be a non-negative int32");
  if (!args[1]->IsUndefined() && !args[1]->IsBoolean()) return ThrowType(isolate, "shared must be a boolean");
  const int kind = args[1]->IsTrue() ? LOCK_SH : LOCK_EX;
  if (flock(args[0].As<v8::Int32>()->Value(), kind | LOCK_NB) == 0) return args.GetReturnValue().Set(true);
  if (errno == EWOULDBLOCK) return args.GetReturnValue().Set(false);
  ThrowErrno(isolate, "flock", errno);
}

struct SumsCall {
  const float* data;
  uint64_t rows;
  uint64_t columns;
  double* out;
};

void RunSums(void* arg) {
  SumsCall* c = static_cast<SumsCall*>(arg);
  stats::ColumnSums(c->data, c->rows, c->columns, c->out);
}

// columnSums(view: Float32Array, columns, fromRow, toRow) -> Float64Array of 4 per column (see
// stats::ColumnSums) over rows [fromRow, toRow) of the view, taken as rows of `columns`. Runs on
// this thread, under the SIGBUS guard: a mapped file truncated under the view is an Error with
// errno EFAULT, not a dead process.
void ColumnSums(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsFloat32Array()) return ThrowType(isolate, "data must be a Float32Array");
  Local<v8::Float32Array> view = args[0].As<v8::Float32Array>();
  uint64_t columns = 0, from = 0, to = 0;
  if (!ToSize(args[1], &columns) || columns == 0 || columns > (uint64_t{1} << 24)) return ThrowType(isolate, "columns must be a whole number from 1 to 2^24");
  if (!ToSize(args[2], &from) || !ToSize(args[3], &to) || from > to) return ThrowType(isolate, "fromRow and toRow must be whole numbers, fromRow <= toRow");
  const uint64_t length = view->Length();  // 0 once the view's buffer is detached (a closed array)
  if (to > length / columns) return ThrowType(isolate, "toRow is past the end of the data");
  Local<ArrayBuffer> result = ArrayBuffer::New(isolate, static_cast<size_t>(4 * columns * sizeof(double)));
  double* out = static_cast<double*>(result->Data());
  const float* base = from == to ? nullptr : reinterpret_cast<const float*>(static_cast<const uint8_t*>(view->Buffer()->Data()) + view->ByteOffset());
  SumsCall call{base == nullptr ? nullptr : base + from * columns, to - from, columns, out};
  if (!guard::RunGuarded(RunSums, &call)) return Throw(isolate, "the mapped file shrank while it was read", EFAULT, "read");
  args.GetReturnValue().Set(v8::Float64Array::New(result, 0, static_cast<size_t>(4 * columns)));
}

// liveMappings() -> how many mappings this environment holds (for leak tests).
void LiveMappings(const FunctionCallbackInfo<Value>& args) {
  double n = current == nullptr ? 0 : static_cast<double>(current->live.size());
  args.GetReturnValue().Set(Number::New(args.GetIsolate(), n));
}

void SetNumber(Isolate* isolate, Local<Context> context, Local<Object> target, const char* name, double value) {
  target->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(), Number::New(isolate, value)).Check();
}

void SetFunction(Isolate* isolate, Local<Context> context, Local<Object> target, const char* name, v8::FunctionCallback fn) {
  Local<Function> f = v8::FunctionTemplate::New(isolate, fn)->GetFunction(context).ToLocalChecked();
  target->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(), f).Check();
}


// ---- Compression jobs -------------------------------------------------------------------------

// The last thread of a job signalled: join, build the result, settle the Promise with a callback
// scope (so the awaiting JS continues now, microtasks included), and free everything.
void OnJobDone(uv_async_t* handle) {
  Pending* p = static_cast<Pending*>(handle->data);
  p->job->Join();
  Isolate* isolate = p->state->isolate;
  {
    v8::HandleScope handles(isolate);
    Local<Context> context = p->context.Get(isolate);
    Context::Scope context_scope(context);
    node::CallbackScope callback_scope(isolate, Object::New(isolate), {0, 0});
    Local<Value> value = p->result(isolate, context);
    p->resolver.Get(isolate)->Resolve(context, value).Check();
  }
  p->state->jobs.erase(p->id);
  p->resolver.Reset();
  p->context.Reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&p->async), FreePending);
}

// Starts `job` on `threads` threads; returns [promise, id] (id for cancelJob).
void StartJob(const FunctionCallbackInfo<Value>& args, Job* job, int threads, std::function<Local<Value>(Isolate*, Local<Context>)> result) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  Local<v8::Promise::Resolver> resolver = v8::Promise::Resolver::New(context).ToLocalChecked();
  Pending* p = new Pending();
  p->state = current;
  p->id = current->next_job++;
  p->job = job;
  p->context.Reset(isolate, context);
  p->resolver.Reset(isolate, resolver);
  p->result = std::move(result);
  p->async.data = p;
  int err = uv_async_init(node::GetCurrentEventLoop(isolate), &p->async, OnJobDone);
  if (err != 0) {
    delete job;
    delete p;
    return Throw(isolate, "uv_async_init failed", -err, "uv_async_init");
  }
  current->jobs.emplace(p->id, p);
  job->Start(threads, [p] { uv_async_send(&p->async); });
  Local<v8::Array> out = v8::Array::New(isolate, 2);
  out->Set(context, 0, resolver->GetPromise()).Check();
  out->Set(context, 1, Number::New(isolate, p->id)).Check();
  args.GetReturnValue().Set(out);
}

bool ToFd(Local<Value> value, int* fd) {
  if (!value->IsInt32() || value.As<v8::Int32>()->Value() < 0) return false;
  *fd = value.As<v8::Int32>()->Value();
  return true;
}

bool ToThreads(Local<Value> value, int* threads) {
  if (!value->IsInt32()) return false;
  int n = value.As<v8::Int32>()->Value();
  if (n < 1 || n > 256) return false;
  *threads = n;
  return true;
}

void SetValue(Isolate* isolate, Local<Context> context, Local<Object> target, const char* name, Local<Value> value) {
  target->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(), value).Check();
}

// inflateEntries(archiveFd, specs, threads) -> [Promise<results>, id]. specs: a Float64Array of
// [dataStart, compressedSize, method, outFd, size] per entry. Each result: { status, errno,
// syscall, bytes, crc, head } (status: see codec::Status; head: the entry's first bytes).
void InflateEntries(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (current == nullptr || current->isolate != isolate) return ThrowType(isolate, "setup() was not called in this thread");
  int archive_fd = -1, threads = 0;
  if (!ToFd(args[0], &archive_fd)) return ThrowType(isolate, "archiveFd must be a non-negative int32");
  if (!args[1]->IsFloat64Array() || args[1].As<v8::Float64Array>()->Length() % 5 != 0) {
    return ThrowType(isolate, "specs must be a Float64Array of [dataStart, compressedSize, method, outFd, size] per entry");
  }
  if (!ToThreads(args[2], &threads)) return ThrowType(isolate, "threads must be an integer in [1, 256]");
  Local<v8::Float64Array> specs = args[1].As<v8::Float64Array>();
  size_t n = specs->Length() / 5;
  std::vector<double> values(specs->Length());
  if (!values.empty()) specs->CopyContents(values.data(), values.size() * sizeof(double));
  std::vector<InflateTask> tasks;
  tasks.reserve(n);
  for (size_t i = 0; i < n; i++) {
    const double* v = &values[i * 5];
    for (int k = 0; k < 5; k++) {
      if (!(v[k] >= 0 && v[k] <= kMaxSafe) || std::floor(v[k]) != v[k]) return ThrowType(isolate, "every spec value must be an integer in [0, 2^53)");
    }
    if (v[2] != 0 && v[2] != 8) return ThrowType(isolate, "method must be 0 (stored) or 8 (deflate)");
    if (v[3] > 2147483647.0) return ThrowType(isolate, "outFd must be an int32");
    if (v[0] + v[1] > kMaxSafe) return ThrowType(isolate, "dataStart + compressedSize must be at most 2^53 - 1");
    InflateTask t;
    t.archive_fd = archive_fd;
    t.data_start = static_cast<uint64_t>(v[0]);
    t.comp_size = static_cast<uint64_t>(v[1]);
    t.method = static_cast<int>(v[2]);
    t.out_fd = static_cast<int>(v[3]);
    t.size = static_cast<uint64_t>(v[4]);
    tasks.push_back(t);
  }
  InflateJob* job = new InflateJob(std::move(tasks));
  StartJob(args, job, threads, [job](Isolate* isolate, Local<Context> context) -> Local<Value> {
    Local<v8::Array> out = v8::Array::New(isolate, static_cast<int>(job->tasks.size()));
    for (size_t i = 0; i < job->tasks.size(); i++) {
      const InflateTask& t = job->tasks[i];
      Local<Object> r = Object::New(isolate);
      SetValue(isolate, context, r, "ran", v8::Boolean::New(isolate, t.ran));
      SetNumber(isolate, context, r, "status", t.result.status);
      SetNumber(isolate, context, r, "errno", t.result.err);
      SetValue(isolate, context, r, "syscall", String::NewFromUtf8(isolate, t.result.syscall).ToLocalChecked());
      SetNumber(isolate, context, r, "bytes", static_cast<double>(t.result.bytes));
      SetNumber(isolate, context, r, "crc", t.result.crc);
      Local<ArrayBuffer> head = ArrayBuffer::New(isolate, t.result.head_len);
      if (t.result.head_len > 0) memcpy(head->Data(), t.result.head, t.result.head_len);
      SetValue(isolate, context, r, "head", v8::Uint8Array::New(head, 0, t.result.head_len));
      out->Set(context, static_cast<uint32_t>(i), r).Check();
    }
    return out;
  });
}

// gzipFile(inFd, offset, length, outFd, level, chunk, threads) -> [Promise<result>, id]: the
// input range compressed as one gzip member per chunk, appended to outFd in order. Result:
// { status, errno, syscall, failedAt, bytesOut, members, cancelled }.
void GzipFile(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (current == nullptr || current->isolate != isolate) return ThrowType(isolate, "setup() was not called in this thread");
  int in_fd = -1, out_fd = -1, threads = 0;
  uint64_t offset = 0, length = 0, chunk = 0;
  if (!ToFd(args[0], &in_fd) || !ToFd(args[3], &out_fd)) return ThrowType(isolate, "inFd and outFd must be non-negative int32s");
  if (!ToSize(args[1], &offset) || !ToSize(args[2], &length) || offset + length > static_cast<uint64_t>(kMaxSafe)) {
    return ThrowType(isolate, "offset and length must be integers, offset + length at most 2^53 - 1");
  }
  if (!args[4]->IsInt32() || args[4].As<v8::Int32>()->Value() < 0 || args[4].As<v8::Int32>()->Value() > 9) return ThrowType(isolate, "level must be an integer in [0, 9]");
  // Up to 512 MiB a chunk: zlib's counters are 32-bit, and a chunk's buffers are held per thread.
  if (!ToSize(args[5], &chunk) || chunk == 0 || chunk > (uint64_t{512} << 20)) return ThrowType(isolate, "chunk must be an integer in [1, 512 MiB]");
  if (!ToThreads(args[6], &threads)) return ThrowType(isolate, "threads must be an integer in [1, 256]");
  GzipJob* job = new GzipJob(in_fd, offset, length, out_fd, args[4].As<v8::Int32>()->Value(), chunk);
  // More threads than chunks would only wait.
  int useful = static_cast<int>(std::min<uint64_t>(static_cast<uint64_t>(threads), job->chunks));
  StartJob(args, job, useful, [job](Isolate* isolate, Local<Context> context) -> Local<Value> {
    Local<Object> r = Object::New(isolate);
    SetNumber(isolate, context, r, "status", job->status);
    SetNumber(isolate, context, r, "errno", job->err);
    SetValue(isolate, context, r, "syscall", String::NewFromUtf8(isolate, job->syscall).ToLocalChecked());
    SetNumber(isolate, context, r, "failedAt", static_cast<double>(job->failed_at));
    SetNumber(isolate, context, r, "bytesOut", static_cast<double>(job->bytes_out));
    SetNumber(isolate, context, r, "members", static_cast<double>(job->members));
    SetValue(isolate, context, r, "cancelled", v8::Boolean::New(isolate, job->cancelled() && job->status == codec::kOk));
    return r;
  });
}

// cancelJob(id): the job's threads stop after their current piece; its Promise still settles.
void CancelJob(const FunctionCallbackInfo<Value>& args) {
  if (current == nullptr || !args[0]->IsNumber()) return;
  auto it = current->jobs.find(args[0].As<Number>()->Value());
  if (it != current->jobs.end()) it->second->job->Cancel();
}

}  // namespace shmarray

// Context-aware: every worker thread loads its own instance.
NODE_MODULE_INIT(/* exports, module, context */) {
  using namespace shmarray;
  Isolate* isolate = Isolate::GetCurrent();  // Context::GetIsolate() is gone in V8 14
  SetFunction(isolate, context, exports, "setup", Setup);
  SetFunction(isolate, context, exports, "map", Map);
  SetFunction(isolate, context, exports, "close", Close);
  SetFunction(isolate, context, exports, "sync", Sync);
  SetFunction(isolate, context, exports, "residency", Residency);
  SetFunction(isolate, context, exports, "liveMappings", LiveMappings);
  SetFunction(isolate, context, exports, "reserve", Reserve);
  SetFunction(isolate, context, exports, "tryLock", TryLock);
  SetFunction(isolate, context, exports, "inflateEntries", InflateEntries);
  SetFunction(isolate, context, exports, "gzipFile", GzipFile);
  SetFunction(isolate, context, exports, "cancelJob", CancelJob);
  SetFunction(isolate, context, exports, "columnSums", ColumnSums);
  exports->Set(context, String::NewFromUtf8Literal(isolate, "ENGINE"), String::NewFromUtf8(isolate, codec::EngineName()).ToLocalChecked()).Check();
  // The names of codec::Status by value: the JS side reads them, never a copy of the enum.
  Local<v8::Array> statuses = v8::Array::New(isolate, codec::kStatusCount);
  for (int i = 0; i < codec::kStatusCount; i++) statuses->Set(context, i, String::NewFromUtf8(isolate, codec::kStatusNames[i]).ToLocalChecked()).Check();
  exports->Set(context, String::NewFromUtf8Literal(isolate, "CODEC_STATUS"), statuses).Check();
  SetNumber(isolate, context, exports, "PAGE_SIZE", static_cast<double>(sysconf(_SC_PAGESIZE)));
  SetNumber(isolate, context, exports, "TYPED_ARRAY_MAX_LENGTH", kTypedArrayMaxLength);
  SetNumber(isolate, context, exports, "TYPED_ARRAY_MAX_BYTES", kTypedArrayMaxBytes);
  SetNumber(isolate, context, exports, "MADV_NORMAL", MADV_NORMAL);
  SetNumber(isolate, context, exports, "MADV_RANDOM", MADV_RANDOM);
  SetNumber(isolate, context, exports, "MADV_SEQUENTIAL", MADV_SEQUENTIAL);
  SetNumber(isolate, context, exports, "MADV_WILLNEED", MADV_WILLNEED);
}
