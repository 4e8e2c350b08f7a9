// SCRAM-SHA-256 server and client as PostgreSQL speaks it, plus verifiers and md5.
//
// Passwords are used as raw bytes: the SASLprep (RFC 4013) normalisation that
// PostgreSQL applies to non-ASCII UTF-8 passwords is not done, so such a
// password only matches a verifier PostgreSQL made if normalisation leaves it
// unchanged. ASCII passwords are unaffected (SASLprep is the identity on them).
#include "protocol/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace pgwarden::protocol {
namespace {

using Key = std::array<std::uint8_t, 32>;

constexpr std::size_t kNonceBytes = 18;  // as libpq's SCRAM_RAW_NONCE_LEN
constexpr std::size_t kSaltBytes = 16;   // as PostgreSQL's SCRAM_DEFAULT_SALT_LEN
constexpr int kMaxIterations = 10'000'000;
// PostgreSQL's PG_MAX_SASL_MESSAGE_LENGTH: real SCRAM messages are far shorter.
constexpr std::size_t kMaxSaslMessage = 1024;
constexpr std::string_view kVerifierPrefix = "SCRAM-SHA-256$";
constexpr std::string_view kAuthFailed = "password authentication failed";

// ---- base64 (RFC 4648, padded) ----

constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::span<const std::uint8_t> in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | std::uint32_t{in[i + 2]};
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (in.size() - i == 1) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_encode(std::string_view in) {
  return base64_encode(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()));
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict: length a multiple of 4, padding only at the end, no whitespace and
// zero unused bits, so each byte string has exactly one accepted encoding.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = (last && in[i + 3] == '=') ? (in[i + 2] == '=' ? 2 : 1) : 0;
    std::uint32_t v = 0;
    for (int j = 0; j < 4 - pad; ++j) {
      const int d = base64_value(in[i + static_cast<std::size_t>(j)]);
      if (d < 0) return std::nullopt;
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    v <<= 6 * pad;
    if (pad == 2 && (v & 0xFFFF) != 0) return std::nullopt;
    if (pad == 1 && (v & 0xFF) != 0) return std::nullopt;
    out += static_cast<char>(v >> 16);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

// ---- primitives ----

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// OpenSSL failing to hash means the library is unusable; continuing could
// accept a password on garbage state, so stop.
[[noreturn]] void crypto_failure() {
  std::abort();
}

Key sha256(std::span<const std::uint8_t> data) {
  Key out{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != out.size()) {
    crypto_failure();
  }
  return out;
}

Key hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
  if (key.size() > INT_MAX) crypto_failure();
  Key out{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &size) == nullptr ||
      size != out.size()) {
    crypto_failure();
  }
  return out;
}

Key salted_password(std::string_view password, std::string_view salt, int iterations) {
  if (password.size() > INT_MAX || salt.size() > INT_MAX || iterations < 1) crypto_failure();
  Key out{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    crypto_failure();
  }
  return out;
}

Key xor_keys(const Key& a, const Key& b) {
  Key out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

bool equal_keys(const Key& a, const Key& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<Key> decode_key(std::string_view b64) {
  const auto raw = base64_decode(b64);
  if (!raw || raw->size() != Key{}.size()) return std::nullopt;
  Key key{};
  std::copy(raw->begin(), raw->end(), key.begin());
  return key;
}

std::string random_nonce() {
  std::array<std::uint8_t, kNonceBytes> raw{};
  random_bytes(std::as_writable_bytes(std::span(raw)));
  return base64_encode(raw);
}

// ---- message syntax ----

// SCRAM attribute values never contain ',' (names escape it as =2C, nonces
// and base64 exclude it), so splitting on ',' yields the attributes.
std::vector<std::string_view> split_attributes(std::string_view message) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto comma = message.find(',');
    parts.push_back(message.substr(0, comma));
    if (comma == std::string_view::npos) break;
    message.remove_prefix(comma + 1);
  }
  return parts;
}

bool is_attribute(std::string_view part) {
  return part.size() >= 2 && part[1] == '=' &&
         ((part[0] >= 'a' && part[0] <= 'z') || (part[0] >= 'A' && part[0] <= 'Z'));
}

//! The value of "<name>=<value>", or nullopt if the part is another attribute.
std::optional<std::string_view> attribute(std::string_view part, char name) {
  if (!is_attribute(part) || part[0] != name) return std::nullopt;
  return part.substr(2);
}

// RFC 5802 "printable": %x21-7E except ','.
bool is_printable_nonce(std::string_view nonce) {
  if (nonce.empty()) return false;
  for (const char c : nonce) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

std::optional<int> parse_iterations(std::string_view text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || text[0] < '0' || text[0] > '9' || ec != std::errc{} ||
      end != text.data() + text.size() || value < 1) {
    return std::nullopt;
  }
  return value;
}

// RFC 5802 saslname: ',' and '=' must be escaped inside n=.
std::string escape_username(std::string_view name) {
  std::string out;
  for (const char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

ScramError violation(std::string message) {
  return ScramError{true, std::move(message)};
}

bool bad_envelope(std::string_view message) {
  return message.empty() || message.size() > kMaxSaslMessage ||
         message.find('\0') != std::string_view::npos;
}

}  // namespace

// ---- verifiers ----

std::optional<ScramVerifier> parse_scram_verifier(std::string_view text) {
  if (!text.starts_with(kVerifierPrefix)) return std::nullopt;
  text.remove_prefix(kVerifierPrefix.size());
  const auto dollar = text.find('$');
  if (dollar == std::string_view::npos) return std::nullopt;
  const std::string_view params = text.substr(0, dollar);
  const std::string_view keys = text.substr(dollar + 1);
  const auto colon1 = params.find(':');
  const auto colon2 = keys.find(':');
  if (colon1 == std::string_view::npos || colon2 == std::string_view::npos) return std::nullopt;

  const auto iterations = parse_iterations(params.substr(0, colon1));
  const auto salt = base64_decode(params.substr(colon1 + 1));
  const auto stored_key = decode_key(keys.substr(0, colon2));
  const auto server_key = decode_key(keys.substr(colon2 + 1));
  if (!iterations || !salt || salt->empty() || !stored_key || !server_key) return std::nullopt;
  return ScramVerifier{*iterations, *salt, *stored_key, *server_key};
}

ScramVerifier derive_scram_verifier(std::string_view password, std::string_view salt,
                                    int iterations) {
  if (iterations < 1) throw std::invalid_argument("SCRAM iterations must be positive");
  if (salt.empty()) throw std::invalid_argument("SCRAM salt must not be empty");
  const Key salted = salted_password(password, salt, iterations);
  const Key client_key = hmac_sha256(salted, "Client Key");
  return ScramVerifier{iterations, std::string(salt), sha256(client_key),
                       hmac_sha256(salted, "Server Key")};
}

ScramVerifier make_scram_verifier(std::string_view password, int iterations) {
  std::array<std::byte, kSaltBytes> salt{};
  random_bytes(salt);
  return derive_scram_verifier(
      password, std::string_view(reinterpret_cast<const char*>(salt.data()), salt.size()),
      iterations);
}

std::string format_scram_verifier(const ScramVerifier& verifier) {
  std::string out(kVerifierPrefix);
  out += std::to_string(verifier.iterations);
  out += ':';
  out += base64_encode(verifier.salt);
  out += '$';
  out += base64_encode(verifier.stored_key);
  out += ':';
  out += base64_encode(verifier.server_key);
  return out;
}

// ---- server ----

ScramServer::ScramServer(ScramVerifier verifier) : verifier_(std::move(verifier)) {}

ScramServer ScramServer::mock(std::string_view username, std::string_view secret) {
  // PostgreSQL derives the mock salt from the user name and a per-cluster
  // secret (scram_mock_salt), so repeated probes of one name see one salt.
  const Key digest = hmac_sha256(bytes_of(secret), username);
  ScramVerifier verifier;
  verifier.iterations = kDefaultScramIterations;
  verifier.salt.assign(reinterpret_cast<const char*>(digest.data()), kSaltBytes);
  // The keys are never compared for a mock: mock_ fails the final step.
  ScramServer server(std::move(verifier));
  server.mock_ = true;
  return server;
}

std::variant<std::string, ScramError> ScramServer::handle_client_first(std::string_view message) {
  if (!server_first_.empty() || !client_first_bare_.empty()) {
    return violation("unexpected SCRAM message");
  }
  if (bad_envelope(message)) return violation("malformed SCRAM message");
  // gs2 header: cbind flag, ',', empty authzid, ','.
  if (message[0] == 'p') return violation("channel binding not supported");
  if (message[0] != 'n' && message[0] != 'y') return violation("malformed SCRAM message");
  if (message.size() < 3 || message[1] != ',') return violation("malformed SCRAM message");
  if (message.substr(2).starts_with("a=")) {
    return violation("client uses authorization identity, but it is not supported");
  }
  if (message[2] != ',') return violation("malformed SCRAM message");

  const std::string_view bare = message.substr(3);
  const auto parts = split_attributes(bare);
  if (bare.starts_with("m=")) return violation("client requires an unsupported SCRAM extension");
  // The n= user name is ignored, as PostgreSQL uses the startup packet's user.
  if (parts.size() < 2 || !attribute(parts[0], 'n')) {
    return violation("malformed SCRAM message");
  }
  const auto client_nonce = attribute(parts[1], 'r');
  if (!client_nonce || !is_printable_nonce(*client_nonce)) {
    return violation("malformed SCRAM message");
  }
  // Later extensions are skipped, as PostgreSQL's read_client_first_message does.
  for (std::size_t i = 2; i < parts.size(); ++i) {
    if (!is_attribute(parts[i])) return violation("malformed SCRAM message");
  }

  gs2_header_ = std::string(message.substr(0, 3));
  client_first_bare_ = std::string(bare);
  nonce_ = std::string(*client_nonce) + random_nonce();
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(verifier_.salt) +
                  ",i=" + std::to_string(verifier_.iterations);
  return server_first_;
}

std::variant<std::string, ScramError> ScramServer::handle_client_final(std::string_view message) {
  // One attempt per exchange: taking server_first_ makes any repeat fail.
  const std::string server_first = std::move(server_first_);
  server_first_.clear();
  if (server_first.empty()) return violation("unexpected SCRAM message");
  if (bad_envelope(message)) return violation("malformed SCRAM message");

  const auto parts = split_attributes(message);
  if (parts.size() < 3) return violation("malformed SCRAM message");
  const auto binding = attribute(parts[0], 'c');
  if (!binding) return violation("malformed SCRAM message");
  // Without channel binding c= is exactly the base64 of the gs2 header sent
  // first ("biws" for n,, and "eSws" for y,,), so a changed flag is caught.
  if (*binding != base64_encode(gs2_header_)) {
    return violation("unexpected SCRAM channel-binding attribute in client-final-message");
  }
  const auto nonce = attribute(parts[1], 'r');
  if (!nonce) return violation("malformed SCRAM message");
  if (*nonce != nonce_) return violation("SCRAM nonce mismatch");
  for (std::size_t i = 2; i + 1 < parts.size(); ++i) {
    if (!is_attribute(parts[i]) || parts[i][0] == 'p') {
      return violation("malformed SCRAM message");
    }
  }
  const auto proof_b64 = attribute(parts.back(), 'p');
  const auto proof = proof_b64 ? decode_key(*proof_b64) : std::nullopt;
  if (!proof) return violation("malformed SCRAM message");

  const std::string_view without_proof =
      message.substr(0, message.size() - parts.back().size() - 1);
  std::string auth_message = client_first_bare_;
  auth_message += ',';
  auth_message += server_first;
  auth_message += ',';
  auth_message += without_proof;

  const Key client_signature = hmac_sha256(verifier_.stored_key, auth_message);
  const Key client_key = xor_keys(*proof, client_signature);
  // The mock still does the same work so timing does not reveal it.
  const bool valid = equal_keys(sha256(client_key), verifier_.stored_key);
  if (!valid || mock_) return ScramError{false, std::string(kAuthFailed)};
  return "v=" + base64_encode(hmac_sha256(verifier_.server_key, auth_message));
}

// ---- client ----

ScramClient::ScramClient(std::string password)
    : ScramClient(std::move(password), random_nonce(), std::string()) {}

ScramClient::ScramClient(std::string password, std::string client_nonce, std::string username)
    : password_(std::move(password)), client_nonce_(std::move(client_nonce)) {
  // PostgreSQL ignores n= and libpq sends it empty; a name is only for test vectors.
  client_first_bare_ = "n=" + escape_username(username) + ",r=" + client_nonce_;
}

std::string ScramClient::client_first() {
  client_first_sent_ = true;
  return "n,," + client_first_bare_;
}

std::optional<std::string> ScramClient::handle_server_first(std::string_view message) {
  if (!client_first_sent_ || have_server_signature_) return std::nullopt;
  if (message.find('\0') != std::string_view::npos) return std::nullopt;
  const auto parts = split_attributes(message);
  // Exactly r, s, i: libpq also rejects anything after the iteration count.
  if (parts.size() != 3) return std::nullopt;
  const auto nonce = attribute(parts[0], 'r');
  const auto salt_b64 = attribute(parts[1], 's');
  const auto iterations_text = attribute(parts[2], 'i');
  if (!nonce || !salt_b64 || !iterations_text) return std::nullopt;
  // The server must extend our nonce, else this could be a replayed exchange.
  if (!nonce->starts_with(client_nonce_) || nonce->size() <= client_nonce_.size() ||
      !is_printable_nonce(*nonce)) {
    return std::nullopt;
  }
  const auto salt = base64_decode(*salt_b64);
  const auto iterations = parse_iterations(*iterations_text);
  // The cap keeps a hostile upstream from pinning a thread in PBKDF2.
  if (!salt || salt->empty() || !iterations || *iterations > kMaxIterations) {
    return std::nullopt;
  }

  const Key salted = salted_password(password_, *salt, *iterations);
  const Key client_key = hmac_sha256(salted, "Client Key");
  const Key stored_key = sha256(client_key);
  const Key server_key = hmac_sha256(salted, "Server Key");

  // c=biws is base64("n,,"): the header client_first() always sends.
  std::string client_final = "c=biws,r=";
  client_final += *nonce;
  std::string auth_message = client_first_bare_;
  auth_message += ',';
  auth_message += message;
  auth_message += ',';
  auth_message += client_final;

  const Key proof = xor_keys(client_key, hmac_sha256(stored_key, auth_message));
  expected_server_signature_ = hmac_sha256(server_key, auth_message);
  have_server_signature_ = true;
  client_final += ",p=";
  client_final += base64_encode(proof);
  return client_final;
}

bool ScramClient::verify_server_final(std::string_view message) const {
  if (!have_server_signature_ || !message.starts_with("v=")) return false;
  const auto signature = decode_key(message.substr(2));
  return signature && equal_keys(*signature, expected_server_signature_);
}

// ---- md5 and randomness ----

std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4) {
  const auto md5_hex = [](std::string_view data) {
    std::array<unsigned char, 16> digest{};
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_md5(), nullptr) != 1 ||
        size != digest.size()) {
      crypto_failure();
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (const unsigned char b : digest) {
      hex += kHex[b >> 4];
      hex += kHex[b & 15];
    }
    return hex;
  };
  std::string inner(password);
  inner += user;
  std::string outer = md5_hex(inner);
  outer += salt4;
  return "md5" + md5_hex(outer);
}

void random_bytes(std::span<std::byte> out) {
  while (!out.empty()) {
    const std::size_t chunk = std::min<std::size_t>(out.size(), INT_MAX);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(chunk)) != 1) {
      std::abort();  // no safe fallback: predictable nonces or keys are worse
    }
    out = out.subspan(chunk);
  }
}

}  // namespace pgwarden::protocol
