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

  // Throws "<path>: cannot encode video (<what>: <FFmpeg's reason>)" for a negative status.
  void check(int status, const char* what) const {
    if (status >= 0) return;
    char reason[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(status, reason, sizeof(reason));
    throw Error(path + ": cannot encode video (" + what + ": " + reason + ")");
  }
  void require(bool ok, const char* what) const {
    if (!ok) throw Error(path + ": cannot encode video (" + what + ")");
  }

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
