// grcc_shim.h: just enough CUDA to run grcc's generated kernels.cu on the
// CPU, so that tests can check the kernels' arithmetic without a GPU.
//
// A launch runs the grid's blocks on a few host threads (workers). A worker
// runs one block at a time with one fiber per CUDA thread, all on its own
// OS thread: __syncthreads() switches to the next fiber, and a round ends
// when every fiber has reached the barrier, so barrier semantics are exact
// (a fiber that exits while others wait at a barrier aborts the program:
// that kernel would be wrong on a GPU too). Because a block's fibers share
// an OS thread, __shared__ becomes static thread_local, and blockIdx is
// per worker while threadIdx is per fiber. Fibers start with makecontext
// and switch with _setjmp/_longjmp, which do not touch the signal mask and
// so cost nanoseconds rather than a system call.
//
// Threads run in order of threadIdx between barriers, or in reverse with
// GRCC_SHIM_ORDER=reverse: a kernel whose result depends on the order
// reads shared memory that another thread writes without a barrier between.
// Blocks run concurrently on the workers, which exposes races between
// blocks (such as reading another block's results without a fence).
//
// Compile as C++17 with -U_FORTIFY_SOURCE (the fortified longjmp rejects
// jumps between stacks). GRCC_SHIM_WORKERS sets the number of workers
// (default: the number of CPUs); GRCC_SHIM_PROFILE prints each launch's time.
#pragma once

#include <setjmp.h>
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __syncthreads() ::grcc::sync_threads()
#define threadIdx (::grcc::cur_fiber->tid)
#define blockIdx (::grcc::block_idx)
#define blockDim (::grcc::block_dim)
#define gridDim (::grcc::grid_dim)

// Atomics across the workers' threads, for grcc_sk_attention's tickets.
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
template <class T>
inline T __ldcg(const T* p) {
  T v;
  __atomic_load(p, &v, __ATOMIC_SEQ_CST);
  return v;
}

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

namespace grcc {

struct Fiber {
  jmp_buf ctx;
  ucontext_t start;
  dim3 tid;
  bool started = false, done = false;
};

inline thread_local Fiber* cur_fiber;
inline thread_local jmp_buf scheduler;
inline thread_local dim3 block_idx, block_dim, grid_dim;
inline thread_local const std::function<void()>* kernel_body;

// yield returns to the scheduler; the fiber resumes here later. Other
// fibers run meanwhile and change shared memory, so neither this function
// nor its callers may keep memory in registers across it: noipa keeps the
// compiler from proving that it touches nothing, and the clobbers make it
// reload.
[[gnu::noipa]] inline void yield() {
  asm volatile("" ::: "memory");
  if (!_setjmp(cur_fiber->ctx)) _longjmp(scheduler, 1);
  asm volatile("" ::: "memory");
}

[[gnu::noipa]] inline void sync_threads() { yield(); }

// fiber_main runs the kernel body once per block the worker schedules.
[[noreturn]] inline void fiber_main() {
  for (;;) {
    (*kernel_body)();
    cur_fiber->done = true;
    yield();
  }
}

// run_block runs one block: round after round, each unfinished fiber runs
// to its next barrier (or its end).
inline void run_block(std::vector<Fiber>& fibers, const char* kernel, bool reverse) {
  for (Fiber& f : fibers) f.done = false;
  const size_t n = fibers.size();
  for (;;) {
    size_t done = 0;
    for (size_t i = 0; i < n; ++i) {
      Fiber& f = fibers[reverse ? n - 1 - i : i];
      if (f.done) {
        done++;
        continue;
      }
      cur_fiber = &f;
      if (!_setjmp(scheduler)) {
        if (!f.started) {
          f.started = true;
          setcontext(&f.start);
        }
        _longjmp(f.ctx, 1);
      }
      if (f.done) done++;
    }
    if (done == fibers.size()) return;
    if (done > 0) {
      std::fprintf(stderr, "grcc_shim: kernel %s: block (%u,%u,%u): %zu threads exited while %zu wait at __syncthreads\n",
                   kernel, block_idx.x, block_idx.y, block_idx.z, done, fibers.size() - done);
      std::abort();
    }
  }
}

inline int workers() {
  if (const char* s = std::getenv("GRCC_SHIM_WORKERS")) return std::max(1, std::atoi(s));
  return std::max(1u, std::thread::hardware_concurrency());
}

// launch runs body (one CUDA thread's work) for every thread of grid × block.
inline void launch(const char* kernel, dim3 grid, dim3 block, const std::function<void()>& body) {
  constexpr size_t kStack = 256 << 10;
  const long blocks = long(grid.x) * grid.y * grid.z;
  const size_t threads = size_t(block.x) * block.y * block.z;
  std::atomic<long> next{0};
  const char* order = std::getenv("GRCC_SHIM_ORDER");
  const bool reverse = order && std::string(order) == "reverse";
  auto work = [&] {
    kernel_body = &body;
    grid_dim = grid;
    block_dim = block;
    std::vector<Fiber> fibers(threads);
    std::unique_ptr<char[]> stacks(new char[threads * kStack]);
    for (size_t i = 0; i < threads; ++i) {
      Fiber& f = fibers[i];
      f.tid = dim3(i % block.x, i / block.x % block.y, i / (size_t(block.x) * block.y));
      getcontext(&f.start);
      f.start.uc_stack.ss_sp = stacks.get() + i * kStack;
      f.start.uc_stack.ss_size = kStack;
      f.start.uc_link = nullptr;
      makecontext(&f.start, fiber_main, 0);
    }
    for (long b; (b = next++) < blocks;) {
      block_idx = dim3(b % grid.x, b / grid.x % grid.y, b / (long(grid.x) * grid.y));
      run_block(fibers, kernel, reverse);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  const int n = int(std::min<long>(workers(), blocks));
  std::vector<std::thread> pool;
  for (int i = 1; i < n; ++i) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  if (std::getenv("GRCC_SHIM_PROFILE")) {
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%-40s grid (%u,%u,%u) block %u: %.1f ms\n", kernel, grid.x, grid.y, grid.z, block.x, ms);
  }
}

// grid_size is a grid dimension: ceil(batch·per_image/size) blocks, or
// size when per_image is 0 (cudaDim.blocks in cuda.go).
inline unsigned grid_size(int batch, long per_image, long size) {
  if (per_image == 0) return unsigned(size);
  return unsigned((batch * per_image + size - 1) / size);
}

}  // namespace grcc
