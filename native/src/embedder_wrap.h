// The sentence-embedding surface (loadBert and its NativeBert handle); see embedder_wrap.cc.
#pragma once

#include <napi.h>

namespace medtune {

void InitEmbedder(Napi::Env env, Napi::Object exports);

}  // namespace medtune
