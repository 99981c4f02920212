// eigenformer/core/dtype.hpp — element types of stored tensors, and the conversions between them.
//
// Checkpoints store weights as F32, F16 ("half", IEEE 754 binary16) or BF16 ("brain float": the top 16
// bits of an F32). eigenformer computes in float or double, so every stored tensor is converted on load:
//
//   F16   1 sign, 5 exponent (bias 15),  10 mantissa bits — range ±65504, ~3 decimal digits
//   BF16  1 sign, 8 exponent (bias 127),  7 mantissa bits — F32's range, ~2 decimal digits
//
// Conversions to F16/BF16 round to nearest, ties to even, as PyTorch's .half() and .bfloat16() do.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "eigenformer/core/error.hpp"

namespace eigenformer {

/// The element types of the safetensors format.
enum class DType { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2 };

/// Bytes per element.
inline std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::BOOL: case DType::U8: case DType::I8: case DType::F8_E4M3: case DType::F8_E5M2: return 1;
    case DType::I16: case DType::U16: case DType::F16: case DType::BF16: return 2;
    case DType::I32: case DType::U32: case DType::F32: return 4;
    case DType::F64: case DType::I64: case DType::U64: return 8;
  }
  return 0;
}

/// The name safetensors uses in its header ("F32", "BF16", ...).
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::BOOL: return "BOOL";
    case DType::U8: return "U8";
    case DType::I8: return "I8";
    case DType::I16: return "I16";
    case DType::U16: return "U16";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::U32: return "U32";
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::U64: return "U64";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::F8_E5M2: return "F8_E5M2";
  }
  return "?";
}

inline std::optional<DType> dtype_from_name(std::string_view name) {
  static constexpr DType all[] = {DType::BOOL, DType::U8,  DType::I8,  DType::I16, DType::U16,
                                  DType::F16,  DType::BF16, DType::I32, DType::U32, DType::F32,
                                  DType::F64,  DType::I64, DType::U64, DType::F8_E4M3, DType::F8_E5M2};
  for (DType t : all) {
    if (name == dtype_name(t)) return t;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Bit-level conversions
// ---------------------------------------------------------------------------------------------

inline std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// binary16 → float. Exact: every half value is a float value.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  const std::uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) {  // infinity or NaN: all-ones exponent in both formats
    return bits_float(sign | 0x7F800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    // zero or subnormal: value = mantissa · 2^-24, exactly representable as a float
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  // normal: rebias the exponent from 15 to 127, widen the mantissa from 10 to 23 bits
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/// float → binary16, round to nearest even; overflow gives ±infinity, NaN stays NaN.
inline std::uint16_t float_to_half(float f) {
  const std::uint32_t u = float_bits(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  const std::uint32_t abs = u & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // infinity or NaN
    return static_cast<std::uint16_t>(sign | 0x7C00u | (abs > 0x7F800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477FF000u) {  // rounds to a value beyond 65504: infinity
    return static_cast<std::uint16_t>(sign | 0x7C00u);
  }
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero): value / 2^-24, rounded to nearest even by the FPU.
    const float scaled = std::fabs(f) * 16777216.0f;  // 2^24, exact
    const float rounded = std::nearbyint(scaled);     // default rounding mode: ties to even
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(rounded));
  }
  // Normal: drop 13 mantissa bits with round-to-nearest-even, then rebias 127 → 15.
  const std::uint32_t lsb = (abs >> 13) & 1u;
  const std::uint32_t rounded = abs + 0xFFFu + lsb;
  return static_cast<std::uint16_t>(sign | ((rounded - (112u << 23)) >> 13));
}

/// bfloat16 → float: the 16 stored bits are the float's upper half. Exact.
inline float bf16_to_float(std::uint16_t b) { return bits_float(static_cast<std::uint32_t>(b) << 16); }

/// float → bfloat16, round to nearest even; NaN stays a (quiet) NaN.
inline std::uint16_t float_to_bf16(float f) {
  const std::uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  const std::uint32_t lsb = (u >> 16) & 1u;
  return static_cast<std::uint16_t>((u + 0x7FFFu + lsb) >> 16);
}

// ---------------------------------------------------------------------------------------------
// Element-wise conversion between a stored buffer and a scalar type
// ---------------------------------------------------------------------------------------------

namespace detail {
template <class Stored>
Stored load_le(const unsigned char* p) {
  // safetensors is little-endian; so are the machines eigenformer targets (x86-64, arm64).
  Stored v;
  std::memcpy(&v, p, sizeof(Stored));
  return v;
}
}  // namespace detail

namespace detail {
/// dst[i] = Scalar(value(stored_i)) for `count` little-endian values of type Stored: one loop per stored type, so
/// the type is decided once per tensor, not once per element (loading 110M weights is then a plain copy loop).
template <class Stored, class Scalar, class Value>
void convert_each(const unsigned char* src, std::size_t count, Scalar* dst, Value value) {
  for (std::size_t i = 0; i < count; ++i) dst[i] = static_cast<Scalar>(value(load_le<Stored>(src + i * sizeof(Stored))));
}
}  // namespace detail

/// True when a tensor stored as `dtype` holds exactly Scalar's bytes (F32 for float, F64 for double, on the
/// little-endian machines eigenformer targets): it can be read straight into the model's memory, no conversion.
template <class Scalar>
bool stored_as(DType dtype) {
  return (dtype == DType::F32 && std::is_same<Scalar, float>::value) ||
         (dtype == DType::F64 && std::is_same<Scalar, double>::value);
}

/// Converts `count` elements of type `from` at `src` (raw little-endian bytes) to Scalar.
/// Integers convert by value; F8 formats are not supported (ValueError).
template <class Scalar>
void convert_from(DType from, const unsigned char* src, std::size_t count, Scalar* dst) {
  using detail::convert_each;
  if (count == 0) return;
  if (stored_as<Scalar>(from)) {  // the same bytes: a copy
    std::memcpy(dst, src, count * sizeof(Scalar));
    return;
  }
  const auto as_is = [](auto v) { return v; };
  switch (from) {
    case DType::F32: return convert_each<float>(src, count, dst, as_is);
    case DType::F64: return convert_each<double>(src, count, dst, as_is);
    case DType::F16: return convert_each<std::uint16_t>(src, count, dst, [](std::uint16_t h) { return half_to_float(h); });
    case DType::BF16: return convert_each<std::uint16_t>(src, count, dst, [](std::uint16_t b) { return bf16_to_float(b); });
    case DType::BOOL: return convert_each<std::uint8_t>(src, count, dst, [](std::uint8_t b) { return b != 0; });
    case DType::U8: return convert_each<std::uint8_t>(src, count, dst, as_is);
    case DType::I8: return convert_each<std::int8_t>(src, count, dst, as_is);
    case DType::I16: return convert_each<std::int16_t>(src, count, dst, as_is);
    case DType::U16: return convert_each<std::uint16_t>(src, count, dst, as_is);
    case DType::I32: return convert_each<std::int32_t>(src, count, dst, as_is);
    case DType::U32: return convert_each<std::uint32_t>(src, count, dst, as_is);
    case DType::I64: return convert_each<std::int64_t>(src, count, dst, as_is);
    case DType::U64: return convert_each<std::uint64_t>(src, count, dst, as_is);
    case DType::F8_E4M3:
    case DType::F8_E5M2:
      throw ValueError(detail::cat("[dtype] converting ", dtype_name(from), " tensors is not supported"));
  }
}

/// Converts `count` values of Scalar to raw little-endian bytes of type `to` (floating types only).
template <class Scalar>
void convert_to(DType to, const Scalar* src, std::size_t count, unsigned char* dst) {
  for (std::size_t i = 0; i < count; ++i) {
    unsigned char* p = dst + i * dtype_size(to);
    switch (to) {
      case DType::F32: { float v = static_cast<float>(src[i]); std::memcpy(p, &v, 4); break; }
      case DType::F64: { double v = static_cast<double>(src[i]); std::memcpy(p, &v, 8); break; }
      case DType::F16: { std::uint16_t v = float_to_half(static_cast<float>(src[i])); std::memcpy(p, &v, 2); break; }
      case DType::BF16: { std::uint16_t v = float_to_bf16(static_cast<float>(src[i])); std::memcpy(p, &v, 2); break; }
      case DType::I64: { std::int64_t v = static_cast<std::int64_t>(src[i]); std::memcpy(p, &v, 8); break; }
      case DType::I32: { std::int32_t v = static_cast<std::int32_t>(src[i]); std::memcpy(p, &v, 4); break; }
      default:
        throw ValueError(detail::cat("[dtype] writing ", dtype_name(to), " tensors is not supported"));
    }
  }
}

}  // namespace eigenformer
