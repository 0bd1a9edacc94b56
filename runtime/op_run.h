// The dispatch of every op of kernels/op_list.inc, generated from that list: for an op `name`,
// op_entry::name calls kernels::cpu::<kernel> or kernels::launch::<kernel><GpuKind>, and
// run_op<op_entry::name>(device, args, pointers...)
//   - validates the args (errors name the op and the field),
//   - on the CPU calls the CPU function with the pointers,
//   - on a GPU makes the op's device current (DeviceGuard) and calls the launcher on the
//     device's current stream with the pointers, then the
//     device's error record when the op checks indices on the device (Args::kDeviceErrors), then a
//     workspace of args.workspace_floats() floats when the op has one, allocated per call from the
//     caching allocator (freed in stream order),
//   - with V3D_SYNC_OPS=1, reports a device error the op raised right after its launch.
// Runtime entries (runtime/*.cpp) check tensors, fill the args and call run_op.
#pragma once

#include <concepts>

#include "kernels/op_id.h"  // before the contracts below: it reads the list's V3D_OP lines
#include "runtime/device_error.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

// The contracts of every op on the list.
#define V3D_OP_LIST_CONTRACTS
#include "kernels/op_list.inc"
#undef V3D_OP_LIST_CONTRACTS

namespace v3d {

namespace op_entry {
#define V3D_OP(op, kernel)                                  \
  struct op {                                               \
    static constexpr kernels::OpId kId = kernels::OpId::op; \
    static constexpr const char* kName = #op;               \
    template <class Args, class... P>                       \
    static void cpu(const Args& args, P... p) {             \
      kernels::cpu::kernel(args, p...);                     \
    }                                                       \
    template <kernels::GpuKind G, class Args, class... P>   \
    static void gpu(const Args& args, P... p) {             \
      kernels::launch::kernel<G>(args, p...);               \
    }                                                       \
  };
#define V3D_OP_GRAD(op, kernel, forward) V3D_OP(op, kernel)
#include "kernels/op_list.inc"
#undef V3D_OP
#undef V3D_OP_GRAD
}  // namespace op_entry

namespace detail {

template <class A>
concept HasWorkspace = requires(const A& a) {
  { a.workspace_floats() } -> std::convertible_to<int64_t>;
};
template <class A>
concept RaisesDeviceErrors = requires {
  requires A::kDeviceErrors;
};

template <class Op, kernels::GpuKind G, class Args, class... P>
void run_gpu(Device device, const Args& args, P... p) {
  const DeviceGuard guard(device);
  const kernels::StreamHandle stream = current_stream(device);
  int32_t* error = nullptr;
  if constexpr (RaisesDeviceErrors<Args>) error = device_error_record(device);
  if constexpr (HasWorkspace<Args>) {
    const int64_t floats = args.workspace_floats();
    const Tensor workspace = floats > 0 ? Tensor::empty({floats}, DType::kF32, device) : Tensor();
    float* ws = floats > 0 ? workspace.f32() : nullptr;
    if constexpr (RaisesDeviceErrors<Args>)
      Op::template gpu<G, Args>(args, p..., error, ws, stream);
    else
      Op::template gpu<G, Args>(args, p..., ws, stream);
  } else if constexpr (RaisesDeviceErrors<Args>) {
    Op::template gpu<G, Args>(args, p..., error, stream);
  } else {
    Op::template gpu<G, Args>(args, p..., stream);
  }
  if constexpr (RaisesDeviceErrors<Args>)
    if (kernels::sync_after_ops()) check_device_errors(device, stream);
}

}  // namespace detail

// Runs Op on `device` (the device of the op's tensors) with the pointers its kernels take.
template <class Op, class Args, class... P>
void run_op(Device device, const Args& args, P... p) {
  args.validate(Op::kName);
  switch (device.type) {
    case DeviceType::kCPU:
      Op::template cpu<Args>(args, p...);
      return;
    case DeviceType::kEmu:
      detail::run_gpu<Op, kernels::GpuKind::kEmu>(device, args, p...);
      return;
    case DeviceType::kCUDA:
#if V3D_WITH_CUDA
      detail::run_gpu<Op, kernels::GpuKind::kCuda>(device, args, p...);
      return;
#else
      throw Error("this build of v3d has no CUDA backend");
#endif
  }
}

}  // namespace v3d
