// Huge-page backed arrays (runtime/huge_pages.h).
#include "runtime/huge_pages.h"

#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace v3d {

void* huge_page_alloc(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  const size_t rounded = (bytes + align - 1) / align * align;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded);
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // A hint: refused (no THP in this kernel) it changes nothing.
  if (align == kHuge) (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

void huge_page_free(void* p) noexcept { std::free(p); }

}  // namespace v3d
