#include "core/npy.h"

#include <cstring>
#include <numeric>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace spf {

void write_npy_f32(const std::string& path, std::span<const float> data,
                   std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  SPF_CHECK(n == int64_t(data.size()), path, ": shape does not match data size");
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)
    dict += cat(shape[i], shape.size() == 1 ? "," : (i + 1 < shape.size() ? ", " : ""));
  dict += "), }";
  const size_t prefix = 10;
  size_t total = prefix + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::string buf = std::string("\x93NUMPY\x01\x00", 8);
  const uint16_t hlen = uint16_t(dict.size());
  buf.push_back(char(hlen & 0xff));
  buf.push_back(char(hlen >> 8));
  buf += dict;
  const size_t off = buf.size();
  buf.resize(off + data.size_bytes());
  std::memcpy(buf.data() + off, data.data(), data.size_bytes());
  write_file_atomic(path, buf);
}

NpyArray read_npy(const std::string& path) {
  MappedFile f(path);
  const uint8_t* p = f.data();
  SPF_CHECK(f.size() >= 10 && std::memcmp(p, "\x93NUMPY", 6) == 0, path, ": not a .npy file");
  const int major = p[6];
  size_t hlen, hoff;
  if (major == 1) {
    hlen = p[8] | (size_t(p[9]) << 8);
    hoff = 10;
  } else {
    SPF_CHECK(f.size() >= 12, path, ": truncated .npy header");
    hlen = p[8] | (size_t(p[9]) << 8) | (size_t(p[10]) << 16) | (size_t(p[11]) << 24);
    hoff = 12;
  }
  SPF_CHECK(hoff + hlen <= f.size(), path, ": truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(p + hoff), hlen);
  auto field = [&](const std::string& key) {
    const size_t k = header.find("'" + key + "'");
    SPF_CHECK(k != std::string::npos, path, ": .npy header lacks ", key);
    return header.substr(header.find(':', k) + 1);
  };
  const std::string descr_s = field("descr");
  const size_t q1 = descr_s.find('\'');
  const std::string descr = descr_s.substr(q1 + 1, descr_s.find('\'', q1 + 1) - q1 - 1);
  SPF_CHECK(field("fortran_order").find("False") < 8, path,
            ": Fortran-order .npy is not supported");
  const std::string shape_s = field("shape");
  NpyArray a;
  {
    const size_t b = shape_s.find('('), e = shape_s.find(')');
    std::string inner = shape_s.substr(b + 1, e - b - 1);
    size_t pos = 0;
    while (pos < inner.size()) {
      size_t c = inner.find(',', pos);
      if (c == std::string::npos) c = inner.size();
      std::string tok = inner.substr(pos, c - pos);
      if (tok.find_first_not_of(" ") != std::string::npos) a.shape.push_back(std::stoll(tok));
      pos = c + 1;
    }
  }
  const int64_t n =
      std::accumulate(a.shape.begin(), a.shape.end(), int64_t(1), std::multiplies<>());
  const uint8_t* d = p + hoff + hlen;
  const size_t avail = f.size() - hoff - hlen;
  a.data.resize(size_t(n));
  auto need = [&](size_t es) { SPF_CHECK(avail >= size_t(n) * es, path, ": truncated .npy data"); };
  if (descr == "<f4") {
    need(4);
    std::memcpy(a.data.data(), d, size_t(n) * 4);
  } else if (descr == "<f8") {
    need(8);
    for (int64_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, d + i * 8, 8);
      a.data[size_t(i)] = float(v);
    }
  } else if (descr == "<i4") {
    need(4);
    for (int64_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, d + i * 4, 4);
      a.data[size_t(i)] = float(v);
    }
  } else if (descr == "<i8") {
    need(8);
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      std::memcpy(&v, d + i * 8, 8);
      a.data[size_t(i)] = float(v);
    }
  } else {
    fail(path, ": unsupported .npy dtype ", descr);
  }
  return a;
}

}  // namespace spf
