// A small fixed pool of worker threads for medtune's CPU kernels that run inside one MLX
// primitive (attention_cpu.cc): parallelFor(n, fn) hands out task indices [0, n) dynamically, so
// tasks of uneven cost (causal attention rows) balance across the threads. The calling thread
// works too. Workers poll only briefly after a region, then sleep on a condition variable: the
// regions of a training step lie milliseconds apart, between MLX ops whose BLAS threads need the
// cores, so a worker that kept polling would only take time from them. One region at a time:
// callers serialise through parallelFor's lock.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

namespace medtune {

class ThreadPool {
 public:
  explicit ThreadPool(int threads) : size_(std::max(1, threads)) {
    for (int t = 1; t < size_; ++t) std::thread([this, t] { work(t); }).detach();
  }
  int size() const { return size_; }

  // Whether this thread is running a task of some pool's region: code that may be called from
  // inside a task (a BLAS call, say) must not open a region of its own there; it would wait on the
  // region lock its own task holds.
  static bool inTask() { return taskDepth() > 0; }

  // fn(task, thread) for every task in [0, tasks), each exactly once; thread in [0, size()).
  // Returns once every task is done. A worker that wakes after the caller has claimed every task
  // stays out of the region, so a busy machine's late wake-ups never stall the caller.
  void parallelFor(int tasks, const std::function<void(int, int)>& fn) {
    std::lock_guard<std::mutex> region(regionMu_);
    if (size_ == 1 || tasks <= 1) {
      const TaskScope scope;
      for (int i = 0; i < tasks; ++i) fn(i, 0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      next_.store(0, std::memory_order_relaxed);
      tasks_ = tasks;
      fn_ = &fn;
      open_ = true;
      ++gen_;
    }
    cv_.notify_all();
    drain(0);
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = false;
    }
    while (active_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
  }

 private:
  void drain(int thread) {
    const TaskScope scope;
    for (int i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) (*fn_)(i, thread);
  }
  // Joins the region of generation `gen` if it is still open.
  bool join(uint64_t gen) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_ || gen_ != gen) return false;
    active_.fetch_add(1, std::memory_order_acq_rel);
    return true;
  }
  void work(int thread) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = seen;
      for (int spins = 0; (gen = generation()) == seen; ++spins) {
        if (spins < 64) {
          std::this_thread::yield();
          continue;
        }
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return gen_ != seen; });
      }
      seen = gen;
      if (!join(gen)) continue;
      drain(thread);
      active_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
  uint64_t generation() {
    std::lock_guard<std::mutex> lock(mu_);
    return gen_;
  }

  static int& taskDepth() {
    thread_local int depth = 0;
    return depth;
  }
  struct TaskScope {
    TaskScope() { ++taskDepth(); }
    ~TaskScope() { --taskDepth(); }
  };

  const int size_;
  std::mutex regionMu_;
  std::mutex mu_;  // guards gen_, open_ and the region's fn_ and tasks_
  const std::function<void(int, int)>* fn_ = nullptr;
  int tasks_ = 0;
  uint64_t gen_ = 0;
  bool open_ = false;
  std::atomic<int> next_{0};
  std::atomic<int> active_{0};
  std::condition_variable cv_;
};

// Threads for medtune's own CPU kernels: OMP_NUM_THREADS (the knob BLAS reads too), else the
// hardware's, at most 16.
inline int cpuKernelThreads() {
  const char* s = std::getenv("OMP_NUM_THREADS");
  const int n = s ? std::atoi(s) : 0;
  if (n > 0) return std::min(n, 64);
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 16);
}

// The pool that medtune's CPU kernels inside MLX primitives share (attention_cpu.cc,
// fused_cpu.cc): MLX evaluates one primitive at a time on its CPU stream, so one pool serves all.
inline ThreadPool& cpuKernelPool() {
  static ThreadPool* pool = new ThreadPool(cpuKernelThreads());
  return *pool;
}

}  // namespace medtune
