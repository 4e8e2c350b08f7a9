// Fernet: the spec's test vectors, tamper resistance, key rotation, key
// parsing that never echoes key material, and ttl / clock-skew rules.
#define BOOST_TEST_MODULE fernet
#include "catalog/fernet.h"

#include <openssl/evp.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <variant>
#include <vector>

using pgwarden::catalog::Fernet;

namespace {

// https://github.com/fernet/spec/blob/master/generate.json and verify.json
constexpr std::string_view kSpecKey = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
constexpr std::int64_t kSpecTime = 499162800;  // 1985-10-26T01:20:00-07:00
constexpr std::string_view kSpecToken =
    "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4"
    "IwqDA==";
constexpr std::array<std::uint8_t, 16> kSpecIv = {0, 1, 2,  3,  4,  5,  6,  7,
                                                  8, 9, 10, 11, 12, 13, 14, 15};

Fernet make(std::string_view keys) {
  auto result = Fernet::from_keys(keys);
  if (auto* error = std::get_if<std::string>(&result)) {
    BOOST_FAIL("from_keys failed: " << *error);
  }
  return std::get<Fernet>(std::move(result));
}

std::string key_error(std::string_view keys) {
  auto result = Fernet::from_keys(keys);
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<std::string>(result), "key list was accepted");
  return std::get<std::string>(result);
}

// Minimal url-safe base64 codec for building hand-made tokens in tests.
std::string b64url(const std::vector<std::uint8_t>& in) {
  std::vector<unsigned char> out(4 * ((in.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), in.data(), int(in.size()));
  std::string s(reinterpret_cast<char*>(out.data()), std::size_t(n));
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

std::vector<std::uint8_t> unb64url(std::string s) {
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  std::vector<std::uint8_t> out(s.size());
  const int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
  BOOST_REQUIRE(n >= 0);
  std::size_t pad = 0;
  while (pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
  out.resize(std::size_t(n) - pad);
  return out;
}

// A token whose MAC is valid for `key` but whose ciphertext is `blocks`
// (already a multiple of 16 bytes, encrypted without padding).
std::string forge(std::string_view key, const std::vector<std::uint8_t>& padded_plaintext,
                  std::uint64_t timestamp = kSpecTime) {
  const auto raw = unb64url(std::string(key));
  BOOST_REQUIRE_EQUAL(raw.size(), 32U);
  std::vector<std::uint8_t> token = {0x80};
  for (int i = 7; i >= 0; --i) token.push_back(std::uint8_t(timestamp >> (8 * i)));
  token.insert(token.end(), kSpecIv.begin(), kSpecIv.end());

  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  BOOST_REQUIRE(
      EVP_EncryptInit_ex(ctx, EVP_aes_128_cbc(), nullptr, raw.data() + 16, kSpecIv.data()) == 1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  std::vector<std::uint8_t> ct(padded_plaintext.size() + 16);
  int len = 0;
  int fin = 0;
  BOOST_REQUIRE(EVP_EncryptUpdate(ctx, ct.data(), &len, padded_plaintext.data(),
                                  int(padded_plaintext.size())) == 1);
  BOOST_REQUIRE(EVP_EncryptFinal_ex(ctx, ct.data() + len, &fin) == 1);
  EVP_CIPHER_CTX_free(ctx);
  ct.resize(std::size_t(len + fin));
  token.insert(token.end(), ct.begin(), ct.end());

  unsigned char mac[32];
  std::size_t mac_len = 0;
  BOOST_REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, raw.data(), 16, token.data(),
                          token.size(), mac, sizeof mac, &mac_len) != nullptr);
  token.insert(token.end(), mac, mac + mac_len);
  return b64url(token);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(spec_vectors)

// Proves the byte layout, big-endian timestamp, CBC/PKCS7 and MAC match the
// reference implementation exactly.
BOOST_AUTO_TEST_CASE(generate_matches_published_token) {
  const Fernet f = make(kSpecKey);
  BOOST_TEST(f.encrypt_at_with_iv("hello", kSpecTime, kSpecIv) == kSpecToken);
}

BOOST_AUTO_TEST_CASE(verify_published_token) {
  const Fernet f = make(kSpecKey);
  const auto plain = f.decrypt_at(kSpecToken, kSpecTime + 60, 60);
  BOOST_REQUIRE(plain.has_value());
  BOOST_TEST(*plain == "hello");
}

// From the spec's invalid.json: the same token 1 s past its ttl.
BOOST_AUTO_TEST_CASE(published_token_expires) {
  const Fernet f = make(kSpecKey);
  BOOST_TEST(!f.decrypt_at(kSpecToken, kSpecTime + 61, 60).has_value());
  BOOST_TEST(f.decrypt_at(kSpecToken, kSpecTime + 61, 0).has_value());  // no ttl: no expiry
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(round_trip)

// Proves padding is right at every block boundary, including empty input and
// binary bytes (NUL, 0xFF).
BOOST_AUTO_TEST_CASE(every_length_round_trips) {
  const Fernet f = make(Fernet::generate_key());
  for (std::size_t n = 0; n <= 65; ++n) {
    std::string plain;
    for (std::size_t i = 0; i < n; ++i) plain += char(i * 37);
    const std::string token = f.encrypt(plain);
    // 1 version + 8 time + 16 iv + padded ciphertext + 32 mac, base64'd.
    const std::size_t raw = 57 + (n / 16 + 1) * 16;
    BOOST_TEST(token.size() == (raw + 2) / 3 * 4);
    const auto back = f.decrypt(token);
    BOOST_REQUIRE_MESSAGE(back.has_value(), "length " << n);
    BOOST_TEST(*back == plain);
  }
}

BOOST_AUTO_TEST_CASE(fresh_iv_each_time) {
  const Fernet f = make(Fernet::generate_key());
  BOOST_TEST(f.encrypt_at("same", 1000) != f.encrypt_at("same", 1000));
}

BOOST_AUTO_TEST_CASE(generated_keys_are_valid_and_distinct) {
  const std::string a = Fernet::generate_key();
  const std::string b = Fernet::generate_key();
  BOOST_TEST(a.size() == 44U);
  BOOST_TEST(a.back() == '=');
  BOOST_TEST(a != b);
  BOOST_TEST(std::holds_alternative<Fernet>(Fernet::from_keys(a)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rejects)

// Proves that no single changed character of a token is accepted: covers the
// version byte, timestamp, IV, ciphertext, MAC and the base64 padding.
BOOST_AUTO_TEST_CASE(every_tampered_character) {
  const Fernet f = make(kSpecKey);
  const std::string token(kSpecToken);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .";
  int tried = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    for (char c : alphabet) {
      if (c == token[i]) continue;
      std::string bad = token;
      bad[i] = c;
      ++tried;
      BOOST_TEST_CONTEXT("position " << i << " -> '" << c << "'") {
        BOOST_TEST(!f.decrypt_at(bad, kSpecTime, 0).has_value());
      }
    }
  }
  BOOST_TEST(tried > 100 * 60);
}

// Proves every decoded byte is covered by the MAC (or the version check).
BOOST_AUTO_TEST_CASE(every_flipped_byte) {
  const Fernet f = make(kSpecKey);
  const auto raw = unb64url(std::string(kSpecToken));
  for (std::size_t i = 0; i < raw.size(); ++i) {
    for (std::uint8_t bit = 1; bit != 0; bit = std::uint8_t(bit << 1)) {
      auto bad = raw;
      bad[i] ^= bit;
      BOOST_TEST_CONTEXT("byte " << i << " bit " << int(bit)) {
        BOOST_TEST(!f.decrypt_at(b64url(bad), kSpecTime, 0).has_value());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(truncated_and_extended) {
  const Fernet f = make(kSpecKey);
  const auto raw = unb64url(std::string(kSpecToken));
  for (std::size_t n = 0; n < raw.size(); ++n) {
    std::vector<std::uint8_t> shorter(raw.begin(), raw.begin() + std::ptrdiff_t(n));
    BOOST_TEST_CONTEXT("length " << n) {
      BOOST_TEST(!f.decrypt_at(b64url(shorter), kSpecTime, 0).has_value());
    }
  }
  auto longer = raw;
  longer.push_back(0);
  BOOST_TEST(!f.decrypt_at(b64url(longer), kSpecTime, 0).has_value());
  BOOST_TEST(!f.decrypt_at("", kSpecTime, 0).has_value());
}

BOOST_AUTO_TEST_CASE(bad_base64) {
  const Fernet f = make(kSpecKey);
  const std::string token(kSpecToken);
  BOOST_TEST(!f.decrypt_at(token.substr(0, token.size() - 2), kSpecTime, 0));  // padding cut
  BOOST_TEST(!f.decrypt_at(token + "=", kSpecTime, 0));
  BOOST_TEST(!f.decrypt_at(token + "\n", kSpecTime, 0));
  BOOST_TEST(!f.decrypt_at(" " + token, kSpecTime, 0));
  BOOST_TEST(!f.decrypt_at("not a token", kSpecTime, 0));
  std::string standard = token;  // standard alphabet instead of url-safe
  for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
  BOOST_REQUIRE(standard != token);
  BOOST_TEST(!f.decrypt_at(standard, kSpecTime, 0));
}

// Proves the version byte is checked before anything else: a token that is
// authentic under the key but carries another version is still refused.
BOOST_AUTO_TEST_CASE(wrong_version_with_valid_mac) {
  const Fernet f = make(kSpecKey);
  std::vector<std::uint8_t> padded(16, 16);
  const std::string good = forge(kSpecKey, padded);
  BOOST_REQUIRE(f.decrypt_at(good, kSpecTime, 0).has_value());  // the forge is sound

  auto raw = unb64url(good);
  raw[0] = 0x81;
  // Re-sign so that only the version differs.
  const auto key = unb64url(std::string(kSpecKey));
  unsigned char mac[32];
  std::size_t mac_len = 0;
  BOOST_REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), 16, raw.data(),
                          raw.size() - 32, mac, sizeof mac, &mac_len) != nullptr);
  std::copy(mac, mac + 32, raw.end() - 32);
  BOOST_TEST(!f.decrypt_at(b64url(raw), kSpecTime, 0).has_value());
}

// Proves PKCS7 padding is verified after a valid MAC (a MAC-valid token that
// decrypts to bad padding is refused, not returned with garbage).
BOOST_AUTO_TEST_CASE(bad_padding_with_valid_mac) {
  const Fernet f = make(kSpecKey);
  std::vector<std::uint8_t> good_pad(16, 16);
  BOOST_REQUIRE(f.decrypt_at(forge(kSpecKey, good_pad), kSpecTime, 0).has_value());
  std::vector<std::uint8_t> zero_pad(16, 0);  // pad byte 0: invalid
  BOOST_TEST(!f.decrypt_at(forge(kSpecKey, zero_pad), kSpecTime, 0).has_value());
  std::vector<std::uint8_t> big_pad(16, 17);  // pad byte > block size
  BOOST_TEST(!f.decrypt_at(forge(kSpecKey, big_pad), kSpecTime, 0).has_value());
  std::vector<std::uint8_t> uneven(16, 'a');  // ends ...a a 03 02: inconsistent
  uneven[14] = 3;
  uneven[15] = 2;
  BOOST_TEST(!f.decrypt_at(forge(kSpecKey, uneven), kSpecTime, 0).has_value());
  std::vector<std::uint8_t> mixed(16, 'a');  // claims 3 bytes, one differs
  mixed[13] = 2;
  mixed[14] = 3;
  mixed[15] = 3;
  BOOST_TEST(!f.decrypt_at(forge(kSpecKey, mixed), kSpecTime, 0).has_value());
}

BOOST_AUTO_TEST_CASE(wrong_key) {
  const Fernet other = make(Fernet::generate_key());
  BOOST_TEST(!other.decrypt_at(kSpecToken, kSpecTime, 0).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(time_rules)

// Expiry is inclusive as in cryptography: valid while timestamp + ttl >= now.
BOOST_AUTO_TEST_CASE(ttl_boundary) {
  const Fernet f = make(kSpecKey);
  const std::string token = f.encrypt_at("x", 1000);
  BOOST_TEST(f.decrypt_at(token, 1100, 100).has_value());
  BOOST_TEST(!f.decrypt_at(token, 1101, 100).has_value());
  BOOST_TEST(f.decrypt_at(token, 1'000'000'000, 0).has_value());  // ttl 0: never expires
}

// cryptography allows 60 s of clock skew for tokens from the future when a
// ttl is checked.
BOOST_AUTO_TEST_CASE(future_tokens) {
  const Fernet f = make(kSpecKey);
  const std::string token = f.encrypt_at("x", 1060);
  BOOST_TEST(f.decrypt_at(token, 1000, 100).has_value());
  BOOST_TEST(!f.decrypt_at(token, 999, 100).has_value());
  const std::string far = f.encrypt_at("x", std::int64_t{1} << 62);
  BOOST_TEST(!f.decrypt_at(far, 1000, 100).has_value());
  // Without a ttl the timestamp is not consulted, exactly like
  // Fernet.decrypt(token) in Python (a writer with a fast clock stays readable).
  BOOST_TEST(f.decrypt_at(token, 999, 0).has_value());
}

// A timestamp with the top bit set must not wrap to a negative (past) time.
BOOST_AUTO_TEST_CASE(huge_timestamp_is_future_not_past) {
  const Fernet f = make(kSpecKey);
  std::vector<std::uint8_t> padded(16, 16);
  const std::string token = forge(kSpecKey, padded, 0xFFFF'FFFF'FFFF'FFF0ULL);
  BOOST_TEST(f.decrypt_at(token, 1000, 0).has_value());
  BOOST_TEST(!f.decrypt_at(token, 1000, 100).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(keys)

// Proves MultiFernet semantics: the first key encrypts, every key decrypts.
BOOST_AUTO_TEST_CASE(rotation) {
  const std::string old_key = Fernet::generate_key();
  const std::string new_key = Fernet::generate_key();
  const Fernet before = make(old_key);
  const Fernet during = make(new_key + " , " + old_key);
  const Fernet after = make(new_key);
  BOOST_TEST(during.key_count() == 2U);

  const std::string old_token = before.encrypt("secret");
  BOOST_TEST(during.decrypt(old_token).value_or("") == "secret");  // second key decrypts
  BOOST_TEST(!after.decrypt(old_token).has_value());

  const std::string new_token = during.encrypt("secret");
  BOOST_TEST(after.decrypt(new_token).value_or("") == "secret");  // first key encrypts
  BOOST_TEST(!before.decrypt(new_token).has_value());
}

BOOST_AUTO_TEST_CASE(whitespace_around_keys) {
  BOOST_TEST(make(std::string(" ") + std::string(kSpecKey) + "\n").key_count() == 1U);
  BOOST_TEST(make(std::string(kSpecKey) + ",\t" + std::string(kSpecKey)).key_count() == 2U);
}

// Every rejection is checked for absence of the key text and of any
// 8-character fragment of it.
BOOST_AUTO_TEST_CASE(bad_keys_rejected_without_echo) {
  const std::string good(kSpecKey);
  std::string standard = good;  // '+' and '/' are not url-safe
  for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
  std::string bad_char = good;
  bad_char[10] = '*';
  std::string unpadded = good.substr(0, 43);
  std::string non_canonical = good;  // last data char carries unused bits
  non_canonical[42] = 'f';
  const std::string short_key = "c2hvcnQ=";  // base64 of "short"
  const std::string long_key = good.substr(0, 40) + "AAAAAAAA";

  struct Case {
    std::string keys;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"", "no key given"},
      {"   ", "no key given"},
      {standard, "the key is not valid url-safe base64 of 32 bytes"},
      {bad_char, "the key is not valid url-safe base64 of 32 bytes"},
      {non_canonical, "the key is not valid url-safe base64 of 32 bytes"},
      {unpadded,
       "the key has 43 characters; a Fernet key is 44 characters of url-safe base64 (32 bytes)"},
      {short_key,
       "the key has 8 characters; a Fernet key is 44 characters of url-safe base64 (32 bytes)"},
      {long_key,
       "the key has 48 characters; a Fernet key is 44 characters of url-safe base64 (32 bytes)"},
      {good + ",", "key 2 of 2 is empty (stray comma in the key list?)"},
      {good + "," + bad_char, "key 2 of 2 is not valid url-safe base64 of 32 bytes"},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("case: " << c.expect) {
      const std::string error = key_error(c.keys);
      BOOST_TEST(error == c.expect);
      for (const std::string* key : std::vector<const std::string*>{&good, &bad_char, &standard}) {
        for (std::size_t i = 0; i + 8 <= key->size(); ++i) {
          BOOST_TEST(error.find(key->substr(i, 8)) == std::string::npos);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
