// Memory for large arrays read in full again and again (the stream's weights): 2 MB aligned and
// marked for transparent huge pages, so that a pass over tens of MB walks a few dozen pages, not
// thousands. Linux with transparent_hugepage "madvise" or "always" backs them with 2 MB pages
// (a hint: where it cannot, or elsewhere, the memory is ordinary pages).
#pragma once

#include <cstddef>

namespace v3d {

// bytes (0 allowed) of memory, 64-byte aligned; from 2 MB up, 2 MB aligned and madvise'd
// MADV_HUGEPAGE. Throws std::bad_alloc when out of memory. Free with huge_page_free.
void* huge_page_alloc(size_t bytes);
void huge_page_free(void* p) noexcept;

// A standard allocator over huge_page_alloc (std::vector<float, HugePageAllocator<float>>).
template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: rebinding is implicit
  T* allocate(size_t n) { return static_cast<T*>(huge_page_alloc(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { huge_page_free(p); }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace v3d
