// libFuzzer target for the Fernet codec (catalog/fernet.h), which reads
// connection strings from a catalog that other programs also write. The input
// is tried as a token, as a plaintext and as a key list. Invariants: a token
// that decrypts is the one token its key, timestamp and IV give for that
// plaintext (the decoder is canonical: no second spelling is accepted); any
// plaintext survives encrypt/decrypt under the first key only; the ttl bound
// is exact; a refused key list's error never quotes the keys.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "catalog/fernet.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using pgwarden::catalog::Fernet;
using pgwarden::fuzz::check;

constexpr std::string_view kKey1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr std::string_view kKey2 = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM=";
constexpr std::int64_t kNow = 1'700'000'000;

Fernet make(std::string_view keys) {
  auto f = Fernet::from_keys(keys);
  check(std::holds_alternative<Fernet>(f), "fixed keys refused");
  return std::get<Fernet>(std::move(f));
}

const Fernet& ring() {
  static const Fernet f = make(std::string(kKey1) + ", " + std::string(kKey2));
  return f;
}
const Fernet& first_key() {
  static const Fernet f = make(kKey1);
  return f;
}
const Fernet& second_key() {
  static const Fernet f = make(kKey2);
  return f;
}

// Lenient url-safe base64; only run on tokens the codec already accepted.
std::vector<std::uint8_t> decode(std::string_view text) {
  std::vector<std::uint8_t> out;
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '-') v = 62;
    if (c == '_') v = 63;
    if (v < 0) continue;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<std::uint8_t>(bits >> count));
    }
  }
  return out;
}

void as_token(std::string_view token) {
  for (const std::int64_t ttl : {std::int64_t{0}, std::int64_t{60}}) {
    const auto plain = ring().decrypt_at(token, kNow, ttl);
    if (!plain) continue;
    const std::vector<std::uint8_t> raw = decode(token);
    check(raw.size() >= 57 && raw[0] == 0x80, "accepted token layout");
    std::int64_t stamp = 0;
    for (int i = 1; i <= 8; ++i) stamp = (stamp << 8) | raw[static_cast<std::size_t>(i)];
    std::array<std::uint8_t, 16> iv{};
    std::copy(raw.begin() + 9, raw.begin() + 25, iv.begin());
    const auto by_first = first_key().decrypt_at(token, kNow, ttl);
    const auto by_second = second_key().decrypt_at(token, kNow, ttl);
    check(by_first || by_second, "ring decrypts what no single key does");
    const Fernet& key = by_first ? first_key() : second_key();
    check(*(by_first ? by_first : by_second) == *plain, "keys disagree on the plaintext");
    check(key.encrypt_at_with_iv(*plain, stamp, iv) == token, "token has a second spelling");
  }
}

void as_plaintext(std::string_view plaintext) {
  std::array<std::uint8_t, 16> iv{};
  for (std::size_t i = 0; i < iv.size() && i < plaintext.size(); ++i) {
    iv[i] = static_cast<std::uint8_t>(plaintext[i]);
  }
  const std::string token = ring().encrypt_at_with_iv(plaintext, kNow, iv);
  check(token.size() % 4 == 0 && token.front() == 'g', "token shape");
  check(ring().decrypt_at(token, kNow, 0) == std::optional<std::string>(plaintext), "round trip");
  check(first_key().decrypt_at(token, kNow, 0).has_value(), "first key cannot decrypt");
  check(!second_key().decrypt_at(token, kNow, 0).has_value(), "second key decrypts");
  check(ring().decrypt_at(token, kNow + 60, 60).has_value(), "token expired early");
  check(!ring().decrypt_at(token, kNow + 61, 60).has_value(), "token outlived its ttl");
  check(!ring().decrypt_at(token, kNow - 61, 60).has_value(), "token from the future accepted");
  // One flipped character anywhere makes the token invalid.
  std::string flipped = token;
  const std::size_t at = plaintext.size() % token.size();
  flipped[at] = flipped[at] == 'A' ? 'B' : 'A';
  check(!ring().decrypt_at(flipped, kNow, 0).has_value(), "tampered token accepted");
  // Random IV and current time: different token, same plaintext.
  check(ring().decrypt(ring().encrypt(plaintext)) == std::optional<std::string>(plaintext),
        "random-IV round trip");
}

void as_keys(std::string_view keys) {
  auto parsed = Fernet::from_keys(keys);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    check(!error->empty(), "key error without a message");
    // The error may name a key's position and length, never its text.
    std::size_t start = 0;
    while (start <= keys.size()) {
      const auto comma = keys.find(',', start);
      const std::string_view part = keys.substr(start, comma - start);
      // Only runs of key characters: the fixed wording has no run of 16
      // without a space, so a hit means the text was quoted.
      const bool key_like =
          part.size() >= 16 &&
          part.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=") ==
              std::string_view::npos;
      if (key_like) check(error->find(part) == std::string::npos, "key error quotes a key");
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return;
  }
  const Fernet& f = std::get<Fernet>(parsed);
  check(f.key_count() >= 1, "empty key ring");
  check(f.decrypt(f.encrypt("x")) == std::optional<std::string>("x"), "parsed ring round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  as_token(input);
  as_plaintext(input);
  as_keys(input);
  return 0;
}
