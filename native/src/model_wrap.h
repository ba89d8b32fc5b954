// NativeModel: the JS handle on a loaded Model (src/native/binding.ts declares it). Sync methods
// run on the JS thread and refuse while a train/generate job holds the model; jobs run on their
// own thread through runJob (job.h).
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>

#include "job.h"
#include "model.h"

namespace medtune {

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, Model m);
  explicit NativeModel(const Napi::CallbackInfo& info);

 private:
  Model& model();
  void ensureIdle();

  Napi::Value Config(const Napi::CallbackInfo& info);
  Napi::Value Quantize(const Napi::CallbackInfo& info);
  Napi::Value AddAdapters(const Napi::CallbackInfo& info);
  Napi::Value RemoveAdapters(const Napi::CallbackInfo& info);
  Napi::Value SetAdaptersEnabled(const Napi::CallbackInfo& info);
  Napi::Value AdaptersEnabled(const Napi::CallbackInfo& info);
  Napi::Value AdapterNames(const Napi::CallbackInfo& info);
  Napi::Value GetAdapterWeights(const Napi::CallbackInfo& info);
  Napi::Value SetAdapterWeights(const Napi::CallbackInfo& info);
  Napi::Value SaveAdapters(const Napi::CallbackInfo& info);
  Napi::Value LoadAdapters(const Napi::CallbackInfo& info);
  Napi::Value SaveBaseWeights(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value LossAndGrad(const Napi::CallbackInfo& info);
  Napi::Value Score(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value GenerateBatch(const Napi::CallbackInfo& info);
  Napi::Value ScoreOptions(const Napi::CallbackInfo& info);
  Napi::Value ProfileTraining(const Napi::CallbackInfo& info);
  Napi::Value ProfileDecode(const Napi::CallbackInfo& info);
  // Marks the model busy and runs `body` on a job thread (see job.h).
  Napi::Value startJob(
      const Napi::CallbackInfo& info, const Napi::Value& onEvent,
      std::function<Event(const Model&, const Emit&, const std::atomic<bool>&)> body);
  Napi::Value Train(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value LoadNotes(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<Model> model_;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);
  static Napi::FunctionReference* constructor_;
};

// Factories: loadGguf(path, opts), loadHf(config, files, opts), createRandomModel(config, seed,
// opts)
Napi::Value LoadGgufModel(const Napi::CallbackInfo& info);
Napi::Value LoadHfModel(const Napi::CallbackInfo& info);
Napi::Value CreateRandomModel(const Napi::CallbackInfo& info);
Napi::Value ValidateSafetensors(const Napi::CallbackInfo& info);

}  // namespace medtune
