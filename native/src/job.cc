// See job.h. One TypedThreadSafeFunction per job carries events and the final result in order.
#include "job.h"

#include <cstring>

namespace medtune {

Napi::Object Event::toJs(Napi::Env env) const {
  Napi::Object o = Napi::Object::New(env);
  if (!type.empty()) o.Set("type", type);
  for (const auto& kv : numbers) o.Set(kv.first, Napi::Number::New(env, kv.second));
  for (const auto& kv : strings) o.Set(kv.first, Napi::String::New(env, kv.second));
  for (const auto& kv : ints) {
    auto a = Napi::Int32Array::New(env, kv.second.size());
    if (!kv.second.empty()) std::memcpy(a.Data(), kv.second.data(), kv.second.size() * 4);
    o.Set(kv.first, a);
  }
  for (const auto& kv : floats) {
    auto a = Napi::Float32Array::New(env, kv.second.size());
    if (!kv.second.empty()) std::memcpy(a.Data(), kv.second.data(), kv.second.size() * 4);
    o.Set(kv.first, a);
  }
  for (const auto& kv : lists) {
    auto a = Napi::Array::New(env, kv.second.size());
    for (size_t i = 0; i < kv.second.size(); ++i) a.Set(i, kv.second[i].toJs(env));
    o.Set(kv.first, a);
  }
  return o;
}

namespace {

struct Message {
  enum Kind { kEvent, kResolve, kReject } kind;
  Event event;
  std::string error;
  std::string code;
};

struct JobContext {
  Napi::Promise::Deferred deferred;
  std::thread thread;
  bool hasCallback = false;
  Napi::Reference<Napi::Value> callbackError;  // a throw from onEvent rejects the job
  // Runs on the JS thread just before the promise settles, so a busy flag stays set until then:
  // clearing it on the worker would let a second call through while the first is still pending.
  std::function<void()> done;
  explicit JobContext(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

void callJs(Napi::Env env, Napi::Function cb, JobContext* ctx, Message* msg) {
  std::unique_ptr<Message> m(msg);
  if (env == nullptr || !m) return;
  if (m->kind != Message::kEvent && ctx->done) ctx->done();
  switch (m->kind) {
    case Message::kEvent:
      if (ctx->hasCallback && ctx->callbackError.IsEmpty()) {
        try {
          cb.Call({m->event.toJs(env)});
        } catch (const Napi::Error& e) {
          ctx->callbackError = Napi::Persistent(static_cast<Napi::Value>(e.Value()));
        }
      }
      break;
    case Message::kResolve:
      if (!ctx->callbackError.IsEmpty()) {
        ctx->deferred.Reject(ctx->callbackError.Value());
      } else {
        ctx->deferred.Resolve(m->event.toJs(env));
      }
      break;
    case Message::kReject: {
      Napi::Error err = Napi::Error::New(env, m->error);
      err.Set("code", Napi::String::New(env, m->code));
      ctx->deferred.Reject(err.Value());
      break;
    }
  }
}

using Tsfn = Napi::TypedThreadSafeFunction<JobContext, Message, callJs>;

}  // namespace

Napi::Promise runJob(Napi::Env env, Napi::Value onEvent, std::function<Event(const Emit&)> body,
                     std::function<void()> done) {
  auto* ctx = new JobContext(env);
  ctx->done = std::move(done);
  Napi::Promise promise = ctx->deferred.Promise();
  Napi::Function cb;
  if (onEvent.IsFunction()) {
    cb = onEvent.As<Napi::Function>();
    ctx->hasCallback = true;
  } else {
    cb = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  }
  Tsfn tsfn = Tsfn::New(env, cb, "medtune-job", 0, 1, ctx, [](Napi::Env, void*, JobContext* c) {
    if (c->thread.joinable()) c->thread.join();
    delete c;
  });
  ctx->thread = std::thread([tsfn, body = std::move(body)]() mutable {
    Emit emit = [&tsfn](Event e) {
      tsfn.BlockingCall(new Message{Message::kEvent, std::move(e), "", ""});
    };
    Message* final = nullptr;
    try {
      final = new Message{Message::kResolve, body(emit), "", ""};
    } catch (const std::exception& e) {
      final = new Message{Message::kReject, Event{}, e.what(), errorCode(e)};
    } catch (...) {
      final =
          new Message{Message::kReject, Event{}, "unknown native error", "MEDTUNE_NATIVE_ERROR"};
    }
    tsfn.BlockingCall(final);
    tsfn.Release();
  });
  return promise;
}

}  // namespace medtune
