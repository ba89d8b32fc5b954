// Turning C++ failures into JS errors: every entry point runs its body through guard(), so an MLX
// exception (bad shape, out of memory, unreadable file) becomes a catchable JS Error carrying a
// `code` the TypeScript side switches on, instead of terminating the process.
#pragma once

#include <napi.h>

#include <exception>
#include <new>
#include <stdexcept>
#include <string>

namespace medtune {

// Thrown by our own code for bad arguments; becomes a TypeError in JS.
struct ArgumentError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Classifies an exception message into the codes the TypeScript side reads (src/native/binding.ts,
// src/train/memory.ts).
inline const char* errorCode(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) return "MEDTUNE_OUT_OF_MEMORY";
  const std::string msg = e.what();
  if (msg.find("out of memory") != std::string::npos ||
      msg.find("Unable to allocate") != std::string::npos ||
      msg.find("memory limit") != std::string::npos) {
    return "MEDTUNE_OUT_OF_MEMORY";
  }
  return "MEDTUNE_NATIVE_ERROR";
}

inline Napi::Error toJsError(Napi::Env env, const std::exception& e) {
  Napi::Error err = dynamic_cast<const ArgumentError*>(&e) ? Napi::TypeError::New(env, e.what())
                                                           : Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, errorCode(e)));
  return err;
}

template <typename F>
auto guard(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw toJsError(env, e);
  }
}

}  // namespace medtune
