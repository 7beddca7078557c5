#include "formats/gguf_cursor.h"

namespace spf::gguf_detail {

namespace {

// Bytes of one fixed-size element; 0 for strings and arrays.
uint64_t fixed_size(GgufType t) {
  switch (t) {
    case GgufType::u8:
    case GgufType::i8:
    case GgufType::bool_:
      return 1;
    case GgufType::u16:
    case GgufType::i16:
      return 2;
    case GgufType::u32:
    case GgufType::i32:
    case GgufType::f32:
      return 4;
    case GgufType::u64:
    case GgufType::i64:
    case GgufType::f64:
      return 8;
    default:
      return 0;
  }
}

// Any integer type as int64; a u64 above INT64_MAX keeps its bits (getters detect it by type).
int64_t read_int(GgufType t, const uint8_t* p) {
  switch (t) {
    case GgufType::u8:
      return load<uint8_t>(p);
    case GgufType::i8:
      return load<int8_t>(p);
    case GgufType::u16:
      return load<uint16_t>(p);
    case GgufType::i16:
      return load<int16_t>(p);
    case GgufType::u32:
      return load<uint32_t>(p);
    case GgufType::i32:
      return load<int32_t>(p);
    case GgufType::u64:
      return int64_t(load<uint64_t>(p));
    case GgufType::i64:
      return load<int64_t>(p);
    default:
      return 0;
  }
}

void check_bool(Cursor& c, uint8_t b, uint64_t at) {
  if (b > 1) fail(c.path(), ": invalid bool value ", int(b), " at offset ", at, " in ", c.where());
}

void read_array(Cursor& c, GgufValue& v, int depth) {
  const uint64_t at = c.pos();
  const uint32_t et = c.get<uint32_t>("array element type");
  if (!gguf_type_valid(et))
    fail(c.path(), ": invalid array element type ", et, " at offset ", at, " in ", c.where());
  v.elem_type = GgufType(et);
  if (v.elem_type == GgufType::array && depth + 1 >= kMaxArrayDepth) {
    fail(c.path(), ": arrays nested deeper than ", kMaxArrayDepth, " levels at offset ", at, " in ",
         c.where());
  }
  const uint64_t n = c.get<uint64_t>("array length");
  const uint64_t es = fixed_size(v.elem_type);
  if (es != 0) {
    // Whole payload checked up front, so a huge count cannot trigger a huge allocation.
    if (n > c.remaining() / es) {
      fail(c.path(), ": truncated at offset ", c.pos(), " while reading ", n, " array elements of ",
           c.where());
    }
    const uint64_t data_at = c.pos();
    const uint8_t* p = c.take(n * es, "array elements");
    if (gguf_is_float(v.elem_type)) {
      v.floats.resize(size_t(n));
      for (uint64_t i = 0; i < n; ++i) {
        v.floats[i] =
            v.elem_type == GgufType::f32 ? double(load<float>(p + 4 * i)) : load<double>(p + 8 * i);
      }
    } else {
      v.ints.resize(size_t(n));
      for (uint64_t i = 0; i < n; ++i) {
        if (v.elem_type == GgufType::bool_) {
          if (p[i] > 1) {
            c.index().push_back(i);
            check_bool(c, p[i], data_at + i);
          }
          v.ints[i] = p[i];
        } else {
          v.ints[i] = read_int(v.elem_type, p + es * i);
        }
      }
    }
    return;
  }
  // Strings take >= 8 bytes each and arrays >= 12, which caps a believable count.
  const uint64_t min_size = v.elem_type == GgufType::string ? 8 : 12;
  if (n > c.remaining() / min_size) {
    fail(c.path(), ": truncated at offset ", c.pos(), " while reading ", n, " array elements of ",
         c.where());
  }
  c.index().push_back(0);
  if (v.elem_type == GgufType::string) {
    v.strings.reserve(size_t(n));
    for (uint64_t i = 0; i < n; ++i) {
      c.index().back() = i;
      v.strings.push_back(c.str("string bytes"));
    }
  } else {
    v.arr.reserve(size_t(n));
    for (uint64_t i = 0; i < n; ++i) {
      c.index().back() = i;
      v.arr.push_back(read_value(c, GgufType::array, depth + 1));
    }
  }
  c.index().pop_back();
}

}  // namespace

GgufValue read_value(Cursor& c, GgufType type, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufType::f32:
      v.f = c.get<float>("value");
      break;
    case GgufType::f64:
      v.f = c.get<double>("value");
      break;
    case GgufType::bool_: {
      const uint64_t at = c.pos();
      const uint8_t b = c.get<uint8_t>("value");
      check_bool(c, b, at);
      v.i = b;
      v.u = b;
      break;
    }
    case GgufType::string:
      v.s = c.str("string bytes");
      break;
    case GgufType::array:
      read_array(c, v, depth);
      break;
    default:
      v.i = read_int(type, c.take(fixed_size(type), "value"));
      v.u = uint64_t(v.i);
  }
  return v;
}

}  // namespace spf::gguf_detail
