// The long-term bank's HDF5 output (report/ltb_output.h).
#include "report/ltb_output.h"

#include <H5Cpp.h>
#include <cstdint>

#include "data/h5_util.h"
#include "kernels/common.h"

namespace v3d {

namespace {

template <class T>
void write_dataset(H5::H5File& file, const std::string& object, const T* data,
                   const std::vector<hsize_t>& dims, const H5::PredType& file_type,
                   const H5::PredType& mem_type) {
  H5::LinkCreatPropList lcpl;
  lcpl.setCreateIntermediateGroup(true);
  H5::DataSet ds = file.createDataSet(object, file_type,
                                      H5::DataSpace(static_cast<int>(dims.size()), dims.data()),
                                      H5::DSetCreatPropList(), H5::DSetAccPropList(), lcpl);
  ds.write(data, mem_type);
}

template <class T>
void scalar_attr(H5::H5Object& obj, const std::string& name, T value, const H5::PredType& file_type,
                 const H5::PredType& mem_type) {
  H5::Attribute a = obj.createAttribute(name, file_type, H5::DataSpace(H5S_SCALAR));
  a.write(mem_type, &value);
}

}  // namespace

void write_ltb_h5(const std::string& path, const std::vector<std::string>& names,
                  const LtbPlan& plan, const LtbOptions& options) {
  const size_t num_seq = plan.offsets.empty() ? 0 : plan.offsets.size() - 1;
  V3D_CHECK(names.size() == num_seq,
            path << ": " << names.size() << " names for " << num_seq << " sequences");
  const int64_t total = num_seq == 0 ? 0 : plan.offsets.back();
  const int64_t cap = plan.capacity;
  V3D_CHECK(static_cast<int64_t>(plan.history.size()) == total * cap,
            path << ": the plan has no bank history (plan_ltb with_history)");
  for (size_t i = 0; i < names.size(); ++i) {
    V3D_CHECK(!names[i].empty() && names[i].front() != '/',
              path << ": sequence " << i << " has an empty or absolute name '" << names[i] << "'");
    for (size_t j = 0; j < i; ++j)
      V3D_CHECK(names[i] != names[j], path << ": two sequences are named '" << names[i] << "'");
  }
  data::h5::silence_hdf5();
  data::h5::write_file_atomically(path, [&](H5::H5File& file) {
    H5::Group root = file.openGroup("/");
    data::h5::write_string_attr(root, "format", "v3d-ltb");
    scalar_attr(root, "version", int32_t{1}, H5::PredType::STD_I32LE, H5::PredType::NATIVE_INT32);
    scalar_attr(root, "capacity", int32_t{options.capacity}, H5::PredType::STD_I32LE,
                H5::PredType::NATIVE_INT32);
    scalar_attr(root, "threshold", options.threshold, H5::PredType::IEEE_F32LE,
                H5::PredType::NATIVE_FLOAT);
    scalar_attr(root, "fusion_threshold", options.fusion_threshold, H5::PredType::IEEE_F32LE,
                H5::PredType::NATIVE_FLOAT);
    const int32_t max_insert =
        options.max_insert < 0 ? static_cast<int32_t>(plan.radius) : options.max_insert;
    scalar_attr(root, "max_insert", max_insert, H5::PredType::STD_I32LE,
                H5::PredType::NATIVE_INT32);
    scalar_attr(root, "radius", static_cast<int32_t>(plan.radius), H5::PredType::STD_I32LE,
                H5::PredType::NATIVE_INT32);
    data::h5::write_string_attr(root, "mode", options.online ? "online" : "offline");
    data::h5::write_string_attr(root, "center",
                                options.center == kernels::PoseCenter::kRoot ? "root" : "centroid");
    data::h5::write_string_attr(root, "accumulate", ltb_accumulate_name(options.accumulate));
    data::h5::write_string_attr(root, "placement", ltb_placement_name(options.placement));
    data::h5::write_string_attr(root, "gate", ltb_gate_name(options.gate));
    scalar_attr(root, "gate_threshold", options.gate_threshold, H5::PredType::IEEE_F32LE,
                H5::PredType::NATIVE_FLOAT);
    const hsize_t w = static_cast<hsize_t>(plan.window), c = static_cast<hsize_t>(cap);
    for (size_t k = 0; k < num_seq; ++k) {
      const std::string g = "/" + names[k];
      const int64_t b = plan.offsets[k];
      const hsize_t t = static_cast<hsize_t>(plan.offsets[k + 1] - b);
      const auto i32 = H5::PredType::STD_I32LE;
      const auto ni32 = H5::PredType::NATIVE_INT32;
      write_dataset(file, g + "/history", plan.history.data() + b * cap, {t, c}, i32, ni32);
      write_dataset(file, g + "/bank_frames", plan.bank_frames.data() + k * c, {c}, i32, ni32);
      write_dataset(file, g + "/bank_as", plan.bank_as.data() + k * c, {c},
                    H5::PredType::IEEE_F32LE, H5::PredType::NATIVE_FLOAT);
      write_dataset(file, g + "/index_map", plan.index_map.data() + b * plan.window, {t, w}, i32,
                    ni32);
      write_dataset(file, g + "/fused", plan.fused.data() + b, {t}, i32, ni32);
      H5::Group grp = file.openGroup(g);
      scalar_attr(grp, "bank_size", plan.bank_size[k], i32, ni32);
    }
  });
}

}  // namespace v3d
