// The MPI communicator (runtime/communicator.h). Built with MPI when configure found it
// (V3D_WITH_MPI=1); otherwise the functions say the build has none.
#include "runtime/communicator.h"

namespace v3d {

#if V3D_WITH_MPI
#error "the MPI communicator is not written yet"
#else
bool mpi_built() { return false; }

std::unique_ptr<Communicator> make_mpi_communicator() {
  throw Error(
      "this build of v3d has no MPI (install libopenmpi-dev, then configure again: V3D_MPI)");
}
#endif

}  // namespace v3d
