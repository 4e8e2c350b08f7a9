// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it: the server side
// that checks clients against a stored verifier, and the client side that logs
// in upstream. No channel binding yet: a client that demands it is refused.
// Passwords are raw bytes: no SASLprep, which only matters for non-ASCII ones.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace pgwarden::protocol {

inline constexpr std::string_view kScramSha256 = "SCRAM-SHA-256";
inline constexpr int kDefaultScramIterations = 4096;

//! A stored verifier, as in pg_authid.rolpassword (RFC 5803 form):
//! SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>
struct ScramVerifier {
  int iterations = 0;
  std::string salt;  //!< raw bytes
  std::array<std::uint8_t, 32> stored_key{};
  std::array<std::uint8_t, 32> server_key{};
};

//! Parses a verifier; nullopt if the text is not exactly that form (iterations
//! must be positive, keys exactly 32 bytes, base64 valid).
std::optional<ScramVerifier> parse_scram_verifier(std::string_view text);
//! Derives a verifier from a password with a fresh random 16-byte salt.
ScramVerifier make_scram_verifier(std::string_view password,
                                  int iterations = kDefaultScramIterations);
//! Derives a verifier from a password and a given (non-empty) salt; make_scram_verifier
//! with a fixed salt, for tests and for checking against known verifiers.
ScramVerifier derive_scram_verifier(std::string_view password, std::string_view salt,
                                    int iterations);
//! Formats a verifier as PostgreSQL stores it.
std::string format_scram_verifier(const ScramVerifier& verifier);

//! A failed step. protocol_violation: malformed message (08P01); otherwise the
//! credentials were wrong (28P01). The message is safe to show to the client.
struct ScramError {
  bool protocol_violation = false;
  std::string message;
};

//! Server side of one exchange. Construct with the user's verifier, or with
//! mock() for an unknown user so the exchange looks the same and then fails.
class ScramServer {
 public:
  explicit ScramServer(ScramVerifier verifier);
  //! A believable fake verifier derived from the user name and a process
  //! secret, so probing names reveals nothing; the final step always fails.
  static ScramServer mock(std::string_view username, std::string_view secret);

  //! Takes the client-first-message, returns the server-first-message.
  std::variant<std::string, ScramError> handle_client_first(std::string_view message);
  //! Takes the client-final-message, returns the server-final-message ("v=...")
  //! when the proof is valid.
  std::variant<std::string, ScramError> handle_client_final(std::string_view message);

 private:
  ScramVerifier verifier_;
  bool mock_ = false;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  //!< client nonce + server nonce
  std::string gs2_header_;
};

//! Client side of one exchange (pgwarden logging in upstream).
class ScramClient {
 public:
  explicit ScramClient(std::string password);
  //! Test-only: a fixed client nonce (printable, no ',') and n= user name, to
  //! reproduce published vectors such as RFC 7677's.
  ScramClient(std::string password, std::string client_nonce, std::string username);
  //! The client-first-message ("n,,n=,r=<nonce>").
  std::string client_first();
  //! Takes server-first, returns client-final, or nullopt if the server's
  //! message is malformed or its nonce does not extend ours.
  std::optional<std::string> handle_server_first(std::string_view message);
  //! True iff the server-final-message carries the expected ServerSignature.
  bool verify_server_final(std::string_view message) const;

 private:
  std::string password_;
  std::string client_nonce_;
  std::string client_first_bare_;
  std::array<std::uint8_t, 32> expected_server_signature_{};
  bool client_first_sent_ = false;
  bool have_server_signature_ = false;  //!< set only by a successful server-first
};

//! The md5 password response: "md5" + hex(md5(hex(md5(password + user)) + salt)).
std::string md5_password_response(std::string_view user, std::string_view password,
                                  std::string_view salt4);

//! Cryptographically random bytes (OpenSSL RAND_bytes); aborts if the RNG fails.
void random_bytes(std::span<std::byte> out);

}  // namespace pgwarden::protocol
