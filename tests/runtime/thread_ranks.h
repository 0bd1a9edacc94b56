// Runs a test body on several in-process ranks, one thread each (runtime/communicator.h's thread
// communicators), optionally as an NCCL job on the emulated devices (rank r on emu:r, with the
// stand-in whose collectives are the thread communicator's). The communicators are made in their
// threads, since an NCCL communicator's construction is collective.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/communicator.h"

namespace v3d::test {

template <class Body>
void run_thread_ranks(int ranks, bool nccl_on_emu, Body&& body) {
  std::vector<std::unique_ptr<Communicator>> hosts = make_thread_communicators(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        std::unique_ptr<Communicator> c = std::move(hosts[static_cast<size_t>(r)]);
        if (nccl_on_emu) c = make_nccl_communicator(std::move(c), r, DeviceType::kEmu);
        body(r, *c);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "rank " << r << ": " << e.what();
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace v3d::test
