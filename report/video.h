// Video files from RGB frames through FFmpeg's libraries (libavformat, libavcodec, libswscale), and
// frames from video files:
// MP4 with H.264 (libx264 when FFmpeg has it, else FFmpeg's own MPEG-4 part 2) in yuv420p, or GIF
// in FFmpeg's RGB 3-3-2 palette. Built only where FFmpeg's development files were found
// (V3D_HAVE_FFMPEG); report/render.h is what the commands use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace v3d::report {

enum class VideoFormat { kMp4, kGif };

class VideoWriter {
 public:
  // Opens `file` for frames of width x height (both even) at `fps`; `path` names the target in
  // errors ("<path>: cannot encode video (<FFmpeg's reason>)"), `file` is where the bytes go (the
  // temporary file of an atomic write).
  VideoWriter(const std::string& path, const std::string& file, VideoFormat format, int width,
              int height, double fps);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // One frame, width x height pixels of 4 bytes in cairo's ARGB32 order (B, G, R, A in memory on
  // little-endian machines), rows `stride` bytes apart.
  void add_frame(const uint8_t* bgra, int stride);
  // Flushes the encoder and writes the trailer; the file is complete after it.
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Frames of a video file, decoded in order (libavformat, libavcodec) and converted to cairo's
// ARGB32 pixels (libswscale). Errors: "<path>: cannot decode video (<what>: <FFmpeg's reason>)".
class VideoReader {
 public:
  explicit VideoReader(const std::string& path);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  int width() const;
  int height() const;
  // Frame `index` (0 = the first decoded) as width x height ARGB32 pixels, rows width * 4 bytes
  // apart; false when the video ends before it. Reading an earlier frame than the last one read
  // decodes the video again from its start.
  bool read(int64_t index, std::vector<uint32_t>& pixels);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace v3d::report
