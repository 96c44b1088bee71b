// Every blocking call is an Op, written once and exported twice: `name` runs it on the libuv
// thread pool and returns a Promise; `nameSync` runs it on the calling thread.
//
// An Op is a movable struct with:
//   static constexpr const char* kName;        export name (and "overlayfs:<name>" resource)
//   bool Parse(const Napi::CallbackInfo&);     JS thread; false leaves an exception pending
//   void Run();                                any thread; no Node-API; fills `err` on failure
//   Napi::Value Result(Napi::Env);             JS thread, only after a successful Run()
//   SysError err;
// errno is captured into `err` by Run() right after each syscall, so nothing in between can
// clobber it (AsyncWorker::SetError takes only a string and would lose it).
#pragma once

#include <napi.h>

#include <string>
#include <utility>

#include "errors.h"

namespace ovl {

template <class Op>
Napi::Value RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Op op;
  if (!op.Parse(info)) return env.Undefined();
  op.Run();
  if (op.err) {
    ThrowSysError(env, op.err);
    return env.Undefined();
  }
  return op.Result(env);
}

template <class Op>
class OpWorker final : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, Op&& op)
      : Napi::AsyncWorker(env, (std::string("overlayfs:") + Op::kName).c_str()),
        deferred_(Napi::Promise::Deferred::New(env)),
        op_(std::move(op)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { op_.Run(); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (op_.err) {
      deferred_.Reject(MakeError(env, op_.err));
      return;
    }
    Napi::Value result = op_.Result(env);
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
    } else {
      deferred_.Resolve(result);
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Op op_;
};

template <class Op>
Napi::Value RunAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Op op;
  // An Op that can tell: what Parse keeps must outlive this call (references, leases).
  if constexpr (requires { op.async; }) op.async = true;
  if (!op.Parse(info)) return env.Undefined();
  auto* worker = new OpWorker<Op>(env, std::move(op));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

template <class Op>
void ExportOp(Napi::Env env, Napi::Object exports) {
  exports.Set(Op::kName, Napi::Function::New(env, RunAsync<Op>, Op::kName));
  std::string sync = std::string(Op::kName) + "Sync";
  exports.Set(sync, Napi::Function::New(env, RunSync<Op>, sync));
}

}  // namespace ovl
