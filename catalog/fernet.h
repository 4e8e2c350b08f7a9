// Fernet tokens (AES-128-CBC + HMAC-SHA256, url-safe base64), byte-compatible
// with Python's cryptography.fernet, used for credentials at rest.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgwarden::catalog {

//! One 32-byte Fernet key: 16 bytes signing key, 16 bytes encryption key.
struct FernetKey {
  std::array<std::uint8_t, 16> signing{};
  std::array<std::uint8_t, 16> encryption{};
};

//! A key ring: the first key encrypts, every key is tried to decrypt (rotation,
//! like cryptography.fernet.MultiFernet).
class Fernet {
 public:
  //! Parses a comma-separated list of url-safe base64 keys (44 chars each,
  //! whitespace around commas ignored). The error never contains key material.
  static std::variant<Fernet, std::string> from_keys(std::string_view keys);
  //! A new random key, url-safe base64 (what Fernet.generate_key() prints).
  static std::string generate_key();

  //! A token for `plaintext` with the current time and a random IV.
  std::string encrypt(std::string_view plaintext) const;
  //! The plaintext, or nullopt if no key verifies the token or it is malformed.
  //! ttl_seconds > 0 also rejects tokens older than that.
  std::optional<std::string> decrypt(std::string_view token, std::int64_t ttl_seconds = 0) const;
  //! Same, at a given time (for tests).
  std::optional<std::string> decrypt_at(std::string_view token, std::int64_t now_unix,
                                        std::int64_t ttl_seconds) const;
  std::string encrypt_at(std::string_view plaintext, std::int64_t now_unix) const;
  //! Same with a caller-chosen IV: only for reproducing the spec's test vectors.
  //! Reusing an IV with the same key leaks plaintext; production code must not.
  std::string encrypt_at_with_iv(std::string_view plaintext, std::int64_t now_unix,
                                 const std::array<std::uint8_t, 16>& iv) const;

  std::size_t key_count() const { return keys_.size(); }

 private:
  std::vector<FernetKey> keys_;
};

}  // namespace pgwarden::catalog
