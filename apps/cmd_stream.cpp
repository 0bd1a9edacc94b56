// v3d stream: 2D keypoints frame by frame (JSON lines on stdin, a file or a loopback TCP socket)
// through a causal checkpoint's model, one 3D pose per input frame as a JSON line on stdout, as
// they arrive: data/infer_input.h parses a line, trainer/stream.h runs the model incrementally
// (one TrackStream, and with --ltb on one online bank, per track id).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/app_util.h"
#include "apps/commands.h"
#include "data/camera.h"
#include "data/infer_input.h"
#include "kernels/common.h"
#include "kernels/text.h"
#include "runtime/temporal_conv.h"
#include "trainer/restore.h"
#include "trainer/stream.h"

namespace v3d::apps {

namespace {

struct StreamArgs {
  std::string blas, checkpoint, input = "-", res = "1000x1002", ltb;
  int listen = 0, connections = 0, max_tracks = 64;
  bool no_flip = false, bf16_weights = false;
  int threads = 0;
  double spin_ms = 50.0;
  std::vector<std::string> overrides;
};

// Every track's state, created at its first line.
class Streamer {
 public:
  Streamer(const StreamModel& model, int res_w, int res_h, int max_tracks)
      : model_(model), res_w_(res_w), res_h_(res_h), max_tracks_(max_tracks) {}

  // One input line: its pose on stdout, or one error line on stderr (the stream goes on).
  void line(const std::string& text) {
    ++lines_;
    if (text.find_first_not_of(" \t\r") == std::string::npos) return;  // blank
    try {
      const data::StreamFrame f = data::parse_stream_frame(text, model_.keypoints());
      auto it = tracks_.find(f.track);
      if (it == tracks_.end()) {
        if (static_cast<int>(tracks_.size()) >= max_tracks_)
          throw Error("track " + excerpt(f.track, 40) + ": more than " +
                      std::to_string(max_tracks_) + " tracks (--max-tracks)");
        it = tracks_.emplace(f.track, std::make_unique<TrackStream>(model_)).first;
      }
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<float> xy =
          data::normalize_screen_coordinates(f.keypoints_px, res_w_, res_h_);
      StreamStep step;
      const std::vector<float> pose = it->second->push(xy, &step);
      latency_.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      write(f.track, step, pose);
      it->second->prepare_next();  // what later frames need, while the next line is awaited
      ++frames_;
      fused_ += step.fused;
    } catch (const Error& e) {
      ++errors_;
      std::fprintf(stderr, "v3d: stream: line %lld: %s\n", static_cast<long long>(lines_),
                   excerpt(e.what(), 300).c_str());
      std::fflush(stderr);
    }
  }

  void summary() const {
    std::vector<double> l = latency_;
    std::sort(l.begin(), l.end());
    const double median = l.empty() ? 0.0 : l[l.size() / 2];
    std::fprintf(
        stderr,
        "Streamed %lld frames of %zu track(s), %lld line(s) refused; median %.3f ms per "
        "frame%s\n",
        static_cast<long long>(frames_), tracks_.size(), static_cast<long long>(errors_), median,
        model_.options().ltb ? (", " + std::to_string(fused_) + " fused with the bank").c_str()
                             : "");
  }

 private:
  void write(const std::string& track, const StreamStep& step, const std::vector<float>& pose) {
    std::string out = "{\"track\":" + track + ",\"frame\":" + std::to_string(step.frame);
    if (model_.options().ltb) out += std::string(",\"fused\":") + (step.fused ? "true" : "false");
    out += ",\"joints\":[";
    char buf[96];
    for (size_t j = 0; j * 3 < pose.size(); ++j) {
      std::snprintf(buf, sizeof(buf), "%s[%.9g,%.9g,%.9g]", j == 0 ? "" : ",",
                    static_cast<double>(pose[j * 3]), static_cast<double>(pose[j * 3 + 1]),
                    static_cast<double>(pose[j * 3 + 2]));
      out += buf;
    }
    out += "]}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);  // each pose leaves as soon as it is computed
  }

  const StreamModel& model_;
  int res_w_, res_h_, max_tracks_;
  std::map<std::string, std::unique_ptr<TrackStream>> tracks_;
  std::vector<double> latency_;
  int64_t lines_ = 0, frames_ = 0, errors_ = 0, fused_ = 0;
};

// Lines of a stream (a file, stdin) until its end.
void read_lines(std::istream& in, Streamer& s) {
  std::string text;
  while (std::getline(in, text)) s.line(text);
}

// Lines from loopback TCP clients, one connection after the other (each line ends with '\n').
void serve(int port, int connections, Streamer& s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("--listen: cannot create a socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 4) != 0) {
    ::close(fd);
    throw Error("--listen: cannot listen on 127.0.0.1:" + std::to_string(port) +
                " (is the port in use?)");
  }
  std::fprintf(stderr, "Listening on 127.0.0.1:%d\n", port);
  std::fflush(stderr);
  for (int served = 0; connections == 0 || served < connections; ++served) {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) continue;
    std::string pending;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      pending.append(buf, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
        s.line(pending.substr(start, nl - start));
      pending.erase(0, start);
    }
    if (!pending.empty()) s.line(pending);  // a last line without its newline
    ::close(c);
  }
  ::close(fd);
}

void run_stream(const StreamArgs& a) {
  const auto [res_w, res_h] = parse_res(a.res);
  if (a.listen < 0 || a.listen > 65535)
    throw Error("--listen: a port in [1, 65535], got " + std::to_string(a.listen));
  if (a.max_tracks < 1)
    throw Error("--max-tracks: must be >= 1, got " + std::to_string(a.max_tracks));
  if (a.threads < 0 || a.threads > 1024)
    throw Error("--threads: 0 (OpenMP's count) to 1024, got " + std::to_string(a.threads));
  if (!std::isfinite(a.spin_ms) || a.spin_ms < 0.0 || a.spin_ms > 3.6e6)
    throw Error("--spin-ms: 0 to 3600000, got " + std::to_string(a.spin_ms));
  if (!a.ltb.empty() && a.ltb != "on" && a.ltb != "off")
    throw Error("--ltb: on or off, got " + excerpt(a.ltb, 40));
  std::vector<std::string> overrides = a.overrides;
  overrides.push_back("device=cpu");  // the stream is a CPU path
  const RestoredModel m = restore_model(a.checkpoint, overrides, std::nullopt);
  const ops::ConvBackendGuard conv_backend(m.config.model.conv_backend);
  const ops::ConvTileGuard conv_tile(m.config.model.conv_tile);
  if (!m.config.model.causal)
    throw Error(a.checkpoint +
                ": the model is not causal (model.causal: false); v3d stream needs a causal "
                "model, whose window ends at the frame it predicts");
  StreamOptions so;
  so.flip_tta = !a.no_flip;
  so.ltb = a.ltb.empty() ? m.config.ltb.enabled : a.ltb == "on";
  so.ltb_options = ltb_options(m.config.ltb);
  so.bf16_weights = a.bf16_weights;
  so.threads = a.threads;
  so.spin_ms = a.spin_ms;
  const StreamModel model(*m.model, *m.keypoints, *m.joints, so);
  std::fprintf(stderr,
               "Streaming: receptive field %lld frames (causal); %s keypoints; flip TTA %s; "
               "online long-term bank %s; %s weights; %s products on %d threads\n",
               static_cast<long long>(model.receptive_field()), m.keypoints->name.c_str(),
               so.flip_tta ? "on" : "off", so.ltb ? "on" : "off",
               so.bf16_weights ? "bf16" : "float32", model.products(), model.threads());
  std::fflush(stderr);
  Streamer s(model, res_w, res_h, a.max_tracks);
  if (a.listen != 0) {
    serve(a.listen, a.connections, s);
  } else if (a.input == "-") {
    read_lines(std::cin, s);
  } else {
    std::ifstream f(a.input);
    if (!f) throw Error(a.input + ": cannot open");
    read_lines(f, s);
  }
  s.summary();
}

}  // namespace

void add_stream_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "stream",
      "Lift 2D keypoints to 3D poses frame by frame as they arrive, with a causal checkpoint: one "
      "JSON line in, one JSON line out, several tracks interleaved");
  cmd->footer(
      "Input: one JSON object per line, {\"track\": \"cam0\" or 7, \"keypoints\": [x1, y1, ...] "
      "(pixels of a --res image, the checkpoint's keypoint order; x, y, score triples too), "
      "\"scores\": [...] (optional, ignored)}. Output (stdout): {\"track\": ..., \"frame\": N, "
      "\"joints\": [[x, y, z], ...]} per frame (camera space, root-relative, metres; frame "
      "counts the track's lines from 0). A bad line gets one error line on stderr and the "
      "stream goes on.");
  auto args = std::make_shared<StreamArgs>();
  cmd->add_option("--checkpoint", args->checkpoint, "Checkpoint (.h5) of a causal model")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", args->input, "File of JSON lines, or - for stdin")
      ->capture_default_str();
  cmd->add_option("--listen", args->listen,
                  "Read the lines from TCP clients on 127.0.0.1:PORT instead (one connection "
                  "after the other; the tracks persist across connections)");
  cmd->add_option("--connections", args->connections,
                  "With --listen: stop after N connections (0: serve until killed)")
      ->capture_default_str();
  cmd->add_option("--res", args->res, "Image size WIDTHxHEIGHT of the pixels")
      ->capture_default_str();
  cmd->add_option("--ltb", args->ltb,
                  "on or off: the online long-term pose bank per track (default: the "
                  "checkpoint's ltb.enabled; docs/long-term-bank.md)");
  cmd->add_option("--max-tracks", args->max_tracks, "Most tracks at once (each holds its caches)")
      ->capture_default_str();
  cmd->add_flag("--no-flip", args->no_flip, "Turn off test-time flip augmentation");
  cmd->add_flag("--bf16-weights", args->bf16_weights,
                "Round the convolutions' weights to bf16 and read them as bf16: half the memory "
                "traffic per frame, outputs within docs/cli.md's bound of the float32 model's");
  cmd->add_option("--threads", args->threads,
                  "Threads for a frame's products (0: OpenMP's count, OMP_NUM_THREADS or the "
                  "cores)")
      ->capture_default_str();
  cmd->add_option("--spin-ms", args->spin_ms,
                  "How long the helper threads poll for the next frame before they sleep: a core "
                  "kept busy while a stream runs, against wake-ups of up to milliseconds (0: "
                  "sleep at once)")
      ->capture_default_str();
  cmd->add_option("--set", args->overrides,
                  "Override of the checkpoint's config, key.sub=value (repeatable), e.g. "
                  "ltb.capacity=40");
  add_blas_option(*cmd, args->blas);
  cmd->callback([args] {
    apply_blas(args->blas);
    run_stream(*args);
  });
}

}  // namespace v3d::apps
