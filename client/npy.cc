#include "client/npy.h"

#include <cstring>
#include <map>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/file_bytes.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.cc decodes little-endian data with memcpy; add byte swapping for this host"
#endif

namespace bnserve::client {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

// Values of the header dict: 'descr' (string), 'fortran_order' (bool),
// 'shape' (tuple of ints).
using HeaderValue = std::variant<std::string, bool, std::vector<int64_t>>;

// A recursive-descent reader for the tiny subset of Python literals numpy
// writes: {'key': value, ...} with string, True/False and int-tuple values.
// Every step checks bounds; anything else is an error, never UB.
class HeaderDictParser {
 public:
  HeaderDictParser(absl::string_view text, const std::string& what) : text_(text), what_(what) {}

  absl::StatusOr<std::map<std::string, HeaderValue>> Parse() {
    std::map<std::string, HeaderValue> dict;
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      auto key = ParseString();
      if (!key.ok()) return key.status();
      if (!Consume(':')) return Error("expected ':' after key");
      auto value = ParseValue();
      if (!value.ok()) return value.status();
      if (!dict.emplace(*key, *std::move(value)).second) return Error(absl::StrCat("duplicate key '", *key, "'"));
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the header dict");
    return dict;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(absl::string_view word) {
    SkipSpace();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  absl::Status Error(const std::string& message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": malformed .npy header at byte ", pos_, " of the dict: ", message));
  }

  absl::StatusOr<std::string> ParseString() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return Error("expected a quoted string");
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == absl::string_view::npos) return Error("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  absl::StatusOr<int64_t> ParseInt() {
    SkipSpace();
    const size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
      const int digit = text_[pos_] - '0';
      if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, digit, &value)) {
        return Error("shape dim overflows int64");
      }
      ++pos_;
    }
    if (pos_ == start) return Error("expected a non-negative integer in the shape");
    // Python 2 era files may write 3L.
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    return value;
  }

  absl::StatusOr<std::vector<int64_t>> ParseTuple() {
    std::vector<int64_t> dims;
    while (true) {
      SkipSpace();
      if (Consume(')')) return dims;
      auto dim = ParseInt();
      if (!dim.ok()) return dim.status();
      if (dims.size() >= kMaxNpyDims) return Error(absl::StrCat("shape has more than ", kMaxNpyDims, " dims"));
      dims.push_back(*dim);
      if (Consume(',')) continue;
      if (Consume(')')) return dims;
      return Error("expected ',' or ')' in the shape");
    }
  }

  absl::StatusOr<HeaderValue> ParseValue() {
    SkipSpace();
    if (ConsumeWord("True")) return HeaderValue(true);
    if (ConsumeWord("False")) return HeaderValue(false);
    if (Consume('(')) {
      auto tuple = ParseTuple();
      if (!tuple.ok()) return tuple.status();
      return HeaderValue(*std::move(tuple));
    }
    auto s = ParseString();
    if (!s.ok()) return Error("expected a string, True, False or a tuple");
    return HeaderValue(*std::move(s));
  }

  absl::string_view text_;
  const std::string& what_;
  size_t pos_ = 0;
};

uint32_t ReadLittleEndian(absl::string_view bytes, size_t offset, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i)
    value |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return value;
}

// The header fields, type-checked.
absl::Status FillHeader(const std::map<std::string, HeaderValue>& dict, const std::string& what, NpyHeader* header) {
  auto descr = dict.find("descr");
  auto fortran = dict.find("fortran_order");
  auto shape = dict.find("shape");
  if (descr == dict.end() || fortran == dict.end() || shape == dict.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": .npy header must have the keys 'descr', 'fortran_order' and 'shape'"));
  }
  if (!std::holds_alternative<std::string>(descr->second)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": .npy header 'descr' is not a string (structured dtype?)"));
  }
  if (!std::holds_alternative<bool>(fortran->second)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": .npy header 'fortran_order' is not True/False"));
  }
  if (!std::holds_alternative<std::vector<int64_t>>(shape->second)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": .npy header 'shape' is not a tuple"));
  }
  header->descr = std::get<std::string>(descr->second);
  header->fortran_order = std::get<bool>(fortran->second);
  header->shape = std::get<std::vector<int64_t>>(shape->second);
  return absl::OkStatus();
}

// Element size of the dtypes we read, 0 for any other.
size_t ItemSize(const std::string& descr) {
  if (descr == "<f4" || descr == "<i4") return 4;
  if (descr == "<f8" || descr == "<i8") return 8;
  return 0;
}

// Checks dtype family, order, shape and data length; returns the element
// count. `kind` is 'f' or 'i'.
absl::StatusOr<int64_t> CheckPayload(const NpyHeader& header, absl::string_view bytes, char kind,
                                     const std::string& what) {
  const size_t item = ItemSize(header.descr);
  if (item == 0 || header.descr[1] != kind) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": unsupported dtype '", header.descr, "': expected ",
                     kind == 'f' ? "float32 ('<f4') or float64 ('<f8')" : "int64 ('<i8') or int32 ('<i4') labels"));
  }
  if (header.fortran_order) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": Fortran-ordered array (fortran_order: True) is not supported; save it in C order "
                     "(numpy.ascontiguousarray)"));
  }
  int64_t count = 1;
  for (int64_t dim : header.shape) {
    if (__builtin_mul_overflow(count, dim, &count)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": .npy shape ", ShapeString(header.shape), " overflows"));
    }
  }
  int64_t data_bytes = 0;
  if (__builtin_mul_overflow(count, static_cast<int64_t>(item), &data_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": .npy shape ", ShapeString(header.shape), " overflows"));
  }
  const size_t available = bytes.size() - header.data_offset;
  if (static_cast<uint64_t>(data_bytes) != available) {
    return absl::DataLossError(absl::StrCat(what, ": .npy shape ", ShapeString(header.shape), " of '", header.descr,
                                            "' needs ", data_bytes, " data bytes, the file has ", available));
  }
  return count;
}

template <typename T>
T LoadAt(const char* data, int64_t i) {
  T value;
  std::memcpy(&value, data + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return value;
}

std::string SerializeWithDescr(const std::vector<int64_t>& shape, const char* descr, const void* data,
                               size_t data_bytes) {
  std::string dims;
  for (int64_t d : shape) absl::StrAppend(&dims, d, shape.size() == 1 ? "," : ", ");
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  std::string dict = absl::StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (", dims, "), }");
  // Version 1.0 (2-byte header length) always suffices: the dict of a
  // shape with at most 64 dims is far below 65535 bytes. Pad with spaces and
  // a final newline so that the data starts at a multiple of 64 bytes
  // (numpy's alignment rule).
  constexpr size_t kPrefix = kMagicLen + 2 + 2;
  const size_t total = (kPrefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - kPrefix - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(dict.size() & 0xff));
  out.push_back(static_cast<char>(dict.size() >> 8));
  out += dict;
  out.append(static_cast<const char*>(data), data_bytes);
  return out;
}

}  // namespace

absl::StatusOr<NpyHeader> ParseNpyHeader(absl::string_view bytes, const std::string& what) {
  if (bytes.size() < kMagicLen + 2 || bytes.substr(0, kMagicLen) != absl::string_view(kMagic, kMagicLen)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a .npy file (missing the \\x93NUMPY magic)"));
  }
  NpyHeader header;
  header.major_version = static_cast<unsigned char>(bytes[kMagicLen]);
  if (header.major_version < 1 || header.major_version > 3) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": unsupported .npy format version ", header.major_version,
                                                   ".", static_cast<unsigned char>(bytes[kMagicLen + 1]),
                                                   " (expected 1.0, 2.0 or 3.0)"));
  }
  const size_t len_width = header.major_version == 1 ? 2 : 4;
  const size_t prefix = kMagicLen + 2 + len_width;
  if (bytes.size() < prefix) return absl::DataLossError(absl::StrCat(what, ": .npy file truncated in its preamble"));
  const size_t header_len = ReadLittleEndian(bytes, kMagicLen + 2, len_width);
  if (header_len > kMaxNpyHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": .npy header length ", header_len, " exceeds the limit of ",
                                                   kMaxNpyHeaderBytes, " bytes"));
  }
  if (header_len > bytes.size() - prefix) {
    return absl::DataLossError(absl::StrCat(what, ": .npy header length ", header_len, " runs past the end of the ",
                                            bytes.size(), "-byte file"));
  }
  header.data_offset = prefix + header_len;
  HeaderDictParser parser(bytes.substr(prefix, header_len), what);
  auto dict = parser.Parse();
  if (!dict.ok()) return dict.status();
  if (absl::Status s = FillHeader(*dict, what, &header); !s.ok()) return s;
  return header;
}

absl::StatusOr<FloatArray> ParseNpyFloat(absl::string_view bytes, const std::string& what) {
  auto header = ParseNpyHeader(bytes, what);
  if (!header.ok()) return header.status();
  auto count = CheckPayload(*header, bytes, 'f', what);
  if (!count.ok()) return count.status();
  FloatArray array;
  array.shape = header->shape;
  array.values.resize(static_cast<size_t>(*count));
  const char* data = bytes.data() + header->data_offset;
  if (header->descr == "<f4") {
    if (*count > 0) std::memcpy(array.values.data(), data, static_cast<size_t>(*count) * sizeof(float));
  } else {
    for (int64_t i = 0; i < *count; ++i) array.values[i] = static_cast<float>(LoadAt<double>(data, i));
  }
  return array;
}

absl::StatusOr<LabelArray> ParseNpyLabels(absl::string_view bytes, const std::string& what) {
  auto header = ParseNpyHeader(bytes, what);
  if (!header.ok()) return header.status();
  auto count = CheckPayload(*header, bytes, 'i', what);
  if (!count.ok()) return count.status();
  LabelArray array;
  array.shape = header->shape;
  array.values.resize(static_cast<size_t>(*count));
  const char* data = bytes.data() + header->data_offset;
  const bool wide = header->descr == "<i8";
  for (int64_t i = 0; i < *count; ++i) array.values[i] = wide ? LoadAt<int64_t>(data, i) : LoadAt<int32_t>(data, i);
  return array;
}

absl::StatusOr<FloatArray> ReadNpyFloat(const std::string& path) {
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  return ParseNpyFloat(*bytes, path);
}

absl::StatusOr<LabelArray> ReadNpyLabels(const std::string& path) {
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  return ParseNpyLabels(*bytes, path);
}

std::string SerializeNpy(const FloatArray& array) {
  return SerializeWithDescr(array.shape, "<f4", array.values.data(), array.values.size() * sizeof(float));
}

std::string SerializeNpy(const LabelArray& array) {
  return SerializeWithDescr(array.shape, "<i8", array.values.data(), array.values.size() * sizeof(int64_t));
}

}  // namespace bnserve::client
