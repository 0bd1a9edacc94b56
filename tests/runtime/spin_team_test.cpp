// The polling thread team (runtime/spin_team.h): every part runs once per job, on its own
// thread; the ranges of parallel_for cover 0 .. count once; an exception reaches the caller and
// the team stays usable; members that sleep (spin 0) are woken for every job.
#include "runtime/spin_team.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/common.h"

namespace v3d {
namespace {

TEST(SpinTeam, EveryPartOnceOnItsOwnThread) {
  for (const int size : {1, 2, 3, 5}) {
    for (const int spin_us : {0, 20000}) {
      SpinTeam team(size, std::chrono::microseconds(spin_us));
      ASSERT_EQ(team.size(), size);
      for (int job = 0; job < 200; ++job) {
        std::vector<int> runs(static_cast<size_t>(size), 0);
        std::vector<std::thread::id> ids(static_cast<size_t>(size));
        team.run([&](int part) {
          ++runs[static_cast<size_t>(part)];  // each part writes its own slot
          ids[static_cast<size_t>(part)] = std::this_thread::get_id();
        });
        for (int p = 0; p < size; ++p) ASSERT_EQ(runs[static_cast<size_t>(p)], 1) << "part " << p;
        ASSERT_EQ(ids[0], std::this_thread::get_id()) << "part 0 runs on the caller";
        ASSERT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(),
                  static_cast<size_t>(size))
            << "size " << size << " job " << job;
      }
    }
  }
}

TEST(SpinTeam, ParallelForCoversEveryIndexOnce) {
  SpinTeam team(3, std::chrono::microseconds(1000));
  for (const int64_t count : {0, 1, 2, 3, 4, 7, 100, 1001}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
    std::atomic<int> calls{0};
    team.parallel_for(count, [&](int64_t b, int64_t e) {
      ASSERT_LT(b, e);
      ++calls;
      for (int64_t i = b; i < e; ++i) ++hits[static_cast<size_t>(i)];
    });
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)], 1) << i;
    EXPECT_LE(calls.load(), std::max<int64_t>(count, 1)) << "no empty range";
    EXPECT_LE(calls.load(), 4 * 3 + 3) << "about 4 ranges per member";
    EXPECT_EQ(calls.load() == 0, count == 0);
  }
}

TEST(SpinTeam, ExceptionsReachTheCallerAndTheTeamGoesOn) {
  SpinTeam team(3, std::chrono::microseconds(0));
  for (const int thrower : {0, 1, 2}) {
    std::atomic<int> ran{0};
    EXPECT_THROW(team.run([&](int part) {
      ++ran;
      if (part == thrower) throw std::runtime_error("part " + std::to_string(part));
    }),
                 std::runtime_error)
        << "thrown by part " << thrower;
    EXPECT_EQ(ran.load(), 3) << "the other parts still ran";
    std::atomic<int> after{0};
    team.run([&](int) { ++after; });
    EXPECT_EQ(after.load(), 3);
  }
}

TEST(SpinTeam, SleepingMembersWakeForEveryJob) {
  // Spin 0: the helpers sleep between jobs; jobs spaced out so that they do fall asleep.
  SpinTeam team(2, std::chrono::microseconds(0));
  int64_t total = 0;
  for (int job = 0; job < 20; ++job) {
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    std::atomic<int64_t> sum{0};
    team.parallel_for(1000, [&](int64_t b, int64_t e) {
      int64_t s = 0;
      for (int64_t i = b; i < e; ++i) s += i;
      sum += s;
    });
    total += sum.load();
  }
  EXPECT_EQ(total, 20 * (999 * 1000 / 2));
}

TEST(SpinTeam, BadSizesAreRefused) {
  EXPECT_THROW(SpinTeam(0, std::chrono::microseconds(0)), Error);
  EXPECT_THROW(SpinTeam(2, std::chrono::microseconds(-1)), Error);
}

}  // namespace
}  // namespace v3d
