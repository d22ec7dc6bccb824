// A JPEG fast path for small images: decode with libjpeg-turbo's DCT scaling
// (to the smallest power-of-two reduction still at or above the target size)
// and resample with an antialiased Lanczos-3 filter, straight into the caller's
// pixel buffer, on libuv's thread pool. libvips (sharp) costs about 1 ms of
// fixed overhead per image, which dominates for 200x200 face crops; this path
// costs a fraction of that.
//
// libjpeg-turbo is not linked here: libtensorflow (which tfjs-node already
// loads) links it and exports tensorflow::jpeg::Uncompress and GetImageInfo.
// They are looked up with dlsym by their mangled names, so a libtensorflow
// without them leaves this path unavailable (sharp does the work) instead of
// failing to load.
//
// Anything this path would not decode exactly as sharp does (not a JPEG, CMYK,
// an embedded ICC profile other than sRGB, no end marker, a decoder warning,
// an enlargement) is reported back, and the caller
// hands that file to sharp.
#include <dlfcn.h>
#include <node_api.h>

#include <algorithm>
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
// says, as floats for the resampler.
std::vector<float> orient(const uint8_t* src, int w, int h, int o, int* ow, int* oh) {
  bool swap = o >= 5;
  *ow = swap ? h : w;
  *oh = swap ? w : h;
  std::vector<float> out(static_cast<size_t>(w) * h * 3);
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
      float* q = &out[(static_cast<size_t>(y) * *ow + x) * 3];
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

Status decode_one(const std::string& path, const Options& opt, uint8_t* out) {
  std::vector<uint8_t> data = read_file(path);
  int orientation;
  bool icc;
  if (data.empty() || !scan_markers(data, &orientation, &icc)) return kUnsupported;
  // No end-of-image marker: most likely cut off. sharp judges it (libjpeg would
  // also print its complaint to stderr from inside libtensorflow).
  if (data.size() < 4 || data[data.size() - 2] != 0xFF || data[data.size() - 1] != 0xD9) return kUnsupported;
  if (icc) return kUnsupported;
  int w, h, comps;
  if (!image_info(data.data(), static_cast<int>(data.size()), &w, &h, &comps)) return kFailed;
  if ((comps != 1 && comps != 3) || w <= 0 || h <= 0) return kUnsupported;

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

  UncompressFlags flags;
  flags.ratio = ratio;
  flags.components = 3;
  int dec_w = 0, dec_h = 0, dec_c = 0;
  int64_t warnings = 0;
  uint8_t* raw = uncompress(data.data(), static_cast<int>(data.size()), flags, &dec_w, &dec_h, &dec_c, &warnings);
  if (!raw) return kFailed;
  if (warnings != 0 || dec_c != 3) {
    delete[] raw;
    return kFailed;
  }
  int iw, ih;
  std::vector<float> img = orient(raw, dec_w, dec_h, orientation, &iw, &ih);
  delete[] raw;

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

// ---- N-API glue -----------------------------------------------------------

#define CHECK(call)                                   \
  do {                                                \
    if ((call) != napi_ok) {                          \
      napi_throw_error(env, nullptr, "jpeg: " #call); \
      return nullptr;                                 \
    }                                                 \
  } while (0)

struct Job {
  std::vector<std::string> files;
  std::vector<int64_t> offsets;  // byte offset of each file's pixels in `out`
  Options opt;
  uint8_t* out = nullptr;
  size_t out_len = 0;
  napi_ref out_ref = nullptr;
  std::vector<uint8_t> status;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

void execute(napi_env, void* data) {
  Job* job = static_cast<Job*>(data);
  size_t bytes = static_cast<size_t>(job->opt.width) * job->opt.height * job->opt.channels;
  job->status.resize(job->files.size());
  for (size_t i = 0; i < job->files.size(); i++) {
    int64_t at = job->offsets[i];
    job->status[i] = at < 0 || static_cast<size_t>(at) + bytes > job->out_len
                         ? kUnsupported
                         : decode_one(job->files[i], job->opt, job->out + at);
  }
}

void complete(napi_env env, napi_status, void* data) {
  Job* job = static_cast<Job*>(data);
  napi_value buffer, result;
  void* bytes;
  if (napi_create_arraybuffer(env, job->status.size(), &bytes, &buffer) == napi_ok &&
      napi_create_typedarray(env, napi_uint8_array, job->status.size(), buffer, 0, &result) == napi_ok) {
    std::memcpy(bytes, job->status.data(), job->status.size());
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

// decode(files, out, offsets, {height, width, channels, fit, centerCrop}) -> Promise<Uint8Array of statuses>
napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
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
  job->opt = {static_cast<int>(number_prop(env, argv[3], "height")), static_cast<int>(number_prop(env, argv[3], "width")),
              static_cast<int>(number_prop(env, argv[3], "channels")), static_cast<int>(number_prop(env, argv[3], "fit")),
              number_prop(env, argv[3], "centerCrop")};
  napi_value promise, name;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "run-exp:jpeg", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, nullptr, name, execute, complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", nullptr, open_library, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"decode", nullptr, decode, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
