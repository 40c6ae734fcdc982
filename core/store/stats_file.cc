#include "core/store/stats_file.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/crc32c.h"

namespace bnserve {
namespace {

static_assert(std::numeric_limits<double>::is_iec559, "the file format stores IEEE-754 binary64");

// ---- encoding: fixed-width little-endian, independent of the host's order.

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

void PutI64(std::string* out, int64_t v) { PutU64(out, static_cast<uint64_t>(v)); }

void PutF64(std::string* out, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  PutU64(out, bits);
}

void PutString(std::string* out, absl::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s.data(), s.size());
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

// The rules shared by encoder and decoder, so that what one accepts the other
// does too. Returns a description of the first violation, or nullopt.
std::optional<std::string> FindRuleViolation(const StatsFileContents& c) {
  const VersionInfo& info = c.info;
  if (info.version < 1) return absl::StrCat("version: expected >= 1, got ", info.version);
  if (info.parent < 0 || info.parent >= info.version) {
    return absl::StrCat("parent: expected in [0, ", info.version, "), got ", info.parent);
  }
  if (info.batches < 0) return absl::StrCat("batches: expected >= 0, got ", info.batches);
  if (info.samples < 0) return absl::StrCat("samples: expected >= 0, got ", info.samples);
  if (info.request_id.empty() && info.request_digest != 0) {
    return absl::StrCat("request_digest: expected 0 without a request_id, got ", info.request_digest);
  }
  if (c.snapshot.version != info.version) {
    return absl::StrCat("snapshot.version: expected ", info.version, " (the file's version), got ", c.snapshot.version);
  }
  if (c.layer_names.size() != c.snapshot.layers.size()) {
    return absl::StrCat("layer_names: expected one per layer (", c.snapshot.layers.size(), "), got ",
                        c.layer_names.size());
  }
  for (size_t l = 0; l < c.snapshot.layers.size(); ++l) {
    const LayerStats& layer = c.snapshot.layers[l];
    const std::string where = absl::StrCat("layers[", l, "] ('", c.layer_names[l], "')");
    if (c.layer_names[l].empty()) return absl::StrCat("layers[", l, "].name: expected non-empty, got ''");
    if (layer.mean.size() != layer.var.size()) {
      return absl::StrCat(where, ": expected mean and var of equal length, got ", layer.mean.size(), " and ",
                          layer.var.size());
    }
    for (size_t ch = 0; ch < layer.mean.size(); ++ch) {
      if (!std::isfinite(layer.mean[ch])) {
        return absl::StrCat(where, ".mean[", ch, "]: expected finite, got ", layer.mean[ch]);
      }
      if (!std::isfinite(layer.var[ch])) {
        return absl::StrCat(where, ".var[", ch, "]: expected finite, got ", layer.var[ch]);
      }
    }
    if (layer.num_batches_tracked < 0) {
      return absl::StrCat(where, ".num_batches_tracked: expected >= 0, got ", layer.num_batches_tracked);
    }
    if (layer.sample_count < 0) {
      return absl::StrCat(where, ".sample_count: expected >= 0, got ", layer.sample_count);
    }
  }
  return std::nullopt;
}

// Sequential reader over the payload. Every read is bounds-checked and names
// the field, so a truncated or garbled payload reports where it went wrong.
class PayloadReader {
 public:
  PayloadReader(absl::string_view payload, absl::string_view source) : payload_(payload), source_(source) {}

  size_t remaining() const { return payload_.size() - pos_; }
  size_t position() const { return pos_; }

  absl::Status Error(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat("stats file '", source_, "': ", what));
  }

  absl::Status Need(size_t n, absl::string_view field) const {
    if (remaining() >= n) return absl::OkStatus();
    return Error(absl::StrCat("payload truncated: field '", field, "' needs ", n, " bytes at payload offset ", pos_,
                              ", ", remaining(), " left"));
  }

  absl::StatusOr<uint32_t> U32(absl::string_view field) {
    BN_RETURN_IF_ERROR(Need(4, field));
    const uint32_t v = GetU32(payload_.data() + pos_);
    pos_ += 4;
    return v;
  }

  absl::StatusOr<int64_t> I64(absl::string_view field) {
    BN_RETURN_IF_ERROR(Need(8, field));
    const int64_t v = static_cast<int64_t>(GetU64(payload_.data() + pos_));
    pos_ += 8;
    return v;
  }

  // Reads `count` float64 values into `out`; `count` was already checked
  // against remaining(), so the resize is bounded by the file size.
  absl::Status F64Array(size_t count, absl::string_view field, std::vector<double>* out) {
    BN_RETURN_IF_ERROR(Need(count * 8, field));
    out->resize(count);
    for (size_t i = 0; i < count; ++i) {
      const uint64_t bits = GetU64(payload_.data() + pos_ + 8 * i);
      std::memcpy(&(*out)[i], &bits, sizeof(bits));
    }
    pos_ += count * 8;
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(absl::string_view field) {
    BN_ASSIGN_OR_RETURN(const uint32_t length, U32(absl::StrCat(field, ".length")));
    BN_RETURN_IF_ERROR(Need(length, field));
    std::string s(payload_.substr(pos_, length));
    pos_ += length;
    return s;
  }

 private:
  absl::string_view payload_;
  absl::string_view source_;
  size_t pos_ = 0;
};

// Smallest encoding of one layer (empty name, zero channels): lets the decoder
// reject an absurd layer count before reserving memory for it.
constexpr size_t kMinLayerBytes = 4 + 8 + 8 + 8;

}  // namespace

absl::StatusOr<std::string> EncodeStatsFile(const StatsFileContents& contents) {
  if (auto violation = FindRuleViolation(contents)) {
    return absl::InvalidArgumentError(absl::StrCat("stats file contents: ", *violation));
  }
  const VersionInfo& info = contents.info;
  for (const std::string* s : {&info.origin, &info.mode, &info.note, &info.request_id}) {
    if (s->size() > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stats file contents: string of ", s->size(), " bytes exceeds the 4 GiB field limit"));
    }
  }
  if (contents.snapshot.layers.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("stats file contents: ", contents.snapshot.layers.size(), " layers exceed the 2^32-1 limit"));
  }

  std::string payload;
  PutI64(&payload, info.version);
  PutI64(&payload, info.parent);
  PutI64(&payload, info.created_unix_ms);
  PutString(&payload, info.origin);
  PutString(&payload, info.mode);
  PutI64(&payload, info.batches);
  PutI64(&payload, info.samples);
  PutString(&payload, info.note);
  // Format 1 has no request fields: written when there is nothing to put in
  // them, so older readers keep reading most files.
  const uint32_t format_version = info.request_id.empty() ? kStatsFileOldestFormatVersion : kStatsFileFormatVersion;
  if (format_version >= 2) {
    PutString(&payload, info.request_id);
    PutU32(&payload, info.request_digest);
  }
  PutU32(&payload, static_cast<uint32_t>(contents.snapshot.layers.size()));
  for (size_t l = 0; l < contents.snapshot.layers.size(); ++l) {
    const LayerStats& layer = contents.snapshot.layers[l];
    PutString(&payload, contents.layer_names[l]);
    PutI64(&payload, static_cast<int64_t>(layer.mean.size()));
    for (const double m : layer.mean) PutF64(&payload, m);
    for (const double v : layer.var) PutF64(&payload, v);
    PutI64(&payload, layer.num_batches_tracked);
    PutI64(&payload, layer.sample_count);
  }

  std::string file(kStatsFileMagic, sizeof(kStatsFileMagic));
  PutU32(&file, format_version);
  PutU64(&file, payload.size());
  PutU32(&file, crc32c::Mask(crc32c::Value(payload)));
  file += payload;
  return file;
}

absl::StatusOr<StatsFileContents> DecodeStatsFile(absl::string_view bytes, absl::string_view source) {
  auto error = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("stats file '", source, "': ", what));
  };
  if (bytes.size() < kStatsFileHeaderSize) {
    return error(
        absl::StrCat("truncated header: expected at least ", kStatsFileHeaderSize, " bytes, got ", bytes.size()));
  }
  const absl::string_view magic = bytes.substr(0, sizeof(kStatsFileMagic));
  if (magic != absl::string_view(kStatsFileMagic, sizeof(kStatsFileMagic))) {
    return error(absl::StrCat("bad magic: expected \"BNSTATS\\0\", got \"", absl::CHexEscape(magic), "\""));
  }
  const uint32_t format_version = GetU32(bytes.data() + 8);
  if (format_version < kStatsFileOldestFormatVersion || format_version > kStatsFileFormatVersion) {
    return error(absl::StrCat("unsupported format version: expected ", kStatsFileOldestFormatVersion, " to ",
                              kStatsFileFormatVersion, ", got ", format_version));
  }
  // The length must match the file exactly: catches truncation and trailing
  // garbage before the checksum is even computed.
  const uint64_t payload_length = GetU64(bytes.data() + 12);
  const uint64_t actual_length = bytes.size() - kStatsFileHeaderSize;
  if (payload_length != actual_length) {
    return error(absl::StrCat("payload length: header says ", payload_length, " bytes, file holds ", actual_length));
  }
  const absl::string_view payload = bytes.substr(kStatsFileHeaderSize);
  const uint32_t stored_crc = crc32c::Unmask(GetU32(bytes.data() + 20));
  const uint32_t actual_crc = crc32c::Value(payload);
  if (stored_crc != actual_crc) {
    return error(absl::StrFormat("payload checksum mismatch: header says CRC32C 0x%08x, payload has 0x%08x", stored_crc,
                                 actual_crc));
  }

  PayloadReader reader(payload, source);
  StatsFileContents c;
  VersionInfo& info = c.info;
  BN_ASSIGN_OR_RETURN(info.version, reader.I64("version"));
  BN_ASSIGN_OR_RETURN(info.parent, reader.I64("parent"));
  BN_ASSIGN_OR_RETURN(info.created_unix_ms, reader.I64("created_unix_ms"));
  BN_ASSIGN_OR_RETURN(info.origin, reader.String("origin"));
  BN_ASSIGN_OR_RETURN(info.mode, reader.String("mode"));
  BN_ASSIGN_OR_RETURN(info.batches, reader.I64("batches"));
  BN_ASSIGN_OR_RETURN(info.samples, reader.I64("samples"));
  BN_ASSIGN_OR_RETURN(info.note, reader.String("note"));
  if (format_version >= 2) {
    BN_ASSIGN_OR_RETURN(info.request_id, reader.String("request_id"));
    BN_ASSIGN_OR_RETURN(info.request_digest, reader.U32("request_digest"));
    // One encoding per value: a format-2 file always carries a request id.
    if (info.request_id.empty()) return error("request_id: expected non-empty in a format 2 file, got ''");
  }
  BN_ASSIGN_OR_RETURN(const uint32_t layer_count, reader.U32("layer_count"));
  if (layer_count > reader.remaining() / kMinLayerBytes) {
    return error(
        absl::StrCat("layer_count ", layer_count, " cannot fit in the ", reader.remaining(), " payload bytes left"));
  }
  c.snapshot.version = info.version;
  c.snapshot.layers.resize(layer_count);
  c.layer_names.resize(layer_count);
  for (uint32_t l = 0; l < layer_count; ++l) {
    const std::string prefix = absl::StrCat("layers[", l, "]");
    LayerStats& layer = c.snapshot.layers[l];
    BN_ASSIGN_OR_RETURN(c.layer_names[l], reader.String(absl::StrCat(prefix, ".name")));
    BN_ASSIGN_OR_RETURN(const int64_t channels, reader.I64(absl::StrCat(prefix, ".channels")));
    // Two float64 arrays of `channels` values must fit in what is left.
    if (channels < 0 || static_cast<uint64_t>(channels) > reader.remaining() / 16) {
      return error(absl::StrCat(prefix, ".channels: ", channels, " cannot fit in the ", reader.remaining(),
                                " payload bytes left at offset ", reader.position()));
    }
    BN_RETURN_IF_ERROR(reader.F64Array(static_cast<size_t>(channels), absl::StrCat(prefix, ".mean"), &layer.mean));
    BN_RETURN_IF_ERROR(reader.F64Array(static_cast<size_t>(channels), absl::StrCat(prefix, ".var"), &layer.var));
    BN_ASSIGN_OR_RETURN(layer.num_batches_tracked, reader.I64(absl::StrCat(prefix, ".num_batches_tracked")));
    BN_ASSIGN_OR_RETURN(layer.sample_count, reader.I64(absl::StrCat(prefix, ".sample_count")));
  }
  if (reader.remaining() != 0) {
    return error(absl::StrCat("payload has ", reader.remaining(), " unexpected trailing bytes after the last layer"));
  }
  if (auto violation = FindRuleViolation(c)) return error(*violation);
  return c;
}

std::optional<std::string> StatsFileLayerMismatch(const std::vector<BnLayerInfo>& layers,
                                                  const StatsFileContents& contents) {
  if (contents.layer_names.size() != layers.size()) {
    return absl::StrCat("it holds ", contents.layer_names.size(), " BN layers, the model has ", layers.size());
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    const int64_t channels = static_cast<int64_t>(contents.snapshot.layers[l].mean.size());
    if (contents.layer_names[l] != layers[l].name || channels != layers[l].channels) {
      return absl::StrCat("its BN layer ", l, " is '", contents.layer_names[l], "' with ", channels,
                          " channels, the model's is '", layers[l].name, "' with ", layers[l].channels);
    }
  }
  return std::nullopt;
}

}  // namespace bnserve
