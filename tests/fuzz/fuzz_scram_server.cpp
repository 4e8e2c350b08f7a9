// libFuzzer target for the server side of SCRAM-SHA-256: what a client sends
// during authentication. The input is client-first-message, a newline, and
// client-final-message; "%R" in the latter is replaced by the nonce the server
// chose, so the fuzzer gets past the nonce check to the proof. Invariants:
// every step returns a value or a ScramError with a message, never throws; a
// server-first extends the client's nonce; no proof the fuzzer makes up is
// accepted, and a mock server (unknown user) accepts nothing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "protocol/scram.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace pgwarden::protocol;
using pgwarden::fuzz::check;

const ScramVerifier& verifier() {
  // Few iterations: the fuzzer runs many exchanges, and the server side does
  // no PBKDF2 per exchange anyway.
  static const ScramVerifier v = derive_scram_verifier("pencil", "fuzz-salt-16byte", 16);
  return v;
}

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

// The r= attribute of a server-first-message the server just produced.
std::string_view server_nonce(std::string_view server_first) {
  check(server_first.starts_with("r="), "server-first does not start with r=");
  return server_first.substr(2, server_first.find(',') - 2);
}

void exchange(ScramServer server, std::string_view first, std::string_view final_template) {
  auto reply = server.handle_client_first(first);
  if (auto* error = std::get_if<ScramError>(&reply)) {
    check(!error->message.empty() && error->protocol_violation, "client-first error");
    // A refused first message leaves no exchange to finish.
    auto again = server.handle_client_final(final_template);
    check(std::holds_alternative<ScramError>(again), "client-final accepted after a bad first");
    return;
  }
  const std::string& server_first = std::get<std::string>(reply);
  const std::string_view nonce = server_nonce(server_first);
  // The client nonce is the r= of client-first-message-bare.
  const auto r = first.find(",r=");
  check(r != std::string_view::npos, "accepted client-first without r=");
  const std::string_view client_nonce = first.substr(r + 3, first.find(',', r + 3) - (r + 3));
  check(nonce.starts_with(client_nonce) && nonce.size() > client_nonce.size(),
        "server nonce does not extend the client's");
  check(server_first.find(",s=") != std::string::npos &&
            server_first.find(",i=") != std::string::npos,
        "server-first without salt or iterations");

  // A second client-first in the same exchange is a protocol violation.
  auto repeat = server.handle_client_first(first);
  check(std::holds_alternative<ScramError>(repeat), "second client-first accepted");

  const std::string final_message = replace_all(final_template, "%R", nonce);
  auto result = server.handle_client_final(final_message);
  // The fuzzer cannot know the password's keys: any acceptance is a bypass.
  check(std::holds_alternative<ScramError>(result), "made-up proof accepted");
  check(!std::get<ScramError>(result).message.empty(), "client-final error without a message");
  // One attempt per exchange.
  auto retry = server.handle_client_final(final_message);
  check(std::holds_alternative<ScramError>(retry), "second client-final accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view first = input.substr(0, newline);
  const std::string_view final_template =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  exchange(ScramServer(verifier()), first, final_template);
  exchange(ScramServer::mock("someone", "process-secret"), first, final_template);
  // Verifier text from the catalog or the config is input too.
  if (const auto v = parse_scram_verifier(input)) {
    check(v->iterations > 0 && !v->salt.empty(), "parsed verifier out of range");
    const auto again = parse_scram_verifier(format_scram_verifier(*v));
    check(again && again->iterations == v->iterations && again->salt == v->salt &&
              again->stored_key == v->stored_key && again->server_key == v->server_key,
          "verifier round trip");
  }
  return 0;
}
