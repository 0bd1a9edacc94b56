# Every .cu file is built twice:
#   <name>_cuda : by nvcc, the product path (only when the CUDA backend is on);
#   <name>_emu  : by the host compiler against the CUDA host emulation (kernels/gpu/emu), so the
#                 same kernel source executes in ctest on machines without a GPU.
# The emulated copy goes through a generated .cpp that #includes the .cu, because a source file
# can carry only one LANGUAGE. compat.h puts each copy's symbols in its own namespace
# (v3d::...::cuda or v3d::...::emu), so both copies link into one program.
function(v3d_add_gpu_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK;CUDA_LINK" ${ARGN})
  set(emu_sources "")
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(abs "${src}" ABSOLUTE)
    file(RELATIVE_PATH rel "${PROJECT_SOURCE_DIR}" "${abs}")
    string(MAKE_C_IDENTIFIER "${rel}" ident)
    set(wrapper "${CMAKE_BINARY_DIR}/emu_src/${ident}.cpp")
    file(CONFIGURE OUTPUT "${wrapper}"
         CONTENT "// Generated: ${rel} compiled by the host compiler for the CUDA emulator.\n#include \"${abs}\"\n")
    list(APPEND emu_sources "${wrapper}")
    set_property(SOURCE "${wrapper}" APPEND PROPERTY OBJECT_DEPENDS "${abs}")
  endforeach()
  add_library(${name}_emu STATIC ${emu_sources})
  target_compile_definitions(${name}_emu PRIVATE CUEMU=1)
  target_include_directories(${name}_emu PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name}_emu PUBLIC v3d_cuemu ${ARG_LINK} PRIVATE v3d_warnings)
  # Every load and store of kernel code calls the emulator's access checks (bounds, host pointers,
  # races; kernels/gpu/emu/runtime.cpp): GCC's thread-sanitizer instrumentation, with the emulator
  # itself as its runtime (no libtsan is linked). Locals kept in registers are not instrumented.
  # GCC refuses ASan beside it, so in the sanitizer build (V3D_SANITIZE) these files drop ASan and
  # keep UBSan: their kernels' accesses are the emulator's to check.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${name}_emu PRIVATE -fsanitize=thread
      --param=tsan-instrument-func-entry-exit=0 $<$<BOOL:${V3D_SANITIZE}>:-fno-sanitize=address>)
  endif()
  if(V3D_WITH_CUDA)
    add_library(${name}_cuda STATIC ${ARG_SOURCES})
    set_target_properties(${name}_cuda PROPERTIES CUDA_SEPARABLE_COMPILATION OFF)
    target_include_directories(${name}_cuda PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name}_cuda PUBLIC CUDA::cudart ${ARG_LINK} ${ARG_CUDA_LINK} PRIVATE v3d_warnings)
  endif()
endfunction()
