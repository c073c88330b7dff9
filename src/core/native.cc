// shmarray's addon: a file mapping as an ArrayBuffer that V8 does not count as external memory,
// unmapped the moment close() is called. Only src/native.ts loads it; that file validates every
// argument first, and this file validates them again, because a wrong size here is a wild pointer.
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

#include <cmath>
#include <cstdint>
#include <unordered_map>

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

// Per environment (main thread or worker thread): its live mappings and its private detach key.
struct State {
  Isolate* isolate;
  Global<Symbol> detach_key;
  Global<Function> mark_untransferable;
  std::unordered_map<void*, Mapping*> live;
};

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

// The environment is going away (a worker thread exiting, or the main thread at teardown).
void OnTeardown(void* arg) {
  State* state = static_cast<State*>(arg);
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

// setup(markAsUntransferable): called once per environment by src/native.ts.
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

// advise(buffer, advice): madvise over the whole mapping.
void Advise(const FunctionCallbackInfo<Value>& args) {
  Mapping* m = FindOrThrow(args);
  if (m == nullptr) return;
  int advice = args[1]->IsInt32() ? args[1].As<v8::Int32>()->Value() : -1;
  // Only hints: MADV_REMOVE, MADV_FREE and the like would destroy data and are never passed.
  if (advice != MADV_NORMAL && advice != MADV_RANDOM && advice != MADV_SEQUENTIAL && advice != MADV_WILLNEED && advice != MADV_DONTNEED) {
    return ThrowType(args.GetIsolate(), "advice must be one of the MADV constants");
  }
  if (madvise(m->addr, m->length, advice) != 0) ThrowErrno(args.GetIsolate(), "madvise", errno);
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

// tryLock(fd) -> true if this call took an exclusive flock on fd, false if another open file
// holds one. A store's owner keeps its lock for life; the kernel drops it when the owner dies,
// whatever pid namespace it ran in — a liveness proof that kill(pid, 0) cannot give.
void TryLock(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsInt32() || args[0].As<v8::Int32>()->Value() < 0) return ThrowType(isolate, "fd must be a non-negative int32");
  if (flock(args[0].As<v8::Int32>()->Value(), LOCK_EX | LOCK_NB) == 0) return args.GetReturnValue().Set(true);
  if (errno == EWOULDBLOCK) return args.GetReturnValue().Set(false);
  ThrowErrno(isolate, "flock", errno);
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

}  // namespace shmarray

// Context-aware: every worker thread loads its own instance.
NODE_MODULE_INIT(/* exports, module, context */) {
  using namespace shmarray;
  Isolate* isolate = Isolate::GetCurrent();  // Context::GetIsolate() is gone in V8 14
  SetFunction(isolate, context, exports, "setup", Setup);
  SetFunction(isolate, context, exports, "map", Map);
  SetFunction(isolate, context, exports, "close", Close);
  SetFunction(isolate, context, exports, "sync", Sync);
  SetFunction(isolate, context, exports, "advise", Advise);
  SetFunction(isolate, context, exports, "residency", Residency);
  SetFunction(isolate, context, exports, "liveMappings", LiveMappings);
  SetFunction(isolate, context, exports, "reserve", Reserve);
  SetFunction(isolate, context, exports, "tryLock", TryLock);
  SetNumber(isolate, context, exports, "PAGE_SIZE", static_cast<double>(sysconf(_SC_PAGESIZE)));
  SetNumber(isolate, context, exports, "TYPED_ARRAY_MAX_LENGTH", kTypedArrayMaxLength);
  SetNumber(isolate, context, exports, "TYPED_ARRAY_MAX_BYTES", kTypedArrayMaxBytes);
  SetNumber(isolate, context, exports, "MADV_NORMAL", MADV_NORMAL);
  SetNumber(isolate, context, exports, "MADV_RANDOM", MADV_RANDOM);
  SetNumber(isolate, context, exports, "MADV_SEQUENTIAL", MADV_SEQUENTIAL);
  SetNumber(isolate, context, exports, "MADV_WILLNEED", MADV_WILLNEED);
  SetNumber(isolate, context, exports, "MADV_DONTNEED", MADV_DONTNEED);
}
