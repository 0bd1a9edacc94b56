// The ONNX export of the folded inference model (report/onnx_export.h).
#include "report/onnx_export.h"

#include <limits>
#include <vector>

#include "data/atomic_file.h"
#include "kernels/common.h"
#include "onnx.pb.h"

namespace v3d {

namespace {

constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 7;  // the IR version of opset 13

// The nodes and initializers of the graph under construction, with fresh value names.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* graph) : g_(graph) {}

  std::string name(const std::string& stem) { return stem + "_" + std::to_string(next_++); }

  std::string floats(const std::string& stem, const std::vector<int64_t>& dims,
                     const std::vector<float>& values) {
    const std::string n = name(stem);
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(n);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->mutable_float_data()->Add(values.begin(), values.end());
    return n;
  }
  std::string floats(const std::string& stem, const Tensor& tensor) {
    const std::vector<float> values = tensor.to_vector();
    return floats(stem, tensor.shape().to_vector(), values);
  }
  std::string ints(const std::string& stem, const std::vector<int64_t>& values) {
    const std::string n = name(stem);
    onnx::TensorProto* t = g_->add_initializer();
    t->set_name(n);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    t->mutable_int64_data()->Add(values.begin(), values.end());
    return n;
  }

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output) {
    onnx::NodeProto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(output);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output);
    return n;
  }
  std::string op(const std::string& op_type, const std::vector<std::string>& inputs) {
    const std::string out = name(op_type);
    node(op_type, inputs, out);
    return out;
  }
  static void ints_attr(onnx::NodeProto* n, const std::string& attr,
                        const std::vector<int64_t>& values) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(attr);
    a->set_type(onnx::AttributeProto::INTS);
    a->mutable_ints()->Add(values.begin(), values.end());
  }

  // Conv over time: x (1, C_in, T), w (C_out, C_in, K), bias (C_out), dilation d; no padding.
  std::string conv(const std::string& x, const ops::FoldedConv& c, int64_t dilation) {
    const std::string w = floats("weight", c.weight), b = floats("bias", c.bias);
    const std::string out = name("Conv");
    onnx::NodeProto* n = node("Conv", {x, w, b}, out);
    ints_attr(n, "kernel_shape", {c.weight.shape()[2]});
    ints_attr(n, "dilations", {dilation});
    ints_attr(n, "strides", {1});
    ints_attr(n, "pads", {0, 0});
    return out;
  }

  std::string transpose(const std::string& x) {
    const std::string out = name("Transpose");
    ints_attr(node("Transpose", {x}, out), "perm", {0, 2, 1});
    return out;
  }

  static void value_info(onnx::ValueInfoProto* v, const std::string& value,
                         const std::string& dynamic_dim, int64_t joints, int64_t coords) {
    v->set_name(value);
    onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    onnx::TensorShapeProto* s = t->mutable_shape();
    s->add_dim()->set_dim_param(dynamic_dim);
    s->add_dim()->set_dim_value(joints);
    s->add_dim()->set_dim_value(coords);
  }

 private:
  onnx::GraphProto* g_;
  int next_ = 0;
};

}  // namespace

std::string onnx_model(const FoldedWeights& weights, const OnnxExport& options) {
  const DilatedBlocks blocks(weights);
  const int64_t c_in = int64_t{options.joints_in} * 2, c_out = int64_t{options.joints_out} * 3;
  V3D_CHECK(blocks.in_channels() == c_in, "onnx export: the model reads "
                                              << blocks.in_channels() << " channels, not "
                                              << options.joints_in << " keypoints x 2");
  V3D_CHECK(weights.head_weight.shape()[0] == c_out,
            "onnx export: the model writes " << weights.head_weight.shape()[0] << " channels, not "
                                             << options.joints_out << " joints x 3");
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("v3d");
  model.set_producer_version(options.producer_version);
  model.set_doc_string(
      "VideoPose3D temporal model, BN folded, dilated form; input keypoints (T, J, 2) normalised "
      "as v3d infer does, output poses_3d (T_out, J, 3) metres");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(weights.causal ? "v3d_causal" : "v3d");
  GraphBuilder b(graph);

  const int64_t rf = blocks.receptive_field();
  const bool sequence = options.form == OnnxForm::kSequence;
  // (T, J_in, 2) -> (1, T, C_in) -> (1, C_in, T)
  std::string h = b.op("Reshape", {"keypoints", b.ints("shape", {1, -1, c_in})});
  h = b.transpose(h);
  if (sequence) {
    const int64_t pad = (rf - 1) / 2, shift = weights.causal ? pad : 0;
    const std::string out = b.name("Pad");
    onnx::NodeProto* n =
        b.node("Pad", {h, b.ints("pads", {0, 0, pad + shift, 0, 0, pad - shift})}, out);
    onnx::AttributeProto* mode = n->add_attribute();
    mode->set_name("mode");
    mode->set_type(onnx::AttributeProto::STRING);
    mode->set_s("edge");
    h = out;
  }
  h = b.op("Relu", {b.conv(h, weights.convs.at(0), 1)});
  for (size_t i = 1; i < blocks.size(); ++i) {
    const int64_t d = blocks.dilation(i);
    std::string y = b.op("Relu", {b.conv(h, weights.convs.at(2 * i - 1), d)});
    y = b.op("Relu", {b.conv(y, weights.convs.at(2 * i), 1)});
    // The residual: rows [p + s, T - p + s) of the block's input.
    const int64_t p = (blocks.width(i) - 1) * d / 2, s = weights.causal ? p : 0;
    const int64_t end = p - s > 0 ? -(p - s) : std::numeric_limits<int64_t>::max();
    const std::string res =
        b.op("Slice", {h, b.ints("starts", {p + s}), b.ints("ends", {end}), b.ints("axes", {2})});
    h = b.op("Add", {res, y});
  }
  h = b.conv(h, ops::FoldedConv{weights.head_weight, weights.head_bias}, 1);
  // (1, J_out * 3, T_out) -> (1, T_out, J_out * 3) -> (T_out, J_out, 3)
  h = b.transpose(h);
  b.node("Reshape", {h, b.ints("shape", {-1, options.joints_out, 3})}, "poses_3d");

  GraphBuilder::value_info(graph->add_input(), "keypoints", "frames", options.joints_in, 2);
  GraphBuilder::value_info(graph->add_output(), "poses_3d", sequence ? "frames" : "out_frames",
                           options.joints_out, 3);
  std::string bytes;
  V3D_CHECK(model.SerializeToString(&bytes), "onnx export: the model does not serialise");
  return bytes;
}

void write_onnx(const std::string& path, const FoldedWeights& weights, const OnnxExport& options) {
  const std::string bytes = onnx_model(weights, options);
  data::write_bytes_atomically(path, bytes.data(), bytes.size());
}

}  // namespace v3d
