// The v3d HDF5 pose store (layout and conventions: docs/data-format.md).
//   /                                           attrs format = "v3d-pose", version, fps
//   /skeleton                                   attr name; joint_names (J,) str, parents (J,)
//   int32,
//                                               joints_left (L,) int32, joints_right (L,) int32
//   /subjects/<S>/cameras/<k>                   attrs id, res_w, res_h, focal(2), center(2),
//                                               radial(3), tangential(2), orientation(4),
//                                               translation(3), has_extrinsics
//   /subjects/<S>/actions/<A>/positions_3d      (N, J, 3) float32, world, metres
//   /subjects/<S>/actions/<A>/positions_2d/<k>  (N, J, 2) float32, pixels
//   /subjects/<S>/actions/<A>/confidence_2d/<k> (N, J) float32
// Pose datasets are chunked along frames, shuffled and deflated, so that a reader that selects a
// few subjects or actions touches only their chunks: a multi-GB file streams.
//
// Every failure becomes one v3d::Error line "<file>: <object path>: <what>". HDF5's own error
// stack printing is silenced; where an HDF5 call fails we report the innermost message of its
// error stack (e.g. "truncated file: eof = ...") instead.
#include <hdf5.h>
#include <unistd.h>

#include <H5Cpp.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

#include "data/dataset.h"
#include "data/h5_util.h"
#include "kernels/common.h"
#include "kernels/text.h"

namespace v3d::data {

namespace {

constexpr const char* kFormatName = "v3d-pose";
constexpr hsize_t kChunkFrames = 4096;  // ~0.8 MB chunks for 17 joints x 3 floats
constexpr int kDeflateLevel = 4;

using h5::join_path;
using h5::shape_string;
using h5::silence_hdf5;
using h5::write_string_attr;

// ---------------------------------------------------------------------------------------------
// Errors

template <class T>
std::string join_list(const T& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// Names that can be HDF5 link names and that our paths can print unambiguously.
void check_name(const std::string& name, const std::string& path) {
  V3D_CHECK(!name.empty() && name != "." && name.find('/') == std::string::npos,
            path << ": invalid name '" << name << "' (empty, '.' or containing '/')");
}

// Reports the first non-finite value of a (frames, joints, features) array.
void check_finite(const std::vector<float>& a, int joints, int features, const std::string& path) {
  size_t bad = 0, first = a.size();
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) {
      if (bad++ == 0) first = i;
    }
  }
  if (bad == 0) return;
  const size_t per_frame = static_cast<size_t>(joints) * features;
  V3D_CHECK(bad == 0, path << ": " << bad << " NaN or Inf value(s), first at frame "
                           << first / per_frame << ", joint " << (first % per_frame) / features
                           << " (" << a[first] << ")");
}

void check_size(const std::vector<float>& a, int64_t frames, int joints, int features,
                const std::string& path) {
  const size_t expected = static_cast<size_t>(frames) * joints * features;
  V3D_CHECK(a.size() == expected, path << ": expected (" << frames << ", " << joints
                                       << (features > 1 ? ", " + std::to_string(features) : "")
                                       << ") = " << expected << " floats, got " << a.size());
}

void validate_camera(const Camera& cam, const std::string& path) {
  V3D_CHECK(cam.res_w > 0 && cam.res_h > 0,
            path << ": res_w and res_h must be positive, got " << cam.res_w << "x" << cam.res_h);
  auto finite = [&](const float* v, size_t n, const char* field) {
    for (size_t i = 0; i < n; ++i) {
      V3D_CHECK(std::isfinite(v[i]), path << "/" << field << ": element " << i << " is " << v[i]);
    }
  };
  finite(cam.focal.data(), 2, "focal");
  finite(cam.center.data(), 2, "center");
  finite(cam.radial.data(), 3, "radial");
  finite(cam.tangential.data(), 2, "tangential");
  finite(cam.orientation.data(), 4, "orientation");
  finite(cam.translation.data(), 3, "translation");
  V3D_REQUIRE(cam.focal[0] > 0 && cam.focal[1] > 0, path << "/focal: got (" << cam.focal[0] << ", "
                                                         << cam.focal[1]
                                                         << ") (expected positive pixels)");
  const auto& q = cam.orientation;
  const double norm = std::sqrt(double(q[0]) * q[0] + double(q[1]) * q[1] + double(q[2]) * q[2] +
                                double(q[3]) * q[3]);
  // float32 quaternions of the H36M table are unit to ~1e-7; 1e-3 catches a wrong convention
  // (e.g. degrees or a rotation matrix row) without rejecting rounding.
  V3D_CHECK(std::abs(norm - 1.0) < 1e-3,
            path << "/orientation: quaternion (w, x, y, z) must be unit, norm is " << norm);
}

// ---------------------------------------------------------------------------------------------
// Writing

void write_int_attr(H5::H5Object& obj, const char* name, int value) {
  H5::Attribute attr =
      obj.createAttribute(name, H5::PredType::STD_I32LE, H5::DataSpace(H5S_SCALAR));
  attr.write(H5::PredType::NATIVE_INT, &value);
}

void write_float_attr(H5::H5Object& obj, const char* name, const float* values, hsize_t n,
                      bool scalar) {
  H5::DataSpace space = scalar ? H5::DataSpace(H5S_SCALAR) : H5::DataSpace(1, &n);
  H5::Attribute attr = obj.createAttribute(name, H5::PredType::IEEE_F32LE, space);
  attr.write(H5::PredType::NATIVE_FLOAT, values);
}

void write_int_dataset(H5::Group& group, const char* name, const std::vector<int>& values) {
  const hsize_t n = values.size();
  H5::DataSet ds = group.createDataSet(name, H5::PredType::STD_I32LE, H5::DataSpace(1, &n));
  if (n > 0) ds.write(values.data(), H5::PredType::NATIVE_INT);
}

void write_string_dataset(H5::Group& group, const char* name,
                          const std::vector<std::string>& values) {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  const hsize_t n = values.size();
  H5::DataSet ds = group.createDataSet(name, type, H5::DataSpace(1, &n));
  std::vector<const char*> ptrs;
  for (const auto& s : values) ptrs.push_back(s.c_str());
  if (n > 0) ds.write(ptrs.data(), type);
}

// data: (frames, dims[1], dims[2]) or (frames, dims[1]) float32, chunked along frames.
void write_pose_dataset(H5::Group& group, const std::string& name, const std::vector<float>& data,
                        std::vector<hsize_t> dims) {
  H5::DSetCreatPropList props;
  std::vector<hsize_t> chunk = dims;
  chunk[0] = std::min<hsize_t>(dims[0], kChunkFrames);
  props.setChunk(static_cast<int>(chunk.size()), chunk.data());
  props.setShuffle();
  props.setDeflate(kDeflateLevel);
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::DataSet ds = group.createDataSet(name, H5::PredType::IEEE_F32LE, space, props);
  ds.write(data.data(), H5::PredType::NATIVE_FLOAT);
}

void write_camera(H5::Group& cameras, int index, const Camera& cam) {
  H5::Group g = cameras.createGroup(std::to_string(index));
  write_string_attr(g, "id", cam.id);
  write_int_attr(g, "res_w", cam.res_w);
  write_int_attr(g, "res_h", cam.res_h);
  write_float_attr(g, "focal", cam.focal.data(), 2, false);
  write_float_attr(g, "center", cam.center.data(), 2, false);
  write_float_attr(g, "radial", cam.radial.data(), 3, false);
  write_float_attr(g, "tangential", cam.tangential.data(), 2, false);
  write_float_attr(g, "orientation", cam.orientation.data(), 4, false);
  write_float_attr(g, "translation", cam.translation.data(), 3, false);
  write_int_attr(g, "has_extrinsics", cam.has_extrinsics ? 1 : 0);
}

void write_contents(const Dataset& d, H5::H5File& file) {
  H5::Group root = file.openGroup("/");
  write_string_attr(root, "format", kFormatName);
  write_int_attr(root, "version", kFormatVersion);
  write_float_attr(root, "fps", &d.fps, 1, true);
  if (!d.keypoints_2d.empty()) write_string_attr(root, "keypoints_2d", d.keypoints_2d);

  H5::Group sk = file.createGroup("/skeleton");
  write_string_attr(sk, "name", d.skeleton.name);
  write_string_dataset(sk, "joint_names", d.skeleton.joint_names);
  write_int_dataset(sk, "parents", d.skeleton.parents);
  write_int_dataset(sk, "joints_left", d.skeleton.joints_left);
  write_int_dataset(sk, "joints_right", d.skeleton.joints_right);

  const hsize_t J = static_cast<hsize_t>(d.skeleton.num_joints());
  const hsize_t K = static_cast<hsize_t>(d.skeleton_2d().num_joints());
  H5::Group subjects = file.createGroup("/subjects");
  for (const auto& [s_name, subject] : d.subjects) {
    H5::Group s = subjects.createGroup(s_name);
    H5::Group cameras = s.createGroup("cameras");
    for (const auto& [k, cam] : subject.cameras) write_camera(cameras, k, cam);
    H5::Group actions = s.createGroup("actions");
    for (const auto& [a_name, action] : subject.actions) {
      H5::Group a = actions.createGroup(a_name);
      const hsize_t N = static_cast<hsize_t>(action.frames);
      if (!action.positions_3d.empty()) {
        write_pose_dataset(a, "positions_3d", action.positions_3d, {N, J, 3});
      }
      if (!action.positions_2d.empty()) {
        H5::Group p2 = a.createGroup("positions_2d");
        for (const auto& [k, xy] : action.positions_2d) {
          write_pose_dataset(p2, std::to_string(k), xy, {N, K, 2});
        }
      }
      if (!action.confidence_2d.empty()) {
        H5::Group c2 = a.createGroup("confidence_2d");
        for (const auto& [k, c] : action.confidence_2d) {
          write_pose_dataset(c2, std::to_string(k), c, {N, K});
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading. Each helper checks existence, kind, type class and shape before reading, so errors
// name what is wrong rather than relaying a generic HDF5 failure.

class Reader : public h5::ObjectReader {
 public:
  using ObjectReader::ObjectReader;

  // Member names of a group, sorted by name.
  std::vector<std::string> members(const H5::Group& g, const std::string& path) const {
    return call(path, "cannot list members", [&] {
      std::vector<std::string> out;
      const hsize_t n = g.getNumObjs();
      for (hsize_t i = 0; i < n; ++i) out.push_back(g.getObjnameByIdx(i));
      std::sort(out.begin(), out.end());
      return out;
    });
  }

  // Rejects members outside `allowed`, so a misspelt name is an error rather than ignored data.
  void only_members(const H5::Group& g, const std::string& path,
                    const std::vector<std::string>& allowed) const {
    for (const auto& m : members(g, path)) {
      if (std::find(allowed.begin(), allowed.end(), m) == allowed.end()) {
        fail(join_path(path, excerpt(m)),
             "unexpected object (allowed here: " +
                 (allowed.empty() ? std::string("none") : join_list(allowed)) + ")");
      }
    }
  }

  std::vector<hsize_t> dims(const H5::DataSet& ds, const std::string& path) const {
    return call(path, "cannot read shape", [&] {
      H5::DataSpace space = ds.getSpace();
      std::vector<hsize_t> out(static_cast<size_t>(std::max(space.getSimpleExtentNdims(), 0)));
      if (!out.empty()) space.getSimpleExtentDims(out.data());
      return out;
    });
  }

  H5T_class_t type_class(const H5::DataSet& ds, const std::string& path) const {
    return call(path, "cannot read type", [&] { return ds.getTypeClass(); });
  }

  // Element count of an attribute: 1 for a scalar, n for a rank-1 (n,) array, 0 for anything
  // else (a NULL dataspace, which has rank 0 like a scalar but no element to read).
  hsize_t attr_elements(const H5::Attribute& a, const std::string& p) const {
    return call(p, "cannot read shape", [&] {
      H5::DataSpace space = a.getSpace();
      const H5S_class_t kind = space.getSimpleExtentType();
      if (kind == H5S_SCALAR) return hsize_t{1};
      if (kind != H5S_SIMPLE) return hsize_t{0};
      const int rank = space.getSimpleExtentNdims();
      if (rank == 0) return hsize_t{1};
      hsize_t n = 0;
      if (rank == 1) space.getSimpleExtentDims(&n);
      return rank == 1 ? n : hsize_t{0};
    });
  }

  std::string attr_string(const H5::H5Object& obj, const char* name,
                          const std::string& path) const {
    const std::string p = path + " attribute " + name;
    H5::Attribute a = attribute(obj, name, path);
    if (call(p, "cannot read type", [&] { return a.getTypeClass(); }) != H5T_STRING) {
      fail(p, "expected a string");
    }
    if (attr_elements(a, p) != 1) fail(p, "expected a scalar string");
    check_string_attribute(obj, a, p);
    return call(p, "cannot read", [&] { return h5::read_string_attr(a); });
  }

  int attr_int(const H5::H5Object& obj, const char* name, const std::string& path) const {
    const std::string p = path + " attribute " + name;
    H5::Attribute a = attribute(obj, name, path);
    if (call(p, "cannot read type", [&] { return a.getTypeClass(); }) != H5T_INTEGER) {
      fail(p, "expected an integer");
    }
    require_standard_number(a, p);
    if (attr_elements(a, p) != 1) fail(p, "expected a scalar");
    int value = 0;
    call(p, "cannot read", [&] { a.read(H5::PredType::NATIVE_INT, &value); });
    return value;
  }

  // Float attribute of exactly n elements (scalar allowed for n == 1); any float width.
  void attr_floats(const H5::H5Object& obj, const char* name, const std::string& path, float* out,
                   hsize_t n) const {
    const std::string p = path + " attribute " + name;
    H5::Attribute a = attribute(obj, name, path);
    if (call(p, "cannot read type", [&] { return a.getTypeClass(); }) != H5T_FLOAT) {
      fail(p, "expected float32 values");
    }
    require_standard_number(a, p);
    const hsize_t got = attr_elements(a, p);
    if (got != n) {
      fail(p, "expected " + std::to_string(n) + " values, got " + std::to_string(got));
    }
    call(p, "cannot read", [&] { a.read(H5::PredType::NATIVE_FLOAT, out); });
  }

  // The length of a (n,) skeleton dataset, at most kMaxJoints.
  size_t joint_list_length(const H5::DataSet& ds, const std::string& p) const {
    const auto d = dims(ds, p);
    if (d.size() != 1) fail(p, "expected shape (n,), got " + shape_string(d));
    if (d[0] > static_cast<hsize_t>(kMaxJoints)) {
      fail(p, std::to_string(d[0]) + " entries (expected at most " + std::to_string(kMaxJoints) +
                  " joints)");
    }
    return static_cast<size_t>(d[0]);
  }

  std::vector<int> int_dataset(const H5::Group& g, const char* name,
                               const std::string& path) const {
    const std::string p = join_path(path, name);
    H5::DataSet ds = dataset(g, name, path);
    if (type_class(ds, p) != H5T_INTEGER) fail(p, "expected int32 values");
    require_standard_number(ds, p);
    std::vector<int> out(joint_list_length(ds, p));
    if (!out.empty()) {
      require_chunks_within(ds, p);
      call(p, "cannot read", [&] { ds.read(out.data(), H5::PredType::NATIVE_INT); });
    }
    return out;
  }

  std::vector<std::string> string_dataset(const H5::Group& g, const char* name,
                                          const std::string& path) const {
    const std::string p = join_path(path, name);
    H5::DataSet ds = dataset(g, name, path);
    if (type_class(ds, p) != H5T_STRING) fail(p, "expected strings");
    std::vector<std::string> out(joint_list_length(ds, p));
    if (out.empty()) return out;
    check_string_dataset(ds, p);
    require_chunks_within(ds, p);
    call(p, "cannot read", [&] {
      H5::StrType file_type = ds.getStrType();
      if (file_type.isVariableStr()) {
        H5::StrType mem(H5::PredType::C_S1, H5T_VARIABLE);
        mem.setCset(file_type.getCset());
        std::vector<char*> ptrs(out.size(), nullptr);
        ds.read(ptrs.data(), mem);
        for (size_t i = 0; i < out.size(); ++i) out[i] = ptrs[i] != nullptr ? ptrs[i] : "";
        H5::DataSpace space = ds.getSpace();
        H5Dvlen_reclaim(mem.getId(), space.getId(), H5P_DEFAULT, ptrs.data());
      } else {
        const size_t width = file_type.getSize();
        std::vector<char> buf(width * out.size() + 1, '\0');
        ds.read(buf.data(), file_type);
        for (size_t i = 0; i < out.size(); ++i) {
          out[i] = std::string(buf.data() + i * width, strnlen(buf.data() + i * width, width));
        }
      }
    });
    return out;
  }

  // A pose dataset of shape (N, J[, F]); returns N after checking the shape. Reads the values
  // only when `values` is non-null.
  int64_t pose_dataset(const H5::Group& g, const std::string& name, const std::string& path,
                       int joints, int features, std::vector<float>* values) const {
    const std::string p = join_path(path, name);
    H5::DataSet ds = dataset(g, name, path);
    if (type_class(ds, p) != H5T_FLOAT) fail(p, "expected float32 values");
    require_standard_number(ds, p);
    const auto d = dims(ds, p);
    const size_t rank = features > 1 ? 3 : 2;
    const std::string expected = "(N, " + std::to_string(joints) +
                                 (features > 1 ? ", " + std::to_string(features) : "") + ")";
    if (d.size() != rank || d[1] != static_cast<hsize_t>(joints) ||
        (rank == 3 && d[2] != static_cast<hsize_t>(features))) {
      fail(p, "expected " + expected + ", got " + shape_string(d));
    }
    if (d[0] == 0) fail(p, "0 frames (an action needs at least one)");
    // Before anything is allocated: a few KB of file can declare any size, and frames x joints x
    // features can wrap around 64 bits. joints <= kMaxJoints, so the product below fits.
    if (d[0] > static_cast<hsize_t>(kMaxFrames)) {
      fail(p, std::to_string(d[0]) + " frames (expected at most " + std::to_string(kMaxFrames) +
                  " per action)");
    }
    if (values != nullptr) {
      require_chunks_within(ds, p);
      const size_t count =
          static_cast<size_t>(d[0]) * static_cast<size_t>(joints) * static_cast<size_t>(features);
      try {
        values->resize(count);
      } catch (const std::bad_alloc&) {
        fail(p, "out of memory for " + shape_string(d) + " float32 values (" +
                    std::to_string(count * sizeof(float) >> 20) + " MiB)");
      }
      call(p, "cannot read values", [&] { ds.read(values->data(), H5::PredType::NATIVE_FLOAT); });
    }
    return static_cast<int64_t>(d[0]);
  }

  // The canonical decimal spelling only, so that two names ("0" and "00") can never be one camera.
  int camera_index(const std::string& name, const std::string& path) const {
    const bool digits =
        !name.empty() && name.size() < 6 &&
        std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        (name[0] != '0' || name.size() == 1);
    if (!digits) {
      fail(join_path(path, excerpt(name)),
           "not a camera name (expected an index written 0, 1, 2, ... without leading zeros)");
    }
    return *parse_integer<int>(name);
  }
};

Camera read_camera(const Reader& r, const H5::Group& g, const std::string& path) {
  Camera cam;
  cam.id = r.attr_string(g, "id", path);
  cam.res_w = r.attr_int(g, "res_w", path);
  cam.res_h = r.attr_int(g, "res_h", path);
  r.attr_floats(g, "focal", path, cam.focal.data(), 2);
  r.attr_floats(g, "center", path, cam.center.data(), 2);
  r.attr_floats(g, "radial", path, cam.radial.data(), 3);
  r.attr_floats(g, "tangential", path, cam.tangential.data(), 2);
  r.attr_floats(g, "orientation", path, cam.orientation.data(), 4);
  r.attr_floats(g, "translation", path, cam.translation.data(), 3);
  const int has = r.attr_int(g, "has_extrinsics", path);
  if (has != 0 && has != 1) {
    r.fail(path + " attribute has_extrinsics", "expected 0 or 1, got " + std::to_string(has));
  }
  cam.has_extrinsics = has == 1;
  return cam;
}

// Reads the camera-indexed pose datasets of group `name` (positions_2d or confidence_2d).
void read_per_camera(const Reader& r, const H5::Group& action, const std::string& action_path,
                     const char* name, int joints, int features, bool read_values, int64_t& frames,
                     std::map<int, std::vector<float>>& out) {
  if (!r.has(action, name, action_path)) return;
  const std::string gp = join_path(action_path, name);
  H5::Group g = r.group(action, name, action_path);
  for (const auto& m : r.members(g, gp)) {
    const int k = r.camera_index(m, gp);
    std::vector<float> values;
    const int64_t n = r.pose_dataset(g, m, gp, joints, features, read_values ? &values : nullptr);
    if (frames == 0) frames = n;
    if (n != frames) {
      r.fail(join_path(gp, m), "expected " + std::to_string(frames) +
                                   " frames (as positions_3d), got " + std::to_string(n));
    }
    if (read_values) out[k] = std::move(values);
  }
}

bool action_selected(const std::string& action, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return true;
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return action.compare(0, p.size(), p) == 0; });
}

Dataset read_contents(const Reader& r, H5::H5File& file, const ReadFilter& filter) {
  Dataset d;
  H5::Group root = r.call("/", "cannot open root group", [&] { return file.openGroup("/"); });

  // Identify the file before anything else, so a foreign HDF5 file gets a clear message.
  r.check_attributes(root, "/");
  const bool has_format = r.call("/", "cannot look up", [&] { return root.attrExists("format"); });
  if (!has_format) r.fail("/", "missing attribute 'format' (not a v3d-pose file)");
  const std::string format = r.attr_string(root, "format", "/");
  if (format != kFormatName) {
    r.fail("/ attribute format",
           "expected \"" + std::string(kFormatName) + "\", got \"" + format + "\"");
  }
  const int version = r.attr_int(root, "version", "/");
  if (version != kFormatVersion) {
    r.fail("/ attribute version", "unsupported format version " + std::to_string(version) +
                                      " (this build reads " + std::to_string(kFormatVersion) +
                                      (version > kFormatVersion ? "; update v3d)" : ")"));
  }
  r.attr_floats(root, "fps", "/", &d.fps, 1);
  const bool has_layout_2d =
      r.call("/", "cannot look up", [&] { return root.attrExists("keypoints_2d"); });
  if (has_layout_2d) {
    d.keypoints_2d = r.attr_string(root, "keypoints_2d", "/");
    if (d.keypoints_2d != "coco17" && d.keypoints_2d != "mpii16") {
      r.fail("/ attribute keypoints_2d", "'" + excerpt(d.keypoints_2d) +
                                             "' (expected coco17 or mpii16, or no attribute for "
                                             "2D in the skeleton's layout)");
    }
  }
  r.only_members(root, "/", {"skeleton", "subjects"});

  H5::Group sk = r.group(root, "skeleton", "/");
  r.only_members(sk, "/skeleton", {"joint_names", "joints_left", "joints_right", "parents"});
  d.skeleton.name = r.attr_string(sk, "name", "/skeleton");
  d.skeleton.joint_names = r.string_dataset(sk, "joint_names", "/skeleton");
  d.skeleton.parents = r.int_dataset(sk, "parents", "/skeleton");
  d.skeleton.joints_left = r.int_dataset(sk, "joints_left", "/skeleton");
  d.skeleton.joints_right = r.int_dataset(sk, "joints_right", "/skeleton");
  const int J = d.skeleton.num_joints();
  if (J == 0) r.fail("/skeleton/joint_names", "no joints");
  // The 2D's keypoints: its own layout's (checked against the skeleton by validate()).
  const int K = d.keypoints_2d.empty() ? J : Skeleton::by_name(d.keypoints_2d).num_joints();

  H5::Group subjects = r.group(root, "subjects", "/");
  std::vector<std::string> names = r.members(subjects, "/subjects");
  if (!filter.subjects.empty()) {
    for (const auto& s : filter.subjects) {
      if (std::find(names.begin(), names.end(), s) == names.end()) {
        r.fail("/subjects/" + s, "subject not in file (have " + join_list(names) + ")");
      }
    }
    names = filter.subjects;
  }
  std::set<std::string> prefixes_used;
  for (const auto& s_name : names) {
    const std::string sp = "/subjects/" + s_name;
    H5::Group s = r.group(subjects, s_name, "/subjects");
    r.only_members(s, sp, {"actions", "cameras"});
    SubjectData& subject = d.subjects[s_name];

    const std::string cp = sp + "/cameras";
    H5::Group cameras = r.group(s, "cameras", sp);
    for (const auto& c_name : r.members(cameras, cp)) {
      const int k = r.camera_index(c_name, cp);
      H5::Group c = r.group(cameras, c_name, cp);
      r.only_members(c, join_path(cp, c_name), {});  // a camera is its attributes
      subject.cameras[k] = read_camera(r, c, join_path(cp, c_name));
    }

    const std::string ap = sp + "/actions";
    H5::Group actions = r.group(s, "actions", sp);
    for (const auto& a_name : r.members(actions, ap)) {
      if (!action_selected(a_name, filter.actions)) continue;
      for (const auto& p : filter.actions) {
        if (a_name.compare(0, p.size(), p) == 0) prefixes_used.insert(p);
      }
      const std::string path = join_path(ap, a_name);
      H5::Group a = r.group(actions, a_name, ap);
      r.only_members(a, path, {"confidence_2d", "positions_2d", "positions_3d"});
      ActionData action;
      if (r.has(a, "positions_3d", path)) {
        action.frames = r.pose_dataset(a, "positions_3d", path, J, 3, &action.positions_3d);
      }
      // Shapes of the 2D data are checked even when its values are not read.
      read_per_camera(r, a, path, "positions_2d", K, 2, filter.positions_2d, action.frames,
                      action.positions_2d);
      read_per_camera(r, a, path, "confidence_2d", K, 1, filter.positions_2d, action.frames,
                      action.confidence_2d);
      if (action.frames == 0) r.fail(path, "neither positions_3d nor positions_2d");
      // A 2D-only action carries nothing when 2D is not asked for.
      if (action.positions_3d.empty() && !filter.positions_2d) continue;
      subject.actions[a_name] = std::move(action);
    }
  }
  for (const auto& p : filter.actions) {
    if (prefixes_used.count(p) == 0) {
      r.fail("/subjects", "no action starts with \"" + p + "\" in the selected subjects");
    }
  }
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const Skeleton& Dataset::skeleton_2d() const {
  return keypoints_2d.empty() ? skeleton : Skeleton::by_name(keypoints_2d);
}

void Dataset::validate() const {
  try {
    skeleton.validate();
  } catch (const Error& e) {
    throw Error(std::string("/skeleton: ") + e.what());
  }
  // A file names one of the skeletons of data/skeleton.h, and is that skeleton: a model reads
  // channels by position, so a reordered or renamed joint list would be silently misread.
  const Skeleton* known = nullptr;
  for (const Skeleton* k : {&Skeleton::h36m17(), &Skeleton::coco17()})
    if (k->name == skeleton.name) known = k;
  V3D_REQUIRE(known != nullptr, "/skeleton attribute name: unknown skeleton '"
                                    << excerpt(skeleton.name) << "' (expected h36m17 or coco17)");
  const char* differs = skeleton.joint_names != known->joint_names     ? "joint_names"
                        : skeleton.parents != known->parents           ? "parents"
                        : skeleton.joints_left != known->joints_left   ? "joints_left"
                        : skeleton.joints_right != known->joints_right ? "joints_right"
                                                                       : nullptr;
  V3D_REQUIRE(differs == nullptr, "/skeleton/" << differs << ": differs from the " << known->name
                                               << " skeleton (expected its joints as "
                                                  "docs/data-format.md lists them)");
  const int J = skeleton.num_joints();
  V3D_CHECK(J > 0, "/skeleton: no joints");
  V3D_CHECK(keypoints_2d.empty() || ((keypoints_2d == "coco17" || keypoints_2d == "mpii16") &&
                                     skeleton.name == "h36m17"),
            "/ attribute keypoints_2d: '" << excerpt(keypoints_2d)
                                          << "' (expected coco17 or mpii16 with the h36m17 "
                                             "skeleton, or none)");
  const int K = skeleton_2d().num_joints();
  V3D_CHECK(std::isfinite(fps) && fps > 0, "/ attribute fps: must be positive, got " << fps);
  for (const auto& [s_name, subject] : subjects) {
    const std::string sp = "/subjects/" + s_name;
    check_name(s_name, sp);
    for (const auto& [k, cam] : subject.cameras) {
      V3D_CHECK(k >= 0, sp << "/cameras/" << k << ": camera index must be >= 0");
      validate_camera(cam, sp + "/cameras/" + std::to_string(k));
    }
    for (const auto& [a_name, action] : subject.actions) {
      const std::string ap = sp + "/actions/" + a_name;
      check_name(a_name, ap);
      V3D_CHECK(action.frames > 0, ap << ": " << action.frames << " frames (need at least one)");
      V3D_REQUIRE(action.frames <= kMaxFrames, ap << ": " << action.frames
                                                  << " frames (expected at most " << kMaxFrames
                                                  << " per action)");
      V3D_CHECK(!action.positions_3d.empty() || !action.positions_2d.empty(),
                ap << ": neither positions_3d nor positions_2d");
      if (!action.positions_3d.empty()) {
        check_size(action.positions_3d, action.frames, J, 3, ap + "/positions_3d");
        check_finite(action.positions_3d, J, 3, ap + "/positions_3d");
      }
      for (const auto& [k, xy] : action.positions_2d) {
        const std::string p = ap + "/positions_2d/" + std::to_string(k);
        V3D_CHECK(k >= 0, p << ": camera index must be >= 0");
        check_size(xy, action.frames, K, 2, p);
        check_finite(xy, K, 2, p);
      }
      for (const auto& [k, c] : action.confidence_2d) {
        const std::string p = ap + "/confidence_2d/" + std::to_string(k);
        V3D_CHECK(action.positions_2d.count(k) == 1,
                  p << ": confidence without positions_2d/" << k);
        check_size(c, action.frames, K, 1, p);
        check_finite(c, K, 1, p);
      }
    }
  }
}

void write_dataset(const Dataset& dataset, const std::string& path) {
  silence_hdf5();
  // Validate before touching the file system, so an existing file is never replaced by bad data.
  try {
    dataset.validate();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  h5::write_file_atomically(path, [&](H5::H5File& file) { write_contents(dataset, file); });
}

Dataset read_dataset(const std::string& path, const ReadFilter& filter) {
  silence_hdf5();
  const Reader r(path);
  H5::H5File file = r.open();
  Dataset d = read_contents(r, file, filter);
  try {
    d.validate();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return d;
}

}  // namespace v3d::data
