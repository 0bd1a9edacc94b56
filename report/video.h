// Video files from RGB frames through FFmpeg's libraries (libavformat, libavcodec, libswscale):
// MP4 with H.264 (libx264 when FFmpeg has it, else FFmpeg's own MPEG-4 part 2) in yuv420p, or GIF
// in FFmpeg's RGB 3-3-2 palette. Built only where FFmpeg's development files were found
// (V3D_HAVE_FFMPEG); report/render.h is what the commands use.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

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

}  // namespace v3d::report
