// FFmpeg's encode API (send_frame / receive_packet) into a muxer writing `file`.
#include "report/video.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "kernels/common.h"

namespace v3d::report {
namespace {

// Throws "<path>: cannot <verb> video (<what>: <FFmpeg's reason>)" for a negative status.
void check_av(int status, const std::string& path, const char* verb, const char* what) {
  if (status >= 0) return;
  char reason[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(status, reason, sizeof(reason));
  throw Error(path + ": cannot " + verb + " video (" + what + ": " + reason + ")");
}
void require_av(bool ok, const std::string& path, const char* verb, const char* what) {
  if (!ok) throw Error(path + ": cannot " + verb + " video (" + what + ")");
}

}  // namespace

struct VideoWriter::Impl {
  std::string path;
  int width = 0, height = 0;
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  SwsContext* sws = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  int64_t next_pts = 0;
  bool finished = false;

  ~Impl() {
    if (format != nullptr && format->pb != nullptr) avio_closep(&format->pb);
    avformat_free_context(format);
    avcodec_free_context(&codec);
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
  }

  void check(int status, const char* what) const { check_av(status, path, "encode", what); }
  void require(bool ok, const char* what) const { require_av(ok, path, "encode", what); }

  // Every packet the encoder has ready, into the file.
  void drain() {
    for (;;) {
      const int status = avcodec_receive_packet(codec, packet);
      if (status == AVERROR(EAGAIN) || status == AVERROR_EOF) return;
      check(status, "encode");
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check(av_interleaved_write_frame(format, packet), "write");
    }
  }
};

VideoWriter::VideoWriter(const std::string& path, const std::string& file, VideoFormat format,
                         int width, int height, double fps)
    : impl_(std::make_unique<Impl>()) {
  Impl& v = *impl_;
  v.path = path;
  v.width = width;
  v.height = height;
  V3D_CHECK(width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0,
            path << ": video size " << width << "x" << height << " must be even and positive");
  V3D_CHECK(fps > 0, path << ": fps " << fps << " must be positive");
  const bool gif = format == VideoFormat::kGif;
  av_log_set_level(AV_LOG_ERROR);  // no encoder statistics on the command's output
  v.check(avformat_alloc_output_context2(&v.format, nullptr, gif ? "gif" : "mp4", file.c_str()),
          "muxer");
  const AVCodec* encoder = nullptr;
  if (gif) {
    encoder = avcodec_find_encoder(AV_CODEC_ID_GIF);
  } else {
    encoder = avcodec_find_encoder_by_name("libx264");
    if (encoder == nullptr) encoder = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  }
  v.require(encoder != nullptr, gif ? "FFmpeg has no GIF encoder" : "FFmpeg has no MP4 encoder");
  v.stream = avformat_new_stream(v.format, nullptr);
  v.codec = avcodec_alloc_context3(encoder);
  v.frame = av_frame_alloc();
  v.packet = av_packet_alloc();
  v.require(v.stream != nullptr && v.codec != nullptr && v.frame != nullptr && v.packet != nullptr,
            "out of memory");
  const AVRational rate = av_d2q(fps, 100000);
  v.codec->width = width;
  v.codec->height = height;
  v.codec->time_base = av_inv_q(rate);
  v.codec->framerate = rate;
  v.codec->pix_fmt = gif ? AV_PIX_FMT_RGB8 : AV_PIX_FMT_YUV420P;
  if (v.format->oformat->flags & AVFMT_GLOBALHEADER) {
    v.codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  // libx264's fast preset: rendering, not compression, should set the pace. No B-frames: every
  // frame's presentation time is its decoding time, so players and probes count each frame from
  // the first (with B-frames the MP4 edit list that shifts the negative decoding times hides one).
  if (std::string(encoder->name) == "libx264") av_opt_set(v.codec->priv_data, "preset", "fast", 0);
  v.codec->max_b_frames = 0;
  v.check(avcodec_open2(v.codec, encoder, nullptr), "open the encoder");
  v.stream->time_base = v.codec->time_base;
  v.stream->avg_frame_rate = rate;
  v.check(avcodec_parameters_from_context(v.stream->codecpar, v.codec), "stream parameters");
  v.sws = sws_getContext(width, height, AV_PIX_FMT_RGB32, width, height, v.codec->pix_fmt,
                         SWS_BILINEAR, nullptr, nullptr, nullptr);
  v.require(v.sws != nullptr, "no conversion from RGB to the encoder's pixels");
  v.frame->format = v.codec->pix_fmt;
  v.frame->width = width;
  v.frame->height = height;
  v.check(av_frame_get_buffer(v.frame, 0), "frame buffer");
  v.check(avio_open(&v.format->pb, file.c_str(), AVIO_FLAG_WRITE), "open the file");
  // No MP4 edit list: with one, FFmpeg 5.1's muxer ends the presentation one frame early.
  AVDictionary* muxer_options = nullptr;
  if (!gif) av_dict_set(&muxer_options, "use_editlist", "0", 0);
  const int header = avformat_write_header(v.format, &muxer_options);
  av_dict_free(&muxer_options);
  v.check(header, "header");
}

VideoWriter::~VideoWriter() = default;

void VideoWriter::add_frame(const uint8_t* bgra, int stride) {
  Impl& v = *impl_;
  V3D_CHECK(!v.finished, v.path << ": a frame after the end of the video");
  v.check(av_frame_make_writable(v.frame), "frame buffer");
  const uint8_t* const planes[1] = {bgra};
  const int strides[1] = {stride};
  sws_scale(v.sws, planes, strides, 0, v.height, v.frame->data, v.frame->linesize);
  v.frame->pts = v.next_pts++;
  v.check(avcodec_send_frame(v.codec, v.frame), "encode");
  v.drain();
}

void VideoWriter::finish() {
  Impl& v = *impl_;
  if (v.finished) return;
  v.finished = true;
  v.check(avcodec_send_frame(v.codec, nullptr), "flush");
  v.drain();
  v.check(av_write_trailer(v.format), "trailer");
  v.check(avio_closep(&v.format->pb), "close");
}

}  // namespace v3d::report

namespace v3d::report {

struct VideoReader::Impl {
  std::string path;
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  SwsContext* sws = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  int stream = -1;
  int64_t next = 0;  // index of the next frame the decoder returns
  bool drained = false;

  ~Impl() { close(); }
  void close() {
    avformat_close_input(&format);
    avcodec_free_context(&codec);
    sws_freeContext(sws);
    sws = nullptr;
    av_frame_free(&frame);
    av_packet_free(&packet);
  }
  void check(int status, const char* what) const { check_av(status, path, "decode", what); }
  void require(bool ok, const char* what) const { require_av(ok, path, "decode", what); }

  void open() {
    close();
    next = 0;
    drained = false;
    check(avformat_open_input(&format, path.c_str(), nullptr, nullptr), "open");
    check(avformat_find_stream_info(format, nullptr), "stream information");
    const AVCodec* decoder = nullptr;
    stream = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
    check(stream, "no video stream");
    codec = avcodec_alloc_context3(decoder);
    frame = av_frame_alloc();
    packet = av_packet_alloc();
    require(codec != nullptr && frame != nullptr && packet != nullptr, "out of memory");
    check(avcodec_parameters_to_context(codec, format->streams[stream]->codecpar), "parameters");
    check(avcodec_open2(codec, decoder, nullptr), "open the decoder");
    require(codec->width > 0 && codec->height > 0, "no frame size");
  }

  // The next decoded frame into `frame`; false at the end.
  bool decode_next() {
    for (;;) {
      const int got = avcodec_receive_frame(codec, frame);
      if (got == 0) return true;
      if (got == AVERROR_EOF) return false;
      if (got != AVERROR(EAGAIN)) check(got, "decode");
      if (drained) return false;
      const int read = av_read_frame(format, packet);
      if (read == AVERROR_EOF) {
        drained = true;
        check(avcodec_send_packet(codec, nullptr), "flush");
        continue;
      }
      check(read, "read");
      if (packet->stream_index == stream) {
        const int sent = avcodec_send_packet(codec, packet);
        av_packet_unref(packet);
        check(sent, "decode");
      } else {
        av_packet_unref(packet);
      }
    }
  }
};

VideoReader::VideoReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  av_log_set_level(AV_LOG_ERROR);
  impl_->path = path;
  impl_->open();
}

VideoReader::~VideoReader() = default;

int VideoReader::width() const { return impl_->codec->width; }
int VideoReader::height() const { return impl_->codec->height; }

bool VideoReader::read(int64_t index, std::vector<uint32_t>& pixels) {
  Impl& v = *impl_;
  V3D_CHECK(index >= 0, v.path << ": frame " << index << " < 0");
  if (index < v.next) v.open();
  for (;;) {
    if (!v.decode_next()) return false;
    if (v.next++ == index) break;
    av_frame_unref(v.frame);
  }
  const int w = v.codec->width, h = v.codec->height;
  v.require(v.frame->width == w && v.frame->height == h, "the frame size changes");
  v.sws = sws_getCachedContext(v.sws, w, h, static_cast<AVPixelFormat>(v.frame->format), w, h,
                               AV_PIX_FMT_RGB32, SWS_BILINEAR, nullptr, nullptr, nullptr);
  v.require(v.sws != nullptr, "no conversion of its pixels to RGB");
  pixels.resize(static_cast<size_t>(w) * h);
  uint8_t* const planes[1] = {reinterpret_cast<uint8_t*>(pixels.data())};
  const int strides[1] = {w * 4};
  sws_scale(v.sws, v.frame->data, v.frame->linesize, 0, h, planes, strides);
  av_frame_unref(v.frame);
  return true;
}

}  // namespace v3d::report
