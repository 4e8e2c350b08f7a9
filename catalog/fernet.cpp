// Fernet tokens per https://github.com/fernet/spec/blob/master/Spec.md, checked
// the way cryptography.fernet checks them.
#include "catalog/fernet.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <span>

namespace pgwarden::catalog {
namespace {

constexpr std::uint8_t kVersion = 0x80;
constexpr std::size_t kTimestampSize = 8;
constexpr std::size_t kIvSize = 16;
constexpr std::size_t kBlockSize = 16;
constexpr std::size_t kMacSize = 32;
constexpr std::size_t kHeaderSize = 1 + kTimestampSize + kIvSize;
// cryptography's _MAX_CLOCK_SKEW: a token may be this far in the future.
constexpr std::int64_t kMaxClockSkew = 60;
constexpr std::size_t kKeyTextSize = 44;  // base64 of 32 bytes, with one '='

using Bytes = std::vector<std::uint8_t>;

// Wipes a buffer that held key or plaintext bytes when it goes out of scope.
struct Cleanse {
  std::span<std::uint8_t> bytes;
  ~Cleanse() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string b64url_encode(std::span<const std::uint8_t> in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (in.size() - i == 1) {
    const std::uint32_t v = in[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    const std::uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Strict url-safe base64 with padding, as Python's urlsafe_b64encode writes it.
// Non-canonical text (stray characters, missing padding, non-zero unused bits)
// is refused, so that no two token strings decode to the same bytes: a changed
// character always changes the token.
std::optional<Bytes> b64url_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  if (in.back() == '=') pad = in[in.size() - 2] == '=' ? 2 : 1;
  Bytes out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    for (std::size_t j = 0; j < 4; ++j) {
      if (last && j >= 4 - pad) {
        v[j] = 0;
        continue;
      }
      v[j] = b64_value(in[i + j]);
      if (v[j] < 0) return std::nullopt;
    }
    const std::uint32_t n = (std::uint32_t(v[0]) << 18) | (std::uint32_t(v[1]) << 12) |
                            (std::uint32_t(v[2]) << 6) | std::uint32_t(v[3]);
    out.push_back(std::uint8_t(n >> 16));
    if (last && pad == 2) {
      if ((n & 0xFFFF) != 0) return std::nullopt;
      break;
    }
    out.push_back(std::uint8_t(n >> 8));
    if (last && pad == 1) {
      if ((n & 0xFF) != 0) return std::nullopt;
      break;
    }
    out.push_back(std::uint8_t(n));
  }
  return out;
}

using MacBytes = std::array<std::uint8_t, kMacSize>;

MacBytes hmac_sha256(const std::array<std::uint8_t, 16>& key, std::span<const std::uint8_t> data) {
  MacBytes mac{};
  std::size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), data.data(),
                data.size(), mac.data(), mac.size(), &len) == nullptr ||
      len != mac.size()) {
    // Only a broken OpenSSL installation gets here; continuing would emit or
    // accept unauthenticated tokens.
    std::abort();
  }
  return mac;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// AES-128-CBC with PKCS7 padding; nullopt on bad padding.
std::optional<Bytes> aes_cbc(bool encrypt, const std::array<std::uint8_t, 16>& key,
                             std::span<const std::uint8_t> iv, std::span<const std::uint8_t> in) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, key.data(), iv.data(),
                                encrypt ? 1 : 0) != 1) {
    std::abort();
  }
  if (in.size() > std::size_t(std::numeric_limits<int>::max() - int(kBlockSize))) {
    return std::nullopt;
  }
  Bytes out(in.size() + kBlockSize);
  int len = 0;
  int final_len = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &len, in.data(), int(in.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + len, &final_len) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return std::nullopt;
  }
  out.resize(std::size_t(len + final_len));
  return out;
}

void put_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = std::uint8_t(v);
    v >>= 8;
  }
}

std::uint64_t get_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string encrypt_with(const FernetKey& key, std::string_view plaintext, std::int64_t now_unix,
                         std::span<const std::uint8_t, kIvSize> iv) {
  const auto* text = reinterpret_cast<const std::uint8_t*>(plaintext.data());
  auto ciphertext = aes_cbc(true, key.encryption, iv, {text, plaintext.size()});
  if (!ciphertext) std::abort();  // encryption with padding cannot fail

  Bytes token(kHeaderSize);
  token[0] = kVersion;
  put_be64(token.data() + 1, std::uint64_t(now_unix));
  std::memcpy(token.data() + 1 + kTimestampSize, iv.data(), kIvSize);
  token.insert(token.end(), ciphertext->begin(), ciphertext->end());
  const MacBytes mac = hmac_sha256(key.signing, token);
  token.insert(token.end(), mac.begin(), mac.end());
  return b64url_encode(token);
}

}  // namespace

std::variant<Fernet, std::string> Fernet::from_keys(std::string_view keys) {
  Fernet fernet;
  std::size_t index = 0;
  std::size_t count = 1;
  for (char c : keys) count += c == ',' ? 1 : 0;
  while (true) {
    const std::size_t comma = keys.find(',');
    const std::string_view text = trim(keys.substr(0, comma));
    ++index;
    const std::string which =
        count == 1 ? "the key" : "key " + std::to_string(index) + " of " + std::to_string(count);
    if (text.empty()) {
      return count == 1 ? std::string("no key given")
                        : which + " is empty (stray comma in the key list?)";
    }
    // Lengths are safe to report; characters are not.
    if (text.size() != kKeyTextSize) {
      return which + " has " + std::to_string(text.size()) +
             " characters; a Fernet key is 44 characters of url-safe base64 (32 bytes)";
    }
    auto raw = b64url_decode(text);
    if (!raw || raw->size() != 32) {
      if (raw) OPENSSL_cleanse(raw->data(), raw->size());
      return which + " is not valid url-safe base64 of 32 bytes";
    }
    Cleanse wipe{*raw};
    FernetKey key;
    std::memcpy(key.signing.data(), raw->data(), 16);
    std::memcpy(key.encryption.data(), raw->data() + 16, 16);
    fernet.keys_.push_back(key);
    if (comma == std::string_view::npos) break;
    keys.remove_prefix(comma + 1);
  }
  return fernet;
}

std::string Fernet::generate_key() {
  std::array<std::uint8_t, 32> raw{};
  if (RAND_bytes(raw.data(), int(raw.size())) != 1) std::abort();
  std::string key = b64url_encode(raw);
  OPENSSL_cleanse(raw.data(), raw.size());
  return key;
}

std::string Fernet::encrypt(std::string_view plaintext) const {
  return encrypt_at(plaintext, unix_now());
}

std::string Fernet::encrypt_at(std::string_view plaintext, std::int64_t now_unix) const {
  std::array<std::uint8_t, kIvSize> iv{};
  if (RAND_bytes(iv.data(), int(iv.size())) != 1) std::abort();
  return encrypt_at_with_iv(plaintext, now_unix, iv);
}

std::string Fernet::encrypt_at_with_iv(std::string_view plaintext, std::int64_t now_unix,
                                       const std::array<std::uint8_t, 16>& iv) const {
  // A Fernet is only built by from_keys, which refuses an empty list.
  return encrypt_with(keys_.front(), plaintext, now_unix, iv);
}

std::optional<std::string> Fernet::decrypt(std::string_view token, std::int64_t ttl_seconds) const {
  return decrypt_at(token, unix_now(), ttl_seconds);
}

std::optional<std::string> Fernet::decrypt_at(std::string_view token, std::int64_t now_unix,
                                              std::int64_t ttl_seconds) const {
  auto data = b64url_decode(token);
  if (!data) return std::nullopt;
  const std::size_t size = data->size();
  if (size < kHeaderSize + kBlockSize + kMacSize || (size - kHeaderSize - kMacSize) % kBlockSize) {
    return std::nullopt;
  }
  if ((*data)[0] != kVersion) return std::nullopt;

  // As cryptography does, the timestamp is only checked when a ttl is asked
  // for: credentials at rest have no expiry, and a writer whose clock runs
  // ahead must not make them unreadable.
  if (ttl_seconds > 0) {
    // Every quantity is kept within [0, 2^62] so the sums below cannot overflow.
    constexpr std::int64_t kLimit = std::int64_t{1} << 62;
    const std::uint64_t stamp = get_be64(data->data() + 1);
    if (stamp > std::uint64_t(kLimit)) return std::nullopt;  // far in the future
    const auto timestamp = std::int64_t(stamp);
    const std::int64_t now = std::clamp<std::int64_t>(now_unix, 0, kLimit);
    const std::int64_t ttl = std::min(ttl_seconds, kLimit);
    if (timestamp + ttl < now) return std::nullopt;
    if (now + kMaxClockSkew < timestamp) return std::nullopt;
  }

  const std::span<const std::uint8_t> signed_part(data->data(), size - kMacSize);
  const std::span<const std::uint8_t> mac(data->data() + size - kMacSize, kMacSize);
  const std::span<const std::uint8_t> iv(data->data() + 1 + kTimestampSize, kIvSize);
  const std::span<const std::uint8_t> ciphertext(data->data() + kHeaderSize,
                                                 size - kHeaderSize - kMacSize);
  for (const FernetKey& key : keys_) {
    const MacBytes expected = hmac_sha256(key.signing, signed_part);
    if (CRYPTO_memcmp(expected.data(), mac.data(), kMacSize) != 0) continue;
    auto plain = aes_cbc(false, key.encryption, iv, ciphertext);
    if (!plain) return std::nullopt;  // authentic but badly padded: no other key applies
    Cleanse wipe{*plain};
    return std::string(plain->begin(), plain->end());
  }
  return std::nullopt;
}

}  // namespace pgwarden::catalog
