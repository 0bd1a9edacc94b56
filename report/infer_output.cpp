// Writers of inference output (report/infer_output.h).
#include "report/infer_output.h"

#include <H5Cpp.h>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "data/atomic_file.h"
#include "data/h5_util.h"
#include "kernels/common.h"

namespace v3d {

namespace {

constexpr const char* kInferFormat = "v3d-infer";
constexpr int kInferVersion = 1;

void validate_result(const InferResult& r, const std::string& path) {
  if (r.name.empty()) throw Error(path + ": a result has an empty name");
  std::stringstream parts(r.name);
  std::string part;
  if (r.name.front() == '/' || r.name.back() == '/')
    throw Error(path + ": result name '" + r.name + "' starts or ends with '/'");
  while (std::getline(parts, part, '/')) {
    if (part.empty() || part == "." || part == "..")
      throw Error(path + ": result name '" + r.name + "' has an empty, '.' or '..' component");
  }
  if (r.frames < 1 || r.joints < 1)
    throw Error(path + ": " + r.name + ": frames " + std::to_string(r.frames) + " and joints " +
                std::to_string(r.joints) + " must be >= 1");
  if (static_cast<int64_t>(r.positions_3d.size()) != r.frames * r.joints * 3)
    throw Error(path + ": " + r.name + ": positions_3d has " +
                std::to_string(r.positions_3d.size()) + " values, expected (" +
                std::to_string(r.frames) + ", " + std::to_string(r.joints) + ", 3)");
}

void validate_results(const std::vector<InferResult>& results, const std::string& path) {
  if (results.empty()) throw Error(path + ": no results to write");
  std::set<std::string> names;
  for (const auto& r : results) {
    validate_result(r, path);
    if (!names.insert(r.name).second) throw Error(path + ": result name '" + r.name + "' twice");
  }
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::vector<InferResult> infer_results(const std::vector<data::InferInput>& inputs,
                                       std::vector<std::vector<float>> poses, int joints) {
  V3D_CHECK(poses.size() == inputs.size(),
            "infer: " << poses.size() << " predictions for " << inputs.size() << " inputs");
  std::vector<InferResult> results;
  for (size_t k = 0; k < inputs.size(); ++k) {
    InferResult r;
    r.name = inputs[k].name;
    r.track = inputs[k].track;
    r.frames = inputs[k].frames;
    r.joints = joints;
    r.first_frame = inputs[k].first_frame;
    r.positions_3d = std::move(poses[k]);
    results.push_back(std::move(r));
  }
  return results;
}

void write_infer_h5(const std::string& path, const std::vector<InferResult>& results) {
  validate_results(results, path);
  data::h5::write_file_atomically(path, [&](H5::H5File& file) {
    H5::Group root = file.openGroup("/");
    data::h5::write_string_attr(root, "format", kInferFormat);
    H5::Attribute ver =
        root.createAttribute("version", H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR));
    const int version = kInferVersion;
    ver.write(H5::PredType::NATIVE_INT, &version);
    H5::LinkCreatPropList lcpl;
    lcpl.setCreateIntermediateGroup(true);
    for (const auto& r : results) {
      const std::string object = "/" + r.name + "/positions_3d";
      const hsize_t dims[3] = {static_cast<hsize_t>(r.frames), static_cast<hsize_t>(r.joints), 3};
      H5::DataSet ds = file.createDataSet(object, H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims),
                                          H5::DSetCreatPropList(), H5::DSetAccPropList(), lcpl);
      ds.write(r.positions_3d.data(), H5::PredType::NATIVE_FLOAT);
      H5::Attribute first =
          ds.createAttribute("first_frame", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR));
      const int64_t ff = r.first_frame;
      first.write(H5::PredType::NATIVE_INT64, &ff);
      if (!r.track.empty()) data::h5::write_string_attr(ds, "track", r.track);
    }
  });
}

void write_infer_csv(const std::string& path, const std::vector<InferResult>& results) {
  validate_results(results, path);
  data::write_atomically(path, [&](const std::string& tmp) {
    data::CheckedFile f(path, tmp);
    f.write("name,frame,joint,x,y,z\n");
    char buf[96];
    for (const auto& r : results) {
      const std::string name = csv_field(r.name);
      for (int64_t t = 0; t < r.frames; ++t) {
        for (int j = 0; j < r.joints; ++j) {
          const float* p = r.positions_3d.data() + (t * r.joints + j) * 3;
          std::snprintf(buf, sizeof(buf), ",%lld,%d,%.9g,%.9g,%.9g\n",
                        static_cast<long long>(r.first_frame + t), j, static_cast<double>(p[0]),
                        static_cast<double>(p[1]), static_cast<double>(p[2]));
          f.write(name);
          f.write(buf);
        }
      }
    }
    f.close();
  });
}

}  // namespace v3d
