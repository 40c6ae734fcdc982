// ThreadPool: every index runs exactly once, ranges respect the grain, the
// caller's writes are visible after ParallelFor returns, concurrent callers
// (one gets the workers, the others run alone) all complete, a null or
// single-thread pool runs inline, thread indices are in range and never
// shared by two ranges running at once, and the caller starts on the first
// share. Run under TSan (-DBNSERVE_SANITIZE=thread)
// for the memory-ordering part.
#include "core/util/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace bnserve {
namespace {

// Runs ParallelFor over n indices and checks each was visited once.
void ExpectEachIndexOnce(ThreadPool* pool, int64_t n, int64_t grain) {
  std::vector<int> visits(static_cast<size_t>(n), 0);  // plain ints: TSan checks the ranges are disjoint
  std::atomic<int64_t> longest{0};
  ParallelFor(pool, n, grain, [&](int64_t begin, int64_t end) {
    ASSERT_LT(begin, end);
    int64_t len = end - begin, seen = longest.load();
    while (len > seen && !longest.compare_exchange_weak(seen, len)) {
    }
    for (int64_t i = begin; i < end; ++i) ++visits[i];
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(visits[i], 1) << "index " << i << " of " << n << ", grain " << grain;
  if (pool != nullptr && pool->num_threads() > 1 && n > grain) {
    EXPECT_LE(longest.load(), grain) << "n " << n;
  }
}

TEST(ThreadPoolTest, CoversEveryIndexOnce) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.num_threads(), 3);
  for (int64_t n : {1, 2, 3, 7, 64, 1000, 4099}) {
    for (int64_t grain : {1, 3, 64, 5000}) ExpectEachIndexOnce(&pool, n, grain);
  }
}

TEST(ThreadPoolTest, NullAndSingleThreadPoolsRunInline) {
  ThreadPool single(1);
  EXPECT_EQ(single.num_threads(), 1);
  for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &single}) {
    const std::thread::id caller = std::this_thread::get_id();
    int calls = 0;
    ParallelFor(pool, 10, 1, [&](int64_t begin, int64_t end) {
      EXPECT_EQ(std::this_thread::get_id(), caller);
      EXPECT_EQ(begin, 0);
      EXPECT_EQ(end, 10);
      ++calls;
    });
    EXPECT_EQ(calls, 1);
  }
}

TEST(ThreadPoolTest, EmptyRangeCallsNothing) {
  ThreadPool pool(2);
  ParallelFor(&pool, 0, 1, [](int64_t, int64_t) { FAIL() << "called for an empty range"; });
  ParallelFor(nullptr, 0, 1, [](int64_t, int64_t) { FAIL() << "called for an empty range"; });
}

TEST(ThreadPoolTest, ConcurrentCallersAllComplete) {
  ThreadPool pool(2);
  constexpr int kCallers = 4;
  std::vector<std::thread> callers;
  std::vector<int64_t> sums(kCallers, 0);
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        std::vector<int64_t> values(257, 0);
        ParallelFor(&pool, 257, 8, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) values[i] = i;
        });
        int64_t sum = 0;
        for (int64_t v : values) sum += v;
        sums[t] += sum;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (int t = 0; t < kCallers; ++t) EXPECT_EQ(sums[t], 50 * 256 * 257 / 2) << "caller " << t;
}

TEST(ThreadPoolTest, BackToBackLoopsSeeEachOthersWrites) {
  // Loop k reads what loop k - 1 wrote on other threads.
  ThreadPool pool(2);
  std::vector<int64_t> data(1000, 0);
  for (int k = 1; k <= 100; ++k) {
    ParallelFor(&pool, 1000, 7, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        ASSERT_EQ(data[i], k - 1);
        data[i] = k;
      }
    });
  }
}

TEST(ThreadPoolTest, ThreadIndicesAreInRangeAndNeverSharedAtOnce) {
  // The index is a scratch slot: two ranges running at the same time with
  // the same index would overwrite each other's scratch.
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 5, 64, 1000}) {
    for (int64_t grain : {1, 4, 100}) {
      const int64_t ranges = (n + grain - 1) / grain;
      const int limit = static_cast<int>(std::min<int64_t>(pool.num_threads(), ranges));
      std::vector<std::atomic<int>> busy(static_cast<size_t>(pool.num_threads()));
      std::atomic<int64_t> covered{0};
      std::atomic<bool> overlap{false}, out_of_range{false};
      ParallelForWithSlot(&pool, n, grain, [&](int thread, int64_t begin, int64_t end) {
        if (thread < 0 || thread >= limit) {
          out_of_range = true;
          return;
        }
        if (busy[thread].fetch_add(1) != 0) overlap = true;
        std::this_thread::yield();  // widen the window for an overlap
        covered += end - begin;
        busy[thread].fetch_sub(1);
      });
      EXPECT_FALSE(out_of_range) << "n " << n << " grain " << grain << ": index not below " << limit;
      EXPECT_FALSE(overlap) << "n " << n << " grain " << grain;
      EXPECT_EQ(covered.load(), n) << "n " << n << " grain " << grain;
    }
  }
}

TEST(ThreadPoolTest, CallerStartsOnTheFirstShare) {
  // The caller's first range is the loop's first: each thread begins on its
  // own share, so consecutive loops cut alike give it the same data.
  ThreadPool pool(2);
  for (int round = 0; round < 20; ++round) {
    std::atomic<int64_t> caller_first{-1};
    const std::thread::id caller = std::this_thread::get_id();
    pool.ParallelForThread(400, 10, [&](int thread, int64_t begin, int64_t) {
      if (std::this_thread::get_id() == caller) {
        EXPECT_EQ(thread, 0);
        int64_t none = -1;
        caller_first.compare_exchange_strong(none, begin);
      } else {
        EXPECT_EQ(thread, 1);
      }
    });
    EXPECT_EQ(caller_first.load(), 0) << "round " << round;
  }
}

}  // namespace
}  // namespace bnserve
