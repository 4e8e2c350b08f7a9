// What both catalog stores share: timestamps, UUIDs, choosing a store, key
// rotation.
#include "catalog/store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "catalog/fernet.h"

namespace pgwarden::catalog {
namespace {

// Namespace of name_uuid(): fixed forever, or config connection ids change.
constexpr std::array<std::uint8_t, 16> kNameNamespace = {
    0x01, 0xb3, 0xae, 0x51, 0x65, 0xa0, 0x4f, 0xb2, 0xb1, 0x52, 0x10, 0xb2, 0x7e, 0xbd, 0x36, 0x73};

std::string format_uuid(std::array<std::uint8_t, 16> bytes, int version) {
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | (version << 4));
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0x0f]);
  }
  return out;
}

}  // namespace

UnixMillis now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_timestamp(UnixMillis millis) {
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis % 1000));
  return buffer;
}

std::string random_uuid() {
  std::array<std::uint8_t, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) std::abort();
  return format_uuid(bytes, 4);
}

std::string name_uuid(std::string_view name) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, kNameNamespace.data(), kNameNamespace.size()) == 1 &&
                  EVP_DigestUpdate(ctx, name.data(), name.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &length) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || length < 16) std::abort();
  std::array<std::uint8_t, 16> bytes{};
  std::copy_n(digest, bytes.size(), bytes.begin());
  return format_uuid(bytes, 5);
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string default_catalog_path() {
  // systemd sets STATE_DIRECTORY for StateDirectory=; it may list several.
  if (const char* state = std::getenv("STATE_DIRECTORY"); state != nullptr && *state != '\0') {
    std::string first(state);
    first = first.substr(0, first.find(':'));
    return first + "/catalog.db";
  }
  return "/var/lib/pgwarden/catalog.db";
}

std::variant<std::shared_ptr<CatalogStore>, std::string> open_catalog_store(
    const std::string& path, const std::string& url) {
  try {
    if (!url.empty()) return open_postgres_store(url);
    return open_sqlite_store(path.empty() ? default_catalog_path() : path);
  } catch (const StoreError& e) {
    return std::string("catalog: ") + e.what();
  }
}

RotationResult rotate_connection_keys(CatalogStore& store, const Fernet& keys) {
  RotationResult result;
  for (const ConnectionRecord& summary : store.list_connections(std::nullopt)) {
    auto plaintext = keys.decrypt(summary.connection_string_encrypted);
    if (!plaintext) {
      ++result.undecryptable;
      continue;
    }
    if (store.set_connection_string(summary.id, keys.encrypt(*plaintext)) == WriteStatus::Ok) {
      ++result.rotated;
    }
  }
  return result;
}

}  // namespace pgwarden::catalog
