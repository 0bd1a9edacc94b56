# The loader benchmark (data/batches.h, data/prefetch.h): window generation and prefetching.
add_executable(bench_loader bench_loader.cpp)
target_link_libraries(bench_loader PRIVATE v3d_data v3d_bench_common v3d_warnings)
