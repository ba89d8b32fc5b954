#include "runtime.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "decode_cpu.h"
#include "errors.h"
#include "mlx/mlx.h"
#include "packed_matmul.h"

namespace mx = mlx::core;

namespace medtune {

const char* blasName();  // blas_shim.cc

// The backend the linked libmlx was built for: the wheel decides, not the machine.
static const char* backendName() {
  if (mx::is_available(mx::Device::gpu)) {
#if defined(__APPLE__)
    return "metal";
#else
    return "cuda";
#endif
  }
  return "cpu";
}

static Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), mx::version());
}

static Napi::Value Backend(const Napi::CallbackInfo& info) {
  return guard(info.Env(),
               [&]() -> Napi::Value { return Napi::String::New(info.Env(), backendName()); });
}

// Which BLAS serves MLX's CPU GEMMs: OpenBLAS through blas_shim.cc, or the wheel's own.
static Napi::Value Blas(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), blasName());
}

static Napi::Value DecodeInt8Kernels(const Napi::CallbackInfo& info) {
  const DecodeInt8 d = decodeInt8();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("kernel", d.kernel);
  out.Set("byDefault", d.byDefault);
  return out;
}

static Napi::Value DecodeKvCache(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const int headDim =
        info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 64;
    return Napi::String::New(info.Env(), decodeKvCache(headDim));
  });
}

static Napi::Value PackedBf16Kernels(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const PackedBf16 b = packedBf16();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("kernel", b.kernel);
    out.Set("byDefault", b.byDefault);
    return out;
  });
}

static Napi::Value DefaultDevice(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const mx::Device& d = mx::default_device();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("type", d.type == mx::Device::gpu ? "gpu" : "cpu");
    out.Set("index", d.index);
    return out;
  });
}

static Napi::Value Memory(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("activeBytes", static_cast<double>(mx::get_active_memory()));
    out.Set("peakBytes", static_cast<double>(mx::get_peak_memory()));
    out.Set("cacheBytes", static_cast<double>(mx::get_cache_memory()));
    return out;
  });
}

// setCompile(enabled): MLX's compile on or off for the whole process (tests compare compiled and
// eager results).
static void SetCompile(const Napi::CallbackInfo& info) {
  if (info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value()) {
    mx::enable_compile();
  } else {
    mx::disable_compile();
  }
}

static void ResetPeakMemory(const Napi::CallbackInfo& info) { mx::reset_peak_memory(); }

// MLX's CPU buffers come from malloc. glibc hands large freed blocks back to the OS (munmap above
// its mmap threshold, which it raises to at most 32 MiB; the heap's free top above its trim
// threshold), so every training step's activations came back as fresh pages: half a training
// step's page faults (2.25 M against 1.0 M over three 4 x 512 steps of SmolLM2), each a kernel
// entry and a page cleared. Blocks up to 256 MiB stay in the heap and up to 1 GiB of freed top
// stays mapped, as MLX's own buffer cache keeps freed buffers on Metal; clearCache() returns it.
static void retainFreedBlocks() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

static void ClearCache(const Napi::CallbackInfo& info) {
  mx::clear_cache();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// setMemoryLimit(bytes): returns the previous limit.
static Napi::Value SetMemoryLimit(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber())
      throw ArgumentError("setMemoryLimit(bytes: number)");
    double bytes = info[0].As<Napi::Number>().DoubleValue();
    if (bytes < 0) throw ArgumentError("setMemoryLimit: bytes must be >= 0");
    return Napi::Number::New(info.Env(),
                             static_cast<double>(mx::set_memory_limit(static_cast<size_t>(bytes))));
  });
}

void InitRuntime(Napi::Env env, Napi::Object exports) {
  retainFreedBlocks();
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("backend", Napi::Function::New(env, Backend, "backend"));
  exports.Set("blas", Napi::Function::New(env, Blas, "blas"));
  exports.Set("decodeInt8", Napi::Function::New(env, DecodeInt8Kernels, "decodeInt8"));
  exports.Set("decodeKvCache", Napi::Function::New(env, DecodeKvCache, "decodeKvCache"));
  exports.Set("packedBf16", Napi::Function::New(env, PackedBf16Kernels, "packedBf16"));
  exports.Set("defaultDevice", Napi::Function::New(env, DefaultDevice, "defaultDevice"));
  exports.Set("memory", Napi::Function::New(env, Memory, "memory"));
  exports.Set("setCompile", Napi::Function::New(env, SetCompile, "setCompile"));
  exports.Set("resetPeakMemory", Napi::Function::New(env, ResetPeakMemory, "resetPeakMemory"));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache, "clearCache"));
  exports.Set("setMemoryLimit", Napi::Function::New(env, SetMemoryLimit, "setMemoryLimit"));
}

}  // namespace medtune
