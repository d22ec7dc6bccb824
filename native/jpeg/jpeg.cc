// A JPEG fast path for small images: decode with libjpeg-turbo's DCT scaling
// (to the smallest power-of-two reduction still at or above the target size)
// and resample with an antialiased Lanczos-3 filter, straight into the caller's
// pixel buffer, on libuv's thread pool. libvips (sharp) costs about 1 ms of
// fixed overhead per image, which dominates for 200x200 face crops; this path
// costs a fraction of that. The face paths (the detector's input, a face's cut)
// decode in full and then repeat libvips' own fixed-point arithmetic, so their
// bytes are sharp's (tests compare them byte for byte).
//
// libjpeg-turbo is not linked here: libtensorflow (which tfjs-node already
// loads) links it and exports tensorflow::jpeg::Uncompress and GetImageInfo.
// They are looked up with dlsym by their mangled names, so a libtensorflow
// without them leaves this path unavailable (sharp does the work) instead of
// failing to load.
//
// Anything this path would not decode exactly as sharp does (not a JPEG, CMYK,
// an embedded ICC profile other than sRGB, no end marker, a decoder warning,
// an enlargement on the whole-image path) is reported back, and the caller
// hands that file to sharp.
#include <dlfcn.h>
#include <node_api.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

// tensorflow/core/lib/jpeg/jpeg_mem.h, unchanged from TensorFlow 2.x's first
// releases to 2.21; J_DCT_METHOD is an enum (JDCT_ISLOW = 0).
struct UncompressFlags {
  int ratio = 1;
  int components = 0;
  bool fancy_upscaling = true;
  bool try_recover_truncated_jpeg = false;
  float min_acceptable_fraction = 1.0;
  int stride = 0;
  int dct_method = 0;
  bool crop = false;
  int crop_x = 0;
  int crop_y = 0;
  int crop_width = 0;
  int crop_height = 0;
};

using UncompressFn = uint8_t* (*)(const void*, int, const UncompressFlags&, int*, int*, int*, int64_t*);
using InfoFn = bool (*)(const void*, int, int*, int*, int*);

UncompressFn uncompress = nullptr;
InfoFn image_info = nullptr;

// What happened to one file; anything but kOk goes to sharp.
enum Status : uint8_t { kOk = 0, kUnsupported = 1, kFailed = 2 };
enum Fit { kFill = 0, kCover = 1, kContain = 2 };

struct Options {
  int height, width, channels, fit;
  double center_crop;
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> data;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return data;
  if (std::fseek(f, 0, SEEK_END) == 0) {
    long size = std::ftell(f);
    if (size > 0 && std::fseek(f, 0, SEEK_SET) == 0) {
      data.resize(static_cast<size_t>(size));
      if (std::fread(data.data(), 1, data.size(), f) != data.size()) data.clear();
    }
  }
  std::fclose(f);
  return data;
}

unsigned read16(const uint8_t* p, bool le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
uint32_t read32(const uint8_t* p, bool le) {
  return le ? p[0] | p[1] << 8 | p[2] << 16 | uint32_t(p[3]) << 24 : uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

// An embedded profile that sharp's conversion to sRGB leaves as it is: one
// segment, described (its 'desc' tag, ICC v2 ASCII or v4 UTF-16) as sRGB.
bool is_srgb_profile(const uint8_t* icc, size_t len, uint8_t segments) {
  if (segments != 1 || len < 132) return false;
  uint32_t tags = read32(icc + 128, false);
  for (uint32_t t = 0; t < tags && 132 + 12 * (t + 1) <= len; t++) {
    const uint8_t* e = icc + 132 + 12 * t;
    if (std::memcmp(e, "desc", 4) != 0) continue;
    uint32_t at = read32(e + 4, false), size = read32(e + 8, false);
    if (at > len || size > len - at) return false;
    std::string text;
    for (uint32_t i = 0; i < size; i++)
      if (icc[at + i] >= 0x20 && icc[at + i] < 0x7F) text += static_cast<char>(icc[at + i]);
    return text.find("sRGB") != std::string::npos;
  }
  return false;
}

// Walks the markers before the image data: the EXIF orientation (1-8, 1 when
// absent) and whether an ICC profile other than sRGB is embedded (sharp converts from it).
bool scan_markers(const std::vector<uint8_t>& d, int* orientation, bool* icc) {
  *orientation = 1;
  *icc = false;
  if (d.size() < 4 || d[0] != 0xFF || d[1] != 0xD8) return false;
  size_t pos = 2;
  while (pos + 4 <= d.size()) {
    if (d[pos] != 0xFF) return true;  // not a marker: leave the rest to the decoder
    uint8_t marker = d[pos + 1];
    if (marker == 0xFF) {
      pos++;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return true;  // start of scan / end of image
    size_t len = read16(&d[pos + 2], false);
    const uint8_t* seg = &d[pos + 4];
    size_t seg_len = len >= 2 ? len - 2 : 0;
    if (pos + 2 + len > d.size()) return true;
    if (marker == 0xE2 && seg_len >= 14 && std::memcmp(seg, "ICC_PROFILE", 11) == 0 &&
        !is_srgb_profile(seg + 14, seg_len - 14, seg[13]))
      *icc = true;
    if (marker == 0xE1 && seg_len >= 14 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const uint8_t* tiff = seg + 6;
      size_t tiff_len = seg_len - 6;
      bool le = tiff[0] == 'I';
      uint32_t ifd = read32(tiff + 4, le);
      if (ifd + 2 <= tiff_len) {
        unsigned n = read16(tiff + ifd, le);
        for (unsigned i = 0; i < n && ifd + 2 + 12 * (i + 1) <= tiff_len; i++) {
          const uint8_t* e = tiff + ifd + 2 + 12 * i;
          if (read16(e, le) == 0x0112) {
            unsigned v = read16(e + 8, le);
            if (v >= 1 && v <= 8) *orientation = static_cast<int>(v);
          }
        }
      }
    }
    pos += 2 + len;
  }
  return true;
}

// Lanczos-3, the kernel sharp uses by default.
double lanczos3(double x) {
  x = std::fabs(x);
  if (x < 1e-9) return 1.0;
  if (x >= 3.0) return 0.0;
  double px = M_PI * x;
  return 3.0 * std::sin(px) * std::sin(px / 3.0) / (px * px);
}

// Weights mapping `out` output pixels onto the input span [in0, in1) of an
// axis `in_size` long; antialiased (the kernel widens with the reduction).
struct Axis {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;
  int stride = 0;
};

Axis axis_weights(int in_size, double in0, double in1, int out) {
  Axis a;
  double scale = (in1 - in0) / out;
  double filter_scale = std::max(scale, 1.0);
  double support = 3.0 * filter_scale;
  a.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  a.first.resize(out);
  a.count.resize(out);
  a.weights.assign(static_cast<size_t>(out) * a.stride, 0.0f);
  for (int i = 0; i < out; i++) {
    double center = in0 + (i + 0.5) * scale;
    int lo = std::clamp(static_cast<int>(std::floor(center - support + 0.5)), 0, in_size - 1);
    int hi = std::clamp(static_cast<int>(std::floor(center + support + 0.5)), lo + 1, std::min(in_size, lo + a.stride));
    double sum = 0;
    std::vector<double> w(hi - lo);
    for (int x = lo; x < hi; x++) sum += w[x - lo] = lanczos3((x + 0.5 - center) / filter_scale);
    for (int x = lo; x < hi; x++) a.weights[static_cast<size_t>(i) * a.stride + (x - lo)] = sum != 0 ? w[x - lo] / sum : 0;
    a.first[i] = lo;
    a.count[i] = hi - lo;
  }
  return a;
}

// The decoded (stored-orientation) image turned upright, as EXIF orientation
// says: as floats for the resampler, or as bytes for the face paths.
template <typename T>
std::vector<T> orient(const uint8_t* src, int w, int h, int o, int* ow, int* oh) {
  bool swap = o >= 5;
  *ow = swap ? h : w;
  *oh = swap ? w : h;
  std::vector<T> out(static_cast<size_t>(w) * h * 3);
  if (o == 1) {
    for (size_t i = 0; i < out.size(); i++) out[i] = src[i];
    return out;
  }
  for (int y = 0; y < *oh; y++) {
    for (int x = 0; x < *ow; x++) {
      int sx, sy;  // where upright (x, y) sits in the stored image
      switch (o) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        default: sx = w - 1 - y; sy = x;  // 8
      }
      const uint8_t* p = &src[(static_cast<size_t>(sy) * w + sx) * 3];
      T* q = &out[(static_cast<size_t>(y) * *ow + x) * 3];
      q[0] = p[0];
      q[1] = p[1];
      q[2] = p[2];
    }
  }
  return out;
}

uint8_t to_u8(double v) { return static_cast<uint8_t>(std::min(255.0, std::max(0.0, std::round(v)))); }

// sRGB <-> linear light, for sharp's greyscale (libvips' B_W: luminance of linear RGB).
struct LinearTable {
  double v[256];
  LinearTable() {
    for (int i = 0; i < 256; i++) {
      double x = i / 255.0;
      v[i] = x <= 0.04045 ? x / 12.92 : std::pow((x + 0.055) / 1.055, 2.4);
    }
  }
};
const LinearTable kLinear;
double to_srgb(double v) { return 255.0 * (v <= 0.0031308 ? v * 12.92 : 1.055 * std::pow(v, 1 / 2.4) - 0.055); }

// A JPEG file this path decodes exactly as sharp would: its bytes, stored
// size and EXIF orientation.
struct Source {
  std::vector<uint8_t> data;
  int w = 0, h = 0, orientation = 1;
};

Status open_jpeg(const std::string& path, Source* src) {
  src->data = read_file(path);
  const std::vector<uint8_t>& data = src->data;
  bool icc;
  if (data.empty() || !scan_markers(data, &src->orientation, &icc)) return kUnsupported;
  // No end-of-image marker: most likely cut off. sharp judges it (libjpeg would
  // also print its complaint to stderr from inside libtensorflow).
  if (data.size() < 4 || data[data.size() - 2] != 0xFF || data[data.size() - 1] != 0xD9) return kUnsupported;
  if (icc) return kUnsupported;
  int comps;
  if (!image_info(data.data(), static_cast<int>(data.size()), &src->w, &src->h, &comps)) return kFailed;
  if ((comps != 1 && comps != 3) || src->w <= 0 || src->h <= 0) return kUnsupported;
  return kOk;
}

// The RGB image upright, decoded with DCT scaling by `ratio` (1: full size).
template <typename T>
Status decode_upright(const Source& src, int ratio, std::vector<T>* img, int* w, int* h) {
  UncompressFlags flags;
  flags.ratio = ratio;
  flags.components = 3;
  int dec_w = 0, dec_h = 0, dec_c = 0;
  int64_t warnings = 0;
  uint8_t* raw = uncompress(src.data.data(), static_cast<int>(src.data.size()), flags, &dec_w, &dec_h, &dec_c, &warnings);
  if (!raw) return kFailed;
  bool ok = warnings == 0 && dec_c == 3;
  if (ok) *img = orient<T>(raw, dec_w, dec_h, src.orientation, w, h);
  delete[] raw;
  return ok ? kOk : kFailed;
}

Status decode_one(const std::string& path, const Options& opt, uint8_t* out) {
  Source src;
  if (Status s = open_jpeg(path, &src); s != kOk) return s;
  int w = src.w, h = src.h, orientation = src.orientation;

  // The geometry of sharp's pipeline (node_modules/sharp/src/pipeline.cc), so
  // that both give the same pixels: in upright pixels; center_crop is an
  // extract before the resize (whole pixels, as decode.ts computes it), which
  // turns sharp's shrink-on-load off.
  bool swap = orientation >= 5;
  double uw = swap ? h : w, uh = swap ? w : h;
  double cw = std::max(1.0, std::round(uw * opt.center_crop)), ch = std::max(1.0, std::round(uh * opt.center_crop));
  bool extract = opt.center_crop < 1;
  double tw = opt.width, th = opt.height;
  auto shrinks = [&](double in_w, double in_h) {
    double hs = in_w / tw, vs = in_h / th;
    if (opt.fit == kCover) hs = vs = std::min(hs, vs);
    if (opt.fit == kContain) hs = vs = std::max(hs, vs);
    return std::pair<double, double>(hs, vs);
  };
  // Enlarging: libvips interpolates differently; sharp takes it.
  {
    auto [hs, vs] = shrinks(cw, ch);
    if (hs < 1 || vs < 1) return kUnsupported;
  }
  // DCT scaling: the largest of 8, 4, 2 within the common shrink, one step
  // less when the shrink's integer part equals it (sharp avoids libjpeg's rounding there).
  int ratio = 1;
  if (!extract) {
    auto [hs, vs] = shrinks(cw, ch);
    double common = std::min(hs, vs);
    ratio = common >= 8 ? 8 : common >= 4 ? 4 : common >= 2 ? 2 : 1;
    if (ratio > 1 && static_cast<int>(common) == ratio) ratio /= 2;
  }

  int iw, ih;
  std::vector<float> img;
  if (Status s = decode_upright(src, ratio, &img, &iw, &ih); s != kOk) return s;

  // The resize sees the decoded image (or the extract) whole; cover then cuts
  // the centre, contain embeds it in black. libvips keeps floor(size / ratio)
  // of a scaled decode (libjpeg rounds up: the last column may be partial).
  size_t stride = static_cast<size_t>(iw) * 3;
  iw = std::min(iw, static_cast<int>(uw) / ratio);
  ih = std::min(ih, static_cast<int>(uh) / ratio);
  double in_w = extract ? cw : iw, in_h = extract ? ch : ih;
  double ox = extract ? std::floor((uw - cw) / 2) : 0, oy = extract ? std::floor((uh - ch) / 2) : 0;
  auto [hs, vs] = shrinks(in_w, in_h);
  int rw = opt.fit == kFill ? opt.width : std::max(1, static_cast<int>(std::rint(in_w / hs)));
  int rh = opt.fit == kFill ? opt.height : std::max(1, static_cast<int>(std::rint(in_h / vs)));
  int dx = 0, dy = 0, dw = rw, dh = rh;  // destination span
  double left = 0, top = 0;  // of the cut, in resized pixels
  if (opt.fit == kCover) {
    dw = std::min(rw, opt.width);
    dh = std::min(rh, opt.height);
    left = (rw - dw + 1) / 2;
    top = (rh - dh + 1) / 2;
  } else if (opt.fit == kContain) {
    dw = std::min(rw, opt.width);
    dh = std::min(rh, opt.height);
    dx = (opt.width - dw) / 2;
    dy = (opt.height - dh) / 2;
  }
  // libvips centres the resized grid on its input when size / shrink is not whole.
  ox -= (rw * hs - in_w) / 2;
  oy -= (rh * vs - in_h) / 2;
  Axis ax = axis_weights(iw, ox + left * hs, ox + (left + dw) * hs, dw);
  Axis ay = axis_weights(ih, oy + top * vs, oy + (top + dh) * vs, dh);

  // Per output row: the vertical pass over whole rows (contiguous, so the
  // compiler vectorises it), then the horizontal one on that single row.
  std::memset(out, 0, static_cast<size_t>(opt.width) * opt.height * opt.channels);
  size_t row_len = static_cast<size_t>(iw) * 3;
  std::vector<float> acc(row_len);
  for (int j = 0; j < dh; j++) {
    const float* k = &ay.weights[static_cast<size_t>(j) * ay.stride];
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int n = 0; n < ay.count[j]; n++) {
      const float* row = &img[static_cast<size_t>(ay.first[j] + n) * stride];
      float kn = k[n];
      for (size_t x = 0; x < row_len; x++) acc[x] += kn * row[x];
    }
    uint8_t* o = out + (static_cast<size_t>(dy + j) * opt.width + dx) * opt.channels;
    for (int i = 0; i < dw; i++, o += opt.channels) {
      const float* kx = &ax.weights[static_cast<size_t>(i) * ax.stride];
      const float* p = &acc[static_cast<size_t>(ax.first[i]) * 3];
      float r = 0, g = 0, b = 0;
      for (int n = 0; n < ax.count[i]; n++, p += 3) {
        r += kx[n] * p[0];
        g += kx[n] * p[1];
        b += kx[n] * p[2];
      }
      if (opt.channels == 3) {
        o[0] = to_u8(r);
        o[1] = to_u8(g);
        o[2] = to_u8(b);
      } else {
        o[0] = to_u8(to_srgb(0.2126 * kLinear.v[to_u8(r)] + 0.7152 * kLinear.v[to_u8(g)] + 0.0722 * kLinear.v[to_u8(b)]));
      }
    }
  }
  return kOk;
}

// ---- The face paths: libvips' own arithmetic for the detector's input and a
// face's cut (the same steps as sharp in src/data/faces, and as
// src/export/web/run-exp-web.js computes them in a browser), byte for byte
// what sharp gives, without its fixed cost of about 1 ms per pipeline.

// An RGB byte image.
struct Rgb {
  std::vector<uint8_t> px;
  int w = 0, h = 0;
};

// libvips' Lanczos-3 in its own sinc form, so that its fixed-point masks come out the same.
double vips_lanczos3(double x) {
  auto sinc = [](double v) { return v == 0 ? 1.0 : std::sin(v * M_PI) / (v * M_PI); };
  return x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0;
}

// One axis of libvips' reduceh / reducev (uchar path) of `n` samples by `shrink`
// >= 1: first a whole shrink by `k` (the multiply-shift mean of k samples, the
// edge repeated) when the factor allows, then per output the samples it reads
// (`taps` of them, clamped to the edge) and their weights in 1/4096 units. The
// sample position restarts every `strip` outputs, as libvips computes it per
// region (reducev's 16-line fat strips).
struct Reduction {
  int size = 0, k = 1, taps = 0, shrunk = 0;
  uint64_t mult = 0;
  std::vector<int> index;   // size x taps, into the shrunk line
  std::vector<int> weight;  // size x taps
};

Reduction reduction(int n, double shrink, int strip) {
  Reduction r;
  r.size = static_cast<int>(n / shrink + 0.5);
  double extra = r.size * shrink - n, residual = shrink;
  r.k = std::max(1, static_cast<int>(std::floor(static_cast<double>(n) / r.size / 2)));
  r.shrunk = n;
  if (r.k > 1) {
    r.mult = static_cast<uint64_t>(std::floor(4294967296.0 / (256.0 * r.k)));
    r.shrunk = (n + r.k - 1) / r.k;
    extra /= r.k;
    residual /= r.k;
  }
  // Nothing left after the whole shrink: each output is one shrunk sample.
  r.taps = residual == 1 ? 1 : 2 * static_cast<int>(std::rint(3 * residual)) + 1;
  std::vector<std::vector<int>> masks;
  for (int t = 0; t <= 64 && residual != 1; t++) {
    double half = t / 64.0 + r.taps / 2.0 - 1;
    std::vector<double> c(r.taps);
    double sum = 0;
    for (int i = 0; i < r.taps; i++) sum += c[i] = vips_lanczos3((i - half) * (1 / residual));
    std::vector<int> m(r.taps);
    for (int i = 0; i < r.taps; i++) m[i] = static_cast<int>(std::trunc(c[i] / sum * 4096));
    masks.push_back(std::move(m));
  }
  int pad = static_cast<int>(std::ceil(r.taps / 2.0)) - 1;
  double pos = 0;
  for (int o = 0; o < r.size; o++) {
    if (residual == 1) {
      r.index.push_back(std::min(o, r.shrunk - 1));
      r.weight.push_back(4096);
      continue;
    }
    if (o % strip == 0) pos = (o + 0.5) * residual - 0.5 - ((1 + extra) / 2 - 1);
    const std::vector<int>& m = masks[((static_cast<int>(std::trunc(pos * 128)) & 127) + 1) >> 1];
    int first = static_cast<int>(std::trunc(pos)) - pad;
    for (int i = 0; i < r.taps; i++) {
      r.index.push_back(std::clamp(first + i, 0, r.shrunk - 1));
      r.weight.push_back(m[i]);
    }
    pos += residual;
  }
  return r;
}

uint8_t fixed_to_u8(int sum) { return static_cast<uint8_t>(std::clamp(sum >> 12, 0, 255)); }

// `r` down the columns of `in`: whole rows at a time.
Rgb reduce_v(const Rgb& in, const Reduction& r) {
  size_t row = static_cast<size_t>(in.w) * 3;
  Rgb src = in;
  if (r.k > 1) {
    src = Rgb{std::vector<uint8_t>(row * r.shrunk), in.w, r.shrunk};
    std::vector<uint64_t> sum(row);
    for (int j = 0; j < r.shrunk; j++) {
      std::fill(sum.begin(), sum.end(), static_cast<uint64_t>(r.k / 2));
      for (int t = 0; t < r.k; t++) {
        const uint8_t* p = &in.px[std::min(in.h - 1, j * r.k + t) * row];
        for (size_t x = 0; x < row; x++) sum[x] += p[x];
      }
      for (size_t x = 0; x < row; x++) src.px[j * row + x] = static_cast<uint8_t>((sum[x] * r.mult) >> 24);
    }
  }
  Rgb out{std::vector<uint8_t>(row * r.size), in.w, r.size};
  std::vector<int> acc(row);
  for (int o = 0; o < r.size; o++) {
    std::fill(acc.begin(), acc.end(), 2048);
    for (int i = 0; i < r.taps; i++) {
      const uint8_t* p = &src.px[r.index[o * r.taps + i] * row];
      int m = r.weight[o * r.taps + i];
      for (size_t x = 0; x < row; x++) acc[x] += m * p[x];
    }
    for (size_t x = 0; x < row; x++) out.px[o * row + x] = fixed_to_u8(acc[x]);
  }
  return out;
}

// `r` along the rows of `in`.
Rgb reduce_h(const Rgb& in, const Reduction& r) {
  Rgb out{std::vector<uint8_t>(static_cast<size_t>(r.size) * in.h * 3), r.size, in.h};
  std::vector<uint8_t> line(static_cast<size_t>(r.shrunk) * 3);
  for (int y = 0; y < in.h; y++) {
    const uint8_t* p = &in.px[static_cast<size_t>(y) * in.w * 3];
    const uint8_t* src = p;
    if (r.k > 1) {
      for (int j = 0; j < r.shrunk; j++)
        for (int c = 0; c < 3; c++) {
          uint64_t sum = r.k / 2;
          for (int t = 0; t < r.k; t++) sum += p[std::min(in.w - 1, j * r.k + t) * 3 + c];
          line[j * 3 + c] = static_cast<uint8_t>((sum * r.mult) >> 24);
        }
      src = line.data();
    }
    uint8_t* o = &out.px[static_cast<size_t>(y) * r.size * 3];
    for (int x = 0; x < r.size; x++, o += 3) {
      int a = 2048, b = 2048, c = 2048;
      for (int i = 0; i < r.taps; i++) {
        const uint8_t* q = src + r.index[x * r.taps + i] * 3;
        int m = r.weight[x * r.taps + i];
        a += m * q[0];
        b += m * q[1];
        c += m * q[2];
      }
      o[0] = fixed_to_u8(a);
      o[1] = fixed_to_u8(b);
      o[2] = fixed_to_u8(c);
    }
  }
  return out;
}

// C's round half away from zero to int (VIPS_ROUND_INT).
int round_int(double v) { return static_cast<int>(std::trunc(v > 0 ? v + 0.5 : v - 0.5)); }

// libvips' Catmull-Rom masks at 1/64 positions, in 1/4096 units (its bicubic interpolator's table).
struct Catmull {
  int m[65][4];
  Catmull() {
    for (int t = 0; t <= 64; t++) {
      double x = t / 64.0, cr1 = 1 - x, cr3 = cr1 * (-0.5 * x), cone = cr1 * cr3, cfou = x * cr3, cr4 = cfou - cone;
      double c[4] = {cone, cr1 - cone + cr4, x - cfou - cr4, cfou};
      for (int i = 0; i < 4; i++) m[t][i] = static_cast<int>(std::trunc(c[i] * 4096));
    }
  }
};
const Catmull kCatmull;

// libvips' affine of an RGB byte image, as its uchar path computes it: output = [a b; c d]
// (input + shift), the output the bounding box of the unshifted input's corners rounded;
// each output pixel the interpolation at its inverse image in fixed point (bilinear, as
// sharp's rotate; bicubic, as resize's enlargement), the input's edges repeated (`copy`) or
// black. Only the window of `keep` (x, y, width, height; width 0: all) is computed and returned.
Rgb vips_affine(const Rgb& in, double a, double b, double c, double d, bool bicubic, double shift, bool copy,
                std::array<int, 4> keep = {0, 0, 0, 0}) {
  double xs[4] = {0, b * in.h, a * in.w, a * in.w + b * in.h};
  double ys[4] = {0, d * in.h, c * in.w, c * in.w + d * in.h};
  double x0 = *std::min_element(xs, xs + 4), y0 = *std::min_element(ys, ys + 4);
  int left = round_int(x0), top = round_int(y0);
  if (keep[2] == 0) keep = {0, 0, round_int(*std::max_element(xs, xs + 4) - x0), round_int(*std::max_element(ys, ys + 4) - y0)};
  Rgb out{std::vector<uint8_t>(static_cast<size_t>(keep[2]) * keep[3] * 3, 0), keep[2], keep[3]};
  double inv = 1 / (a * d - b * c);
  double ia = inv * d, ib = -inv * b, ic = -inv * c, id = inv * a;
  int offset = bicubic ? 1 : 0, border = offset + 1;
  // The input as libvips embeds it: `border` pixels around, edges repeated or black.
  auto at = [&](int u, int v, int k) -> int {
    int x = u - border, y = v - border;
    if (copy) {
      x = std::clamp(x, 0, in.w - 1);
      y = std::clamp(y, 0, in.h - 1);
    } else if (x < 0 || y < 0 || x >= in.w || y >= in.h) {
      return 0;
    }
    return in.px[(static_cast<size_t>(y) * in.w + x) * 3 + k];
  };
  size_t stride = static_cast<size_t>(in.w) * 3;
  for (int y = keep[1]; y < keep[1] + keep[3]; y++) {
    double ix = ia * left + ib * (y + top) - (shift - 1) + offset, iy = ic * left + id * (y + top) - (shift - 1) + offset;
    // Positions are summed along the row from its start, as libvips does: the same rounding.
    for (int x = 0; x < keep[0]; x++, ix += ia, iy += ic) {
    }
    for (int x = keep[0]; x < keep[0] + keep[2]; x++, ix += ia, iy += ic) {
      // floor(ix) < offset or > offset + w: outside, black (casts truncate; in range they floor).
      if (ix < offset || ix >= offset + in.w + 1 || iy < offset || iy >= offset + in.h + 1) continue;
      int px = static_cast<int>(ix), py = static_cast<int>(iy);
      uint8_t* o = &out.px[(static_cast<size_t>(y - keep[1]) * keep[2] + x - keep[0]) * 3];
      if (bicubic) {
        const int* cx = kCatmull.m[((static_cast<int>(ix * 128) & 127) + 1) >> 1];
        const int* cy = kCatmull.m[((static_cast<int>(iy * 128) & 127) + 1) >> 1];
        bool inside = px - 1 - border >= 0 && py - 1 - border >= 0 && px + 2 - border < in.w && py + 2 - border < in.h;
        for (int k = 0; k < 3; k++) {
          int sum = 2048;
          for (int j = 0; j < 4; j++) {
            int row = 2048;
            if (inside) {
              const uint8_t* p = &in.px[(py - 1 + j - border) * stride + (px - 1 - border) * 3 + k];
              for (int i = 0; i < 4; i++) row += cx[i] * p[i * 3];
            } else {
              for (int i = 0; i < 4; i++) row += cx[i] * at(px - 1 + i, py - 1 + j, k);
            }
            sum += cy[j] * (row >> 12);
          }
          o[k] = fixed_to_u8(sum);
        }
        continue;
      }
      int X = static_cast<int>((ix - px) * 4096), Y = static_cast<int>((iy - py) * 4096);
      int c4 = (Y * X) >> 12, c2 = ((4096 - Y) * X) >> 12, c3 = Y - c4, c1 = 4096 - Y - c2;
      if (px >= 1 && py >= 1 && px < in.w && py < in.h) {  // all four neighbours inside: no edge checks
        const uint8_t* p0 = &in.px[(py - 1) * stride + (px - 1) * 3];
        const uint8_t* p1 = p0 + stride;
        for (int k = 0; k < 3; k++) o[k] = static_cast<uint8_t>((c1 * p0[k] + c2 * p0[k + 3] + c3 * p1[k] + c4 * p1[k + 3] + 2048) >> 12);
        continue;
      }
      for (int k = 0; k < 3; k++)
        o[k] = static_cast<uint8_t>(
            (c1 * at(px, py, k) + c2 * at(px + 1, py, k) + c3 * at(px, py + 1, k) + c4 * at(px + 1, py + 1, k) + 2048) >> 12);
    }
  }
  return out;
}

// libvips' resize as sharp calls it (scale 1 / hshrink, vscale 1 / vshrink): reducev
// (16-line strips), then reduceh, then a bicubic affine for any axis that grows.
Rgb vips_resize(const Rgb& in, double hshrink, double vshrink) {
  double hscale = std::max(1 / hshrink, 1.0 / in.w), vscale = std::max(1 / vshrink, 1.0 / in.h);
  Rgb v = vscale < 1 ? reduce_v(in, reduction(in.h, 1 / vscale, 16)) : in;
  Rgb h = hscale < 1 ? reduce_h(v, reduction(v.w, 1 / hscale, 1 << 30)) : std::move(v);
  if (hscale <= 1 && vscale <= 1) return h;
  return vips_affine(h, std::max(1.0, hscale), 0, 0, std::max(1.0, vscale), true, 0.5, true);
}

// What a pixel index past an edge of [0, size) reads, as libvips' extend does: -1 for black.
enum Fill { kBlack = 0, kEdge = 1, kMirror = 2 };
int fill_index(int i, int size, int fill) {
  if (i >= 0 && i < size) return i;
  if (fill == kEdge) return std::clamp(i, 0, size - 1);
  if (fill == kMirror) {
    int period = 2 * size, m = ((i % period) + period) % period;
    return m < size ? m : period - 1 - m;
  }
  return -1;
}

// The width x height window of `img` from (left, top), filled outside the image's part
// [x0, x1) x [y0, y1) as `fill` says: sharp's extract of that part, then extend
// (src/data/faces/crop.ts's windowOf).
Rgb window_of(const Rgb& img, int x0, int y0, int x1, int y1, int left, int top, int w, int h, int fill) {
  Rgb out{std::vector<uint8_t>(static_cast<size_t>(w) * h * 3, 0), w, h};
  for (int y = 0; y < h; y++) {
    int r = fill_index(top + y - y0, y1 - y0, fill);
    if (r < 0) continue;
    for (int x = 0; x < w; x++) {
      int c = fill_index(left + x - x0, x1 - x0, fill);
      if (c < 0) continue;
      std::memcpy(&out.px[(static_cast<size_t>(y) * w + x) * 3],
                  &img.px[(static_cast<size_t>(y0 + r) * img.w + x0 + c) * 3], 3);
    }
  }
  return out;
}

// A face region: centre, side, the angle (radians) that levels the eyes, and the fill.
struct Region {
  double cx, cy, side, angle;
  int fill;
};

// src/data/faces/crop.ts's cutRegion: the axis-aligned square holding the region
// (filled where it leaves the image), turned by -angle, its centre kept.
Rgb cut_region(const Rgb& img, const Region& region) {
  bool turn = std::fabs(region.angle) > 1e-3;
  double reach = turn ? std::fabs(std::cos(region.angle)) + std::fabs(std::sin(region.angle)) : 1;
  int side = std::max(1, static_cast<int>(std::round(region.side * reach)));
  // JS's Math.round: halves up.
  int left = static_cast<int>(std::floor(region.cx - side / 2.0 + 0.5));
  int top = static_cast<int>(std::floor(region.cy - side / 2.0 + 0.5));
  int x0 = std::max(0, left), y0 = std::max(0, top);
  int x1 = std::min(img.w, left + side), y1 = std::min(img.h, top + side);
  Rgb square = x1 <= x0 || y1 <= y0 ? Rgb{std::vector<uint8_t>(static_cast<size_t>(side) * side * 3, 0), side, side}
                                    : window_of(img, x0, y0, x1, y1, left, top, side, side, region.fill);
  if (!turn) return square;
  // sharp's rotate(degrees): libvips' rotate by the angle, turned back to radians.
  double rad = ((-region.angle * 180) / M_PI / 360) * 2 * M_PI;
  double a = std::cos(rad), b = -std::sin(rad);
  // The turned square's size, then only its centre `out` x `out` computed.
  double xs[4] = {0, b * side, a * side, a * side + b * side}, ys[4] = {0, a * side, -b * side, -b * side + a * side};
  int tw = round_int(*std::max_element(xs, xs + 4) - *std::min_element(xs, xs + 4));
  int th = round_int(*std::max_element(ys, ys + 4) - *std::min_element(ys, ys + 4));
  int out = std::max(1, std::min({static_cast<int>(std::floor(region.side + 0.5)), tw, th}));
  return vips_affine(square, a, b, -b, a, false, 0, false, {(tw - out) / 2, (th - out) / 2, out, out});
}

// sharp's resize of a raw image to width x height by `fit`: libvips' resize, then
// cover's centre cut or contain's black border.
bool resize_raw(const Rgb& in, int width, int height, int fit, uint8_t* out) {
  double hs = static_cast<double>(in.w) / width, vs = static_cast<double>(in.h) / height;
  if (fit == kCover) hs = vs = std::min(hs, vs);
  if (fit == kContain) hs = vs = std::max(hs, vs);
  Rgb r = vips_resize(in, hs, vs);
  std::memset(out, 0, static_cast<size_t>(width) * height * 3);
  int from_x = 0, from_y = 0, to_x = 0, to_y = 0;
  if (fit == kCover) {
    from_x = (r.w - width + 1) / 2;
    from_y = (r.h - height + 1) / 2;
  } else {
    to_x = (width - r.w) / 2;
    to_y = (height - r.h) / 2;
  }
  int cw = std::min(width, r.w), ch = std::min(height, r.h);
  if (from_x < 0 || from_y < 0 || to_x < 0 || to_y < 0) return false;
  for (int y = 0; y < ch; y++)
    std::memcpy(out + (static_cast<size_t>(to_y + y) * width + to_x) * 3,
                &r.px[(static_cast<size_t>(from_y + y) * r.w + from_x) * 3], static_cast<size_t>(cw) * 3);
  return true;
}

// The detector's input (src/data/faces/locate.ts's detectorInput): the upright image
// scaled so its longer side plus `pad` on each side fills `size`, centred on black.
// `geometry` gets the image's width and height and the scaled image's width, height, left, top.
Status detector_input(const std::string& path, int size, double pad, uint8_t* out, int32_t* geometry) {
  Source src;
  if (Status s = open_jpeg(path, &src); s != kOk) return s;
  Rgb img;
  if (Status s = decode_upright(src, 1, &img.px, &img.w, &img.h); s != kOk) return s;
  double scale = size / (std::max(img.w, img.h) * (1 + 2 * pad));
  int rw = std::max(1, std::min(size, static_cast<int>(std::floor(img.w * scale + 0.5))));
  int rh = std::max(1, std::min(size, static_cast<int>(std::floor(img.h * scale + 0.5))));
  int left = (size - rw) / 2, top = (size - rh) / 2;
  Rgb small = vips_resize(img, static_cast<double>(img.w) / rw, static_cast<double>(img.h) / rh);
  if (small.w != rw || small.h != rh) return kUnsupported;
  std::memset(out, 0, static_cast<size_t>(size) * size * 3);
  for (int y = 0; y < rh; y++)
    std::memcpy(out + (static_cast<size_t>(top + y) * size + left) * 3, &small.px[static_cast<size_t>(y) * rw * 3],
                static_cast<size_t>(rw) * 3);
  int32_t g[6] = {img.w, img.h, rw, rh, left, top};
  std::memcpy(geometry, g, sizeof g);
  return kOk;
}

// A face's cut from `path` (decodeImage with a region), resized to width x height RGB.
Status face_crop(const std::string& path, const Region& region, int width, int height, int fit, uint8_t* out) {
  Source src;
  if (Status s = open_jpeg(path, &src); s != kOk) return s;
  Rgb img;
  if (Status s = decode_upright(src, 1, &img.px, &img.w, &img.h); s != kOk) return s;
  return resize_raw(cut_region(img, region), width, height, fit, out) ? kOk : kUnsupported;
}

// ---- N-API glue -----------------------------------------------------------

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) {                          \
      napi_throw_error(env, nullptr, "jpeg: " #call); \
      return nullptr;                                 \
    }                                                 \
  } while (0)

enum Mode { kDecode = 0, kDetectorInput = 1, kFaceCrop = 2 };

struct Job {
  Mode mode = kDecode;
  std::vector<std::string> files;
  std::vector<int64_t> offsets;  // byte offset of each file's pixels in `out`
  Options opt;
  double pad = 0;  // kDetectorInput: opt.width is the input's side
  std::vector<Region> regions;  // kFaceCrop: one per file
  uint8_t* out = nullptr;
  size_t out_len = 0;
  napi_ref out_ref = nullptr;
  // Per file: the status, then (kDetectorInput) six numbers of geometry.
  std::vector<int32_t> result;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

constexpr int kResultWidth = 7;

void execute(napi_env, void* data) {
  Job* job = static_cast<Job*>(data);
  size_t bytes = static_cast<size_t>(job->opt.width) * job->opt.height * job->opt.channels;
  job->result.assign(job->files.size() * kResultWidth, 0);
  for (size_t i = 0; i < job->files.size(); i++) {
    int64_t at = job->offsets[i];
    int32_t* r = &job->result[i * kResultWidth];
    if (at < 0 || static_cast<size_t>(at) + bytes > job->out_len) {
      r[0] = kUnsupported;
      continue;
    }
    uint8_t* out = job->out + at;
    const std::string& file = job->files[i];
    switch (job->mode) {
      case kDecode: r[0] = decode_one(file, job->opt, out); break;
      case kDetectorInput: r[0] = detector_input(file, job->opt.width, job->pad, out, r + 1); break;
      case kFaceCrop:
        r[0] = face_crop(file, job->regions[i], job->opt.width, job->opt.height, job->opt.fit, out);
        break;
    }
  }
}

void complete(napi_env env, napi_status, void* data) {
  Job* job = static_cast<Job*>(data);
  napi_value buffer, result;
  void* bytes;
  size_t n = job->files.size();
  bool statuses = job->mode == kDecode;
  size_t len = statuses ? n : n * kResultWidth;
  if (napi_create_arraybuffer(env, statuses ? n : len * 4, &bytes, &buffer) == napi_ok &&
      napi_create_typedarray(env, statuses ? napi_uint8_array : napi_int32_array, len, buffer, 0, &result) == napi_ok) {
    if (statuses)
      for (size_t i = 0; i < n; i++) static_cast<uint8_t*>(bytes)[i] = static_cast<uint8_t>(job->result[i * kResultWidth]);
    else
      std::memcpy(bytes, job->result.data(), len * 4);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, "jpeg: cannot return the statuses", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_reference(env, job->out_ref);
  napi_delete_async_work(env, job->work);
  delete job;
}

double number_prop(napi_env env, napi_value obj, const char* key) {
  napi_value v;
  double d = 0;
  if (napi_get_named_property(env, obj, key, &v) == napi_ok) napi_get_value_double(env, v, &d);
  return d;
}

// open(libraryPath) -> null, or why the fast path is unavailable.
napi_value open_library(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  char path[4096];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  std::string why;
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    why = dlerror();
  } else {
    uncompress = reinterpret_cast<UncompressFn>(
        dlsym(lib, "_ZN10tensorflow4jpeg10UncompressEPKviRKNS0_15UncompressFlagsEPiS6_S6_Pl"));
    // Before TensorFlow 2.10 the warning count was an int*; the call stays the same with a zeroed int64.
    if (!uncompress)
      uncompress = reinterpret_cast<UncompressFn>(
          dlsym(lib, "_ZN10tensorflow4jpeg10UncompressEPKviRKNS0_15UncompressFlagsEPiS6_S6_S6_"));
    image_info = reinterpret_cast<InfoFn>(dlsym(lib, "_ZN10tensorflow4jpeg12GetImageInfoEPKviPiS3_S3_"));
    if (!uncompress || !image_info) why = std::string(path) + " exports no tensorflow::jpeg::Uncompress";
  }
  if (why.empty()) {
    CHECK(napi_get_null(env, &result));
  } else {
    uncompress = nullptr;
    CHECK(napi_create_string_utf8(env, why.c_str(), why.size(), &result));
  }
  return result;
}

// An entry point's `argc` arguments into `argv`, and a new Job with the files, output buffer and
// offsets the first three hold; or null (an exception is pending).
Job* start_job(napi_env env, napi_callback_info info, size_t argc, napi_value* argv) {
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (!uncompress) {
    napi_throw_error(env, nullptr, "jpeg: open() has not found the decoder");
    return nullptr;
  }
  Job* job = new Job();
  uint32_t n;
  CHECK(napi_get_array_length(env, argv[0], &n));
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    size_t len;
    CHECK(napi_get_element(env, argv[0], i, &v));
    CHECK(napi_get_value_string_utf8(env, v, nullptr, 0, &len));
    std::string s(len, '\0');
    CHECK(napi_get_value_string_utf8(env, v, s.data(), len + 1, &len));
    job->files.push_back(std::move(s));
    CHECK(napi_get_element(env, argv[2], i, &v));
    double d;
    CHECK(napi_get_value_double(env, v, &d));
    job->offsets.push_back(static_cast<int64_t>(d));
  }
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &offset));
  job->out = static_cast<uint8_t*>(data);
  job->out_len = length;
  CHECK(napi_create_reference(env, argv[1], 1, &job->out_ref));
  return job;
}

napi_value queue_job(napi_env env, Job* job) {
  napi_value promise, name;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "run-exp:jpeg", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, nullptr, name, execute, complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

// decode(files, out, offsets, {height, width, channels, fit, centerCrop}) -> Promise<Uint8Array of statuses>
napi_value decode(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Job* job = start_job(env, info, 4, argv);
  if (!job) return nullptr;
  job->opt = {static_cast<int>(number_prop(env, argv[3], "height")), static_cast<int>(number_prop(env, argv[3], "width")),
              static_cast<int>(number_prop(env, argv[3], "channels")), static_cast<int>(number_prop(env, argv[3], "fit")),
              number_prop(env, argv[3], "centerCrop")};
  return queue_job(env, job);
}

// detectorInputs(files, out, offsets, {size, pad}) -> Promise<Int32Array: per file
// status, width, height, scaled width, scaled height, left, top>
napi_value detector_inputs(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Job* job = start_job(env, info, 4, argv);
  if (!job) return nullptr;
  int size = static_cast<int>(number_prop(env, argv[3], "size"));
  job->mode = kDetectorInput;
  job->opt = {size, size, 3, kFill, 1};
  job->pad = number_prop(env, argv[3], "pad");
  return queue_job(env, job);
}

// faceCrops(files, out, offsets, regions: Float64Array of cx, cy, side, angle, fill (0 black, 1 edge,
// 2 mirror) per file, {height, width, fit}) -> Promise<Int32Array: per file a status, then six zeros>
napi_value face_crops(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Job* job = start_job(env, info, 5, argv);
  if (!job) return nullptr;
  napi_typedarray_type type;
  size_t length, offset;
  void* data;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[3], &type, &length, &data, &ab, &offset));
  if (type != napi_float64_array || length < job->files.size() * 5) {
    delete job;
    napi_throw_error(env, nullptr, "jpeg: faceCrops wants five numbers per file");
    return nullptr;
  }
  const double* r = static_cast<const double*>(data);
  for (size_t i = 0; i < job->files.size(); i++, r += 5)
    job->regions.push_back({r[0], r[1], r[2], r[3], static_cast<int>(r[4])});
  job->mode = kFaceCrop;
  job->opt = {static_cast<int>(number_prop(env, argv[4], "height")), static_cast<int>(number_prop(env, argv[4], "width")), 3,
              static_cast<int>(number_prop(env, argv[4], "fit")), 1};
  return queue_job(env, job);
}

napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", nullptr, open_library, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decode", nullptr, decode, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"detectorInputs", nullptr, detector_inputs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"faceCrops", nullptr, face_crops, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 4, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
