// Base definitions shared by every layer: the throwing check macro, host/device qualifiers and
// the handles kernel launchers take. Compiles with the host compiler alone.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define V3D_HOST_DEVICE __host__ __device__
#else
#define V3D_HOST_DEVICE
#endif

namespace v3d {

// Every error the framework raises on purpose. Two kinds share the type:
//   V3D_CHECK    an internal condition (a broken contract between layers): in a debug build or
//                with V3D_DEBUG=1 the message also names the failed expression and the source
//                place, so a developer can find it (debug_messages());
//   V3D_REQUIRE  a user's mistake (a bad file, value or option): the message alone, one line that
//                names the file, field or option, with nothing about our sources.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether V3D_CHECK messages name the failed expression and its source place: in a debug build
// (NDEBUG undefined) or with V3D_DEBUG=1 in the environment, unless set_debug_messages decided.
// A release build's user sees the message alone, never a path of the machine that built it.
inline std::atomic<int>& debug_messages_setting() {
  static std::atomic<int> setting{-1};  // -1: the build and V3D_DEBUG decide
  return setting;
}
inline bool debug_messages() {
  const int setting = debug_messages_setting().load(std::memory_order_relaxed);
  if (setting >= 0) return setting == 1;
#ifdef NDEBUG
  const char* env = std::getenv("V3D_DEBUG");  // read when a check fails, so never on a hot path
  return env != nullptr && std::strcmp(env, "1") == 0;
#else
  return true;
#endif
}
// true / false force the choice; std::nullopt gives it back to the build and V3D_DEBUG.
inline void set_debug_messages(std::optional<bool> on) {
  debug_messages_setting().store(on ? (*on ? 1 : 0) : -1, std::memory_order_relaxed);
}

[[noreturn]] inline void throw_check_failure(const char* expr, const char* file, int line,
                                             const std::string& msg) {
  if (!debug_messages()) throw Error(msg);
  std::ostringstream os;
  os << msg << " [check `" << expr << "` failed at " << file << ":" << line << "]";
  throw Error(os.str());
}

namespace kernels {

// A stream as launchers take it: cudaStream_t under nvcc, the emulator's stream otherwise,
// nullptr for the default stream. Kept as void* so contracts compile with the host compiler.
using StreamHandle = void*;

// Which copy of a .cu file a launcher belongs to (see cmake/V3dGpu.cmake).
enum class GpuKind { kCuda, kEmu };

// When true, every GPU launcher synchronises its stream after the launch and checks for errors,
// so that an asynchronous fault is reported against the op that caused it. Initialised from the
// environment variable V3D_SYNC_OPS (1 = on).
bool sync_after_ops();
void set_sync_after_ops(bool on);

}  // namespace kernels
}  // namespace v3d

// V3D_CHECK(cond, message): throws v3d::Error when cond is false. `message` may use <<.
#define V3D_CHECK(cond, msg)                                                      \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::ostringstream v3d_check_os_;                                           \
      v3d_check_os_ << msg;                                                       \
      ::v3d::throw_check_failure(#cond, __FILE__, __LINE__, v3d_check_os_.str()); \
    }                                                                             \
  } while (0)

// V3D_REQUIRE(cond, message): throws v3d::Error carrying `message` alone when cond is false. For
// errors a user caused and reads (bad input, bad option); `message` may use <<.
#define V3D_REQUIRE(cond, msg)                   \
  do {                                           \
    if (!(cond)) {                               \
      std::ostringstream v3d_require_os_;        \
      v3d_require_os_ << msg;                    \
      throw ::v3d::Error(v3d_require_os_.str()); \
    }                                            \
  } while (0)
