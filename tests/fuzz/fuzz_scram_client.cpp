// libFuzzer target for the client side of SCRAM-SHA-256: what an upstream
// server (a customer's database, not trusted) sends while pgwarden logs in.
// The input is server-first-message, a newline, and server-final-message;
// "%R" in the server-first is replaced by the client's nonce, so the fuzzer
// gets past the nonce check. Invariants: a malformed or non-extending
// server-first is refused (nullopt, no throw); an accepted one yields a
// client-final for exactly that nonce, whose proof matches one computed here
// independently (RFC 5802 with OpenSSL); a server-final verifies exactly when
// it is the signature computed the same way.
// An input starting with '!' instead runs a whole exchange against pgwarden's
// own ScramServer, which must succeed and verify.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/scram.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pgwarden::protocol;
using pgwarden::fuzz::check;

constexpr std::string_view kPassword = "pencil";
constexpr std::string_view kNonce = "fyko+d2lbbFgONRv9qkxdawL";
// PBKDF2 cost grows with i=; the client caps it at 10 million, which is a
// few seconds per input. Above this the target skips the input to keep its
// speed; the cap itself is a unit test.
constexpr long kFuzzMaxIterations = 4096;

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  for (;;) {
    const auto at = text.find(from);
    out += text.substr(0, at);
    if (at == std::string_view::npos) return out;
    out += to;
    text.remove_prefix(at + from.size());
  }
}

bool too_many_iterations(std::string_view server_first) {
  for (auto at = server_first.find("i="); at != std::string_view::npos;
       at = server_first.find("i=", at + 1)) {
    long value = 0;
    const char* begin = server_first.data() + at + 2;
    const auto [end, ec] = std::from_chars(begin, server_first.data() + server_first.size(), value);
    if (ec == std::errc::result_out_of_range || value > kFuzzMaxIterations) return true;
  }
  return false;
}

using Key = std::array<unsigned char, 32>;

Key hmac(const Key& key, std::string_view data) {
  Key out{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &size);
  return out;
}

std::string b64(const Key& key) {
  std::array<unsigned char, 45> out{};
  EVP_EncodeBlock(out.data(), key.data(), static_cast<int>(key.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), 44);
}

// What the client-final proof and the server signature must be, per RFC 5802.
struct Expected {
  std::string proof;
  std::string server_final;
};

Expected expected_for(std::string_view server_first, std::string_view client_final_bare) {
  const auto s = server_first.find(",s=");
  const auto i = server_first.find(",i=");
  const std::string salt_b64(server_first.substr(s + 3, i - s - 3));
  std::vector<unsigned char> salt(salt_b64.size());
  int n = EVP_DecodeBlock(salt.data(), reinterpret_cast<const unsigned char*>(salt_b64.data()),
                          static_cast<int>(salt_b64.size()));
  check(n >= 0, "accepted salt is not base64");
  for (auto c = salt_b64.rbegin(); c != salt_b64.rend() && *c == '='; ++c) --n;
  const int iterations = std::stoi(std::string(server_first.substr(i + 3)));
  Key salted{};
  PKCS5_PBKDF2_HMAC(kPassword.data(), static_cast<int>(kPassword.size()), salt.data(), n,
                    iterations, EVP_sha256(), static_cast<int>(salted.size()), salted.data());
  const Key client_key = hmac(salted, "Client Key");
  Key stored_key{};
  unsigned int size = 0;
  EVP_Digest(client_key.data(), client_key.size(), stored_key.data(), &size, EVP_sha256(), nullptr);
  const Key server_key = hmac(salted, "Server Key");
  const std::string auth = "n=,r=" + std::string(kNonce) + "," + std::string(server_first) + "," +
                           std::string(client_final_bare);
  const Key signature = hmac(stored_key, auth);
  Key proof{};
  for (std::size_t k = 0; k < proof.size(); ++k) proof[k] = client_key[k] ^ signature[k];
  return {b64(proof), "v=" + b64(hmac(server_key, auth))};
}

void against_real_server(std::string_view rest) {
  static const ScramVerifier verifier = derive_scram_verifier("pencil", "fuzz-salt", 16);
  ScramServer server(verifier);
  ScramClient client("pencil");
  auto server_first = server.handle_client_first(client.client_first());
  check(std::holds_alternative<std::string>(server_first), "server refused our client-first");
  const auto client_final = client.handle_server_first(std::get<std::string>(server_first));
  check(client_final.has_value(), "client refused a real server-first");
  auto server_final = server.handle_client_final(*client_final);
  check(std::holds_alternative<std::string>(server_final), "server refused our proof");
  const std::string& v = std::get<std::string>(server_final);
  check(client.verify_server_final(v), "client refused the real server signature");
  check(client.verify_server_final(rest) == (rest == v), "client verified a forged signature");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.starts_with("!")) {
    against_real_server(input.substr(1));
    return 0;
  }
  const auto newline = input.find('\n');
  const std::string server_first = replace_all(input.substr(0, newline), "%R", kNonce);
  const std::string_view server_final =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  if (too_many_iterations(server_first)) return 0;

  ScramClient client(std::string(kPassword), std::string(kNonce), "");
  // Before the exchange starts nothing is accepted.
  check(!ScramClient(std::string(kPassword), std::string(kNonce), "")
             .handle_server_first(server_first),
        "server-first accepted before client-first");
  check(client.client_first() == "n,,n=,r=" + std::string(kNonce), "client-first");
  const auto client_final = client.handle_server_first(server_first);
  if (!client_final) {
    check(!client.verify_server_final(server_final), "verified without a server-first");
    return 0;
  }
  check(server_first.starts_with("r=" + std::string(kNonce)), "accepted a foreign nonce");
  const std::string_view nonce =
      std::string_view(server_first).substr(2, server_first.find(',') - 2);
  const std::string bare = "c=biws,r=" + std::string(nonce);
  check(client_final->starts_with(bare + ",p="), "client-final shape");
  const Expected expected = expected_for(server_first, bare);
  check(client_final->substr(bare.size() + 3) == expected.proof,
        "client proof differs from RFC 5802");
  // Only one server-first per exchange.
  check(!client.handle_server_first(server_first), "second server-first accepted");
  check(client.verify_server_final(expected.server_final), "right signature refused");
  check(client.verify_server_final(server_final) == (server_final == expected.server_final),
        "server signature verified wrongly");
  return 0;
}
