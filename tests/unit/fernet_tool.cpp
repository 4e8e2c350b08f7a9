// Test-only CLI over catalog::Fernet, driven by tests/integration/
// test_fernet_compat.py to compare bytes with Python's cryptography.fernet.
//
//   fernet_tool keygen
//   fernet_tool encrypt [--at UNIX]            stdin: raw plaintext -> token
//   fernet_tool decrypt [--ttl S] [--now UNIX] stdin: token -> raw plaintext
//
// Keys come from ENCRYPTION_KEY (comma-separated, first encrypts). Exit codes:
// 0 ok, 1 token rejected, 2 usage or key error.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "catalog/fernet.h"

using pgwarden::catalog::Fernet;

namespace {

int usage() {
  std::cerr << "usage: fernet_tool keygen | encrypt [--at UNIX] | "
               "decrypt [--ttl SECONDS] [--now UNIX]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string_view command = argv[1];
  if (command == "keygen") {
    std::cout << Fernet::generate_key() << "\n";
    return 0;
  }

  std::optional<std::int64_t> at;
  std::int64_t ttl = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const std::int64_t value = std::strtoll(argv[i + 1], nullptr, 10);
    if (flag == "--at" || flag == "--now") {
      at = value;
    } else if (flag == "--ttl") {
      ttl = value;
    } else {
      return usage();
    }
  }
  if (argc % 2 != 0) return usage();

  const char* keys = std::getenv("ENCRYPTION_KEY");
  if (keys == nullptr) {
    std::cerr << "fernet_tool: ENCRYPTION_KEY is not set\n";
    return 2;
  }
  auto ring = Fernet::from_keys(keys);
  if (auto* error = std::get_if<std::string>(&ring)) {
    std::cerr << "fernet_tool: ENCRYPTION_KEY: " << *error << "\n";
    return 2;
  }
  const Fernet& fernet = std::get<Fernet>(ring);
  std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};

  if (command == "encrypt") {
    std::cout << (at ? fernet.encrypt_at(input, *at) : fernet.encrypt(input)) << "\n";
    return 0;
  }
  if (command == "decrypt") {
    while (!input.empty() && (input.back() == '\n' || input.back() == '\r')) input.pop_back();
    const auto plain = at ? fernet.decrypt_at(input, *at, ttl) : fernet.decrypt(input, ttl);
    if (!plain) {
      std::cerr << "fernet_tool: invalid token\n";
      return 1;
    }
    std::cout << *plain;
    return 0;
  }
  return usage();
}
