// The safetensors reader and writer: round trips in every float dtype, F16/BF16 rounding exactly as
// PyTorch does it, and a clear error for every way a file can lie.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string>

#include "eigenformer/eigenformer.hpp"
#include "support/fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;
namespace fs = std::filesystem;

namespace {

fs::path scratch_dir() {
  fs::path dir = fs::temp_directory_path() / ("eigenformer-test-safetensors-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir;
}

// A file from a header text and a number of data bytes.
std::string write_raw(const std::string& name, const std::string& header, std::size_t data_bytes,
                      std::uint64_t header_length_override = 0) {
  const fs::path path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t n = header_length_override ? header_length_override : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  out << header;
  out << std::string(data_bytes, '\0');
  return path.string();
}

std::string error_of(const std::string& path) {
  try {
    SafeTensorsReader reader(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("tensors round-trip through the writer and reader in F32, F64, F16 and BF16") {
  const std::vector<float> values = {0.0f, 1.0f, -2.5f, 3.140625f, 65504.0f, -1e-3f};
  SafeTensorsWriter writer;
  writer.add("a.f32", {2, 3}, values.data(), DType::F32);
  writer.add("b.f64", {6}, values.data(), DType::F64);
  writer.add("c.f16", {3, 2}, values.data(), DType::F16);
  writer.add("d.bf16", {1, 6}, values.data(), DType::BF16);
  writer.set_metadata("format", "pt");
  const std::string path = (scratch_dir() / "roundtrip.safetensors").string();
  writer.write(path);

  SafeTensorsReader reader(path);
  CHECK(reader.metadata().at("format") == "pt");
  REQUIRE(reader.tensors().size() == 4);
  CHECK(reader.info("c.f16").shape == std::vector<std::int64_t>{3, 2});
  CHECK(reader.info("c.f16").dtype == DType::F16);
  CHECK(reader.read<float>("a.f32") == values);
  CHECK(reader.read<float>("b.f64") == values);
  const std::vector<double> f16 = reader.read<double>("c.f16");
  CHECK(f16[3] == 3.140625);  // representable in F16
  CHECK(f16[4] == 65504.0);
  CHECK(std::abs(f16[5] - (-1e-3)) < 1e-6);
  const std::vector<float> bf16 = reader.read<float>("d.bf16");
  CHECK(bf16[2] == -2.5f);
  CHECK(std::abs(bf16[5] + 1e-3f) < 1e-5f);
  CHECK(fs::file_size(path) % 8 == 0);  // header padded to 8 bytes, data F32+F64+F16+BF16 = 24+48+12+12
}

TEST_CASE("F16 and BF16 conversions round exactly as PyTorch does") {
  Fixture fx("core/misc.safetensors");
  const std::vector<float> input = fx.values<float>("half_rounding.input.f32");
  // Decoding: the reader turns the stored F16/BF16 bits into the values PyTorch reports.
  const std::vector<float> f16_decoded = fx.values<float>("half_rounding.expected.f16");
  const std::vector<float> bf16_decoded = fx.values<float>("half_rounding.expected.bf16");
  const std::vector<float> f16_reference = fx.values<float>("half_rounding.expected.f16_as_f32");
  const std::vector<float> bf16_reference = fx.values<float>("half_rounding.expected.bf16_as_f32");
  REQUIRE(input.size() == f16_reference.size());
  // Stored as PyTorch wrote them: the F16 and BF16 tensors hold the 2-byte bits, so reading them exercises the
  // decoder (tools/fixtures/make_core_fixtures.py keeps these dtypes).
  CHECK(fx.info("half_rounding.input.f32").dtype == DType::F32);
  CHECK(fx.info("half_rounding.expected.f16").dtype == DType::F16);
  CHECK(fx.info("half_rounding.expected.bf16").dtype == DType::BF16);
  CHECK(fx.info("half_rounding.expected.f16_as_f32").dtype == DType::F32);
  CHECK(fx.info("half_rounding.expected.bf16_as_f32").dtype == DType::F32);
  int mismatches = 0;
  for (std::size_t i = 0; i < input.size(); ++i) {
    // Encoding: our rounding gives the same value PyTorch's does, bit for bit (compare as floats; ±0 too).
    const float ours16 = half_to_float(float_to_half(input[i]));
    const float oursbf = bf16_to_float(float_to_bf16(input[i]));
    const bool ok = float_bits(ours16) == float_bits(f16_reference[i]) && float_bits(oursbf) == float_bits(bf16_reference[i]) &&
                    float_bits(f16_decoded[i]) == float_bits(f16_reference[i]) &&
                    float_bits(bf16_decoded[i]) == float_bits(bf16_reference[i]);
    if (!ok) {
      ++mismatches;
      INFO("input " << input[i] << ": f16 ours " << ours16 << " torch " << f16_reference[i] << "; bf16 ours " << oursbf
                    << " torch " << bf16_reference[i]);
      CHECK(ok);
    }
  }
  CHECK(mismatches == 0);
  const float nan = fx.values<float>("half_rounding.input.nan")[0];
  CHECK(std::isnan(half_to_float(float_to_half(nan))));
  CHECK(std::isnan(bf16_to_float(float_to_bf16(nan))));
}

TEST_CASE("every stored dtype converts by value, and F32/F64 are read straight into float/double") {
  // The bytes of each dtype, little-endian, and the value each element stands for.
  const auto bytes_of = [](auto... v) {
    std::vector<unsigned char> out;
    const auto append = [&](auto x) {
      unsigned char b[sizeof(x)];
      std::memcpy(b, &x, sizeof(x));
      out.insert(out.end(), b, b + sizeof(x));
    };
    (append(v), ...);
    return out;
  };
  struct Case {
    DType dtype;
    std::vector<unsigned char> bytes;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {DType::BOOL, bytes_of(std::uint8_t{0}, std::uint8_t{1}, std::uint8_t{7}), {0, 1, 1}},
      {DType::U8, bytes_of(std::uint8_t{0}, std::uint8_t{200}, std::uint8_t{255}), {0, 200, 255}},
      {DType::I8, bytes_of(std::int8_t{-128}, std::int8_t{-1}, std::int8_t{127}), {-128, -1, 127}},
      {DType::I16, bytes_of(std::int16_t{-32768}, std::int16_t{3}, std::int16_t{32767}), {-32768, 3, 32767}},
      {DType::U16, bytes_of(std::uint16_t{0}, std::uint16_t{40000}, std::uint16_t{65535}), {0, 40000, 65535}},
      {DType::I32, bytes_of(std::int32_t{-70000}, std::int32_t{0}, std::int32_t{123456}), {-70000, 0, 123456}},
      {DType::U32, bytes_of(std::uint32_t{4000000000u}, std::uint32_t{1}, std::uint32_t{2}), {4e9, 1, 2}},
      {DType::I64, bytes_of(std::int64_t{-5}, std::int64_t{1} << 40, std::int64_t{9}), {-5, 1099511627776.0, 9}},
      {DType::U64, bytes_of(std::uint64_t{5}, std::uint64_t{1} << 50, std::uint64_t{0}), {5, 1125899906842624.0, 0}},
      {DType::F16, bytes_of(std::uint16_t{0x3C00}, std::uint16_t{0xC000}, std::uint16_t{0x0001}), {1, -2, std::ldexp(1.0, -24)}},
      {DType::BF16, bytes_of(std::uint16_t{0x3F80}, std::uint16_t{0xC040}, std::uint16_t{0x4049}), {1, -3, 3.140625}},
      {DType::F32, bytes_of(1.5f, -0.1f, 3e38f), {1.5, static_cast<double>(-0.1f), static_cast<double>(3e38f)}},
      {DType::F64, bytes_of(1.5, -0.1, 1e300), {1.5, -0.1, 1e300}},
  };
  for (const Case& c : cases) {
    CAPTURE(dtype_name(c.dtype));
    std::vector<double> as_double(3);
    std::vector<float> as_float(3);
    convert_from(c.dtype, c.bytes.data(), 3, as_double.data());
    convert_from(c.dtype, c.bytes.data(), 3, as_float.data());
    for (int i = 0; i < 3; ++i) {
      CHECK(as_double[i] == c.values[i]);
      CHECK(as_float[i] == static_cast<float>(c.values[i]));
    }
  }
  CHECK(stored_as<float>(DType::F32));
  CHECK(stored_as<double>(DType::F64));
  CHECK_FALSE(stored_as<double>(DType::F32));
  CHECK_FALSE(stored_as<float>(DType::BF16));
  // F8 is not supported: refused, but only when there is something to convert.
  std::vector<float> none;
  CHECK_NOTHROW(convert_from(DType::F8_E4M3, nullptr, 0, none.data()));
  const std::vector<unsigned char> one_byte = {0x38};
  float out = 0;
  CHECK_THROWS_WITH_AS(convert_from(DType::F8_E5M2, one_byte.data(), 1, &out),
                       "[dtype] converting F8_E5M2 tensors is not supported", ValueError);

  // Through the reader: F32 into float and F64 into double keep every bit (they are read straight in), F32 into
  // double widens exactly, and a tensor after an empty one is read from its own offset.
  SafeTensorsWriter writer;
  const std::vector<float> f = {1.0f, -0.0f, std::numeric_limits<float>::denorm_min(), 0.1f};
  const std::vector<double> d = {0.1, -1e-300, 2.0, std::nextafter(1.0, 2.0)};
  writer.add("empty", {0}, f.data(), DType::F32);
  writer.add("f", {4}, f.data(), DType::F32);
  writer.add("d", {2, 2}, d.data(), DType::F64);
  const std::string path = (scratch_dir() / "direct.safetensors").string();
  writer.write(path);
  SafeTensorsReader reader(path);
  const std::vector<float> f_back = reader.read<float>("f");
  const std::vector<double> d_back = reader.read<double>("d");
  const std::vector<double> f_wide = reader.read<double>("f");
  CHECK(reader.read<float>("empty").empty());
  CHECK(std::memcmp(f_back.data(), f.data(), f.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(d_back.data(), d.data(), d.size() * sizeof(double)) == 0);
  for (std::size_t i = 0; i < f.size(); ++i) CHECK(f_wide[i] == static_cast<double>(f[i]));
}

TEST_CASE("every malformed file gives a FormatError naming the file, the tensor and the problem") {
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  CHECK(error_of(write_raw("good.safetensors", "{" + ok_entry + "}", 8)) == "no error");

  // The 8-byte length.
  {
    const fs::path p = scratch_dir() / "short.safetensors";
    std::ofstream(p, std::ios::binary) << "abc";
    CHECK(error_of(p.string()).find("too short for the 8-byte header length") != std::string::npos);
  }
  CHECK(error_of(write_raw("huge.safetensors", "{}", 0, 200'000'000)).find("exceeds the 100000000-byte limit") != std::string::npos);
  CHECK(error_of(write_raw("past.safetensors", "{}", 0, 5000)).find("runs past the end of the file") != std::string::npos);

  // The JSON.
  CHECK(error_of(write_raw("json.safetensors", "{\"w\":", 0)).find("malformed header") != std::string::npos);
  CHECK(error_of(write_raw("array.safetensors", "[1,2]", 0)).find("header is not a JSON object") != std::string::npos);
  const std::string dup = write_raw("dup.safetensors", "{" + ok_entry + "," + ok_entry + "}", 8);
  CHECK(error_of(dup).find("duplicate tensor name 'w'") != std::string::npos);
  CHECK(error_of(dup).find("dup.safetensors") != std::string::npos);

  // Each entry.
  const auto entry_error = [&](const std::string& name, const std::string& entry, std::size_t bytes) {
    return error_of(write_raw(name, "{\"w\":" + entry + "}", bytes));
  };
  CHECK(entry_error("e1", R"({"shape":[2],"data_offsets":[0,8]})", 8).find("tensor 'w': missing or non-string \"dtype\"") != std::string::npos);
  CHECK(entry_error("e2", R"({"dtype":"F12","shape":[2],"data_offsets":[0,8]})", 8).find("unknown dtype \"F12\"") != std::string::npos);
  CHECK(entry_error("e3", R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})", 8).find("non-negative integers") != std::string::npos);
  CHECK(entry_error("e4", R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})", 8).find("non-negative integers") != std::string::npos);
  CHECK(entry_error("e5", R"({"dtype":"F32","shape":[2],"data_offsets":[0]})", 8).find("array of two integers") != std::string::npos);
  CHECK(entry_error("e6", R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})", 8).find("end before they begin") != std::string::npos);
  CHECK(entry_error("e7", R"({"dtype":"F32","shape":[2],"data_offsets":[0,16]})", 8).find("run past the data buffer (8 bytes)") != std::string::npos);
  CHECK(entry_error("e8", R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,12]})", 12) ==
        "[safetensors] " + (scratch_dir() / "e8").string() +
            ": tensor 'w': data_offsets [0, 12) hold 12 bytes, but shape [2, 3] of F32 needs 6 x 4");
  CHECK(entry_error("e9", R"({"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]})", 8).find("overflows 64 bits") != std::string::npos);

  // The layout of the data buffer.
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string overlap = R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]})";
  const std::string gap = R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]})";
  CHECK(error_of(write_raw("overlap", "{" + a + "," + overlap + "}", 12)).find("overlap the previous tensor") != std::string::npos);
  CHECK(error_of(write_raw("gap", "{" + a + "," + gap + "}", 20)).find("leave a gap") != std::string::npos);
  CHECK(error_of(write_raw("trailing", "{" + a + "}", 12)).find("cover 8 bytes of data but the file holds 12") != std::string::npos);
  CHECK(error_of(write_raw("meta", R"({"__metadata__":{"k":1}})", 0)).find("__metadata__ value for 'k' is not a string") != std::string::npos);

  CHECK_THROWS_WITH_AS(SafeTensorsReader("/nonexistent/model.safetensors"),
                       "[safetensors] cannot open '/nonexistent/model.safetensors'", FileError);
  SafeTensorsReader good(write_raw("good2.safetensors", "{" + ok_entry + "}", 8));
  CHECK_THROWS_WITH_AS(good.info("x"), doctest::Contains("no tensor named 'x'"), FormatError);
}

TEST_CASE("saving is atomic: a failed write leaves the previous file intact") {
  const fs::path path = scratch_dir() / "atomic.safetensors";
  const std::vector<float> first = {1, 2, 3};
  SafeTensorsWriter w1;
  w1.add("x", {3}, first.data());
  w1.write(path.string());
  const std::vector<float> second = {4, 5, 6, 7};
  SafeTensorsWriter w2;
  w2.add("x", {4}, second.data());
  w2.write(path.string());  // replaces
  CHECK(SafeTensorsReader(path.string()).read<float>("x") == second);
  for (const auto& entry : fs::directory_iterator(scratch_dir())) {
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);  // no temporary left behind
  }
  CHECK_THROWS_AS(w1.write((scratch_dir() / "no-such-dir" / "x.safetensors").string()), FileError);
  CHECK_THROWS_AS(w1.add("x", {1}, first.data()), ValueError);  // duplicate name
  CHECK_THROWS_AS(w1.add("__metadata__", {1}, first.data()), ValueError);
}

namespace {

// Overwrites `path` in a forked child whose file-size limit (RLIMIT_FSIZE) is 64 KiB, with a 1 MiB tensor:
// the kernel stops the write midway, exactly as a full disk does. With `killed`, the child keeps SIGXFSZ's
// default action and dies by that signal in the middle of the write (a crash); otherwise it ignores the
// signal, the write fails with EFBIG, and the child exits 0 if the writer threw FileError (3 if it did not).
// Returns the child's wait status.
int overwrite_in_limited_child(const fs::path& path, bool killed) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::rlimit limit{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, killed ? SIG_DFL : SIG_IGN);
    const std::vector<float> big(256 * 1024, 9.0f);
    SafeTensorsWriter w;
    w.add("x", {static_cast<std::int64_t>(big.size())}, big.data());
    try {
      w.write(path.string());
    } catch (const FileError&) {
      ::_exit(0);
    } catch (...) {
      ::_exit(4);
    }
    ::_exit(3);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return status;
}

}  // namespace

TEST_CASE("an overwrite that fails midway (full disk, killed writer) leaves the old file intact and loadable") {
  const fs::path path = scratch_dir() / "atomic-midway.safetensors";
  const std::vector<float> old = {1, 2, 3};
  SafeTensorsWriter w;
  w.add("x", {3}, old.data());
  w.write(path.string());
  const auto bytes_of = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::string old_bytes = bytes_of(path);
  const auto temporaries = [&] {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(scratch_dir())) {
      if (entry.path().filename().string().rfind("atomic-midway.safetensors.tmp-", 0) == 0) found.push_back(entry.path());
    }
    return found;
  };

  // 1) The disk fills: the write fails with EFBIG, the writer throws FileError and removes its temporary.
  const int full = overwrite_in_limited_child(path, /*killed=*/false);
  REQUIRE(WIFEXITED(full));
  CHECK(WEXITSTATUS(full) == 0);  // 3: no error was reported; 4: another exception
  CHECK(bytes_of(path) == old_bytes);
  CHECK(SafeTensorsReader(path.string()).read<float>("x") == old);
  CHECK(temporaries().empty());

  // 2) The writer dies in the middle of writing (SIGXFSZ): no destructor runs; the partial temporary stays
  //    behind, at the 64 KiB limit, but the file itself is untouched.
  const int crash = overwrite_in_limited_child(path, /*killed=*/true);
  REQUIRE(WIFSIGNALED(crash));
  CHECK(WTERMSIG(crash) == SIGXFSZ);
  CHECK(bytes_of(path) == old_bytes);
  CHECK(SafeTensorsReader(path.string()).read<float>("x") == old);
  const std::vector<fs::path> left = temporaries();
  REQUIRE(left.size() == 1);
  CHECK(fs::file_size(left.front()) == 64 * 1024);
  fs::remove(left.front());
}
