// Long native work on its own std::thread, node-llama-cpp style: the worker touches only plain C++
// data, posts Events through a ThreadSafeFunction (converted to JS objects on the JS thread) and
// ends by resolving or rejecting a Promise. No N-API call is ever made off the JS thread.
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "errors.h"

namespace medtune {

// A flat JS object in plain C++: {type, ...numbers, ...strings, ...Int32Arrays, ...Float32Arrays}.
struct Event {
  Event() = default;
  explicit Event(std::string t) : type(std::move(t)) {}
  std::string type;
  std::vector<std::pair<std::string, double>> numbers;
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<std::pair<std::string, std::vector<int32_t>>> ints;
  std::vector<std::pair<std::string, std::vector<float>>> floats;
  // Arrays of flat objects (one entry per sequence of a batched job).
  std::vector<std::pair<std::string, std::vector<Event>>> lists;

  Event& num(const std::string& k, double v) {
    numbers.emplace_back(k, v);
    return *this;
  }
  Event& str(const std::string& k, const std::string& v) {
    strings.emplace_back(k, v);
    return *this;
  }
  Napi::Object toJs(Napi::Env env) const;
};

using Emit = std::function<void(Event)>;

// Runs `body` on a new thread. `onEvent` (may be undefined) receives every emitted Event; the
// returned Promise resolves with the body's result Event or rejects with a coded Error. `done`
// runs on the JS thread just before the promise settles (e.g. to clear a busy flag).
Napi::Promise runJob(Napi::Env env, Napi::Value onEvent, std::function<Event(const Emit&)> body,
                     std::function<void()> done);

}  // namespace medtune
