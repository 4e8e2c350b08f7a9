// Helper subcommands: key generation, credential encryption, SCRAM verifiers.
#include "daemon/cli.h"

#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "catalog/fernet.h"
#include "protocol/scram.h"

namespace pgwarden::daemon {

namespace {

std::string read_secret(std::istream& in) {
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (text.ends_with("\r\n")) {
    text.resize(text.size() - 2);
  } else if (text.ends_with('\n')) {
    text.pop_back();
  }
  return text;
}

}  // namespace

int run_keygen(std::ostream& out) {
  out << catalog::Fernet::generate_key() << "\n";
  return 0;
}

int run_encrypt(std::istream& in, std::ostream& out, std::ostream& err) {
  const char* keys = std::getenv("ENCRYPTION_KEY");
  if (keys == nullptr || *keys == '\0') {
    err << "pgwarden encrypt: ENCRYPTION_KEY is not set (make a key with `pgwarden keygen`)\n";
    return 2;
  }
  auto fernet = catalog::Fernet::from_keys(keys);
  if (auto* error = std::get_if<std::string>(&fernet)) {
    err << "pgwarden encrypt: ENCRYPTION_KEY: " << *error << "\n";
    return 2;
  }
  const std::string secret = read_secret(in);
  if (secret.empty()) {
    err << "pgwarden encrypt: nothing to encrypt on standard input\n";
    return 2;
  }
  out << std::get<catalog::Fernet>(fernet).encrypt(secret) << "\n";
  return 0;
}

int run_verifier(std::istream& in, std::ostream& out, std::ostream& err) {
  const std::string password = read_secret(in);
  if (password.empty()) {
    err << "pgwarden verifier: empty password on standard input\n";
    return 2;
  }
  out << protocol::format_scram_verifier(protocol::make_scram_verifier(password)) << "\n";
  return 0;
}

}  // namespace pgwarden::daemon
