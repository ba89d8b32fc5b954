// Runtime facts and controls: MLX version, backend and device, memory counters and limits.
#pragma once

#include <napi.h>

namespace medtune {

void InitRuntime(Napi::Env env, Napi::Object exports);

}  // namespace medtune
