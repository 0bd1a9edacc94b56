// Base definitions shared by every layer: the throwing check macro, host/device qualifiers and
// the handles kernel launchers take. Compiles with the host compiler alone.
#pragma once

#include <cstdint>
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
//   V3D_CHECK    an internal condition (a broken contract between layers): the message names the
//                failed expression and the source place, so a developer can find it;
//   V3D_REQUIRE  a user's mistake (a bad file, value or option): the message alone, one line that
//                names the file, field or option, with nothing about our sources.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] inline void throw_check_failure(const char* expr, const char* file, int line,
                                             const std::string& msg) {
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
