// Client and server prepared-statement bookkeeping.
#include "daemon/prepared_statements.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace pgwarden::daemon {

std::string server_statement_name(std::string_view sql, std::span<const std::byte> param_types) {
  // SHA-256, not std::hash: two different statements must never share a
  // name, across clients and across restarts of pgwarden.
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  const unsigned char separator = 0;  // a NUL cannot occur in the text
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), sql.data(), sql.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), &separator, 1) != 1 ||
      EVP_DigestUpdate(ctx.get(), param_types.data(), param_types.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "pgwarden_";
  for (int i = 0; i < 12; ++i) {
    name.push_back(kHex[digest[i] >> 4]);
    name.push_back(kHex[digest[i] & 0xf]);
  }
  return name;
}

const ClientStatement* ClientStatements::find(std::string_view name) const {
  auto it = statements_.find(name);
  return it == statements_.end() ? nullptr : &it->second;
}

bool ClientStatements::add(std::string_view name, ClientStatement statement) {
  return statements_.emplace(std::string(name), std::move(statement)).second;
}

void ClientStatements::remove(std::string_view name) {
  auto it = statements_.find(name);
  if (it != statements_.end()) statements_.erase(it);
}

bool ServerStatements::touch(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return false;
  order_.splice(order_.end(), order_, it->second);
  return true;
}

std::optional<std::string> ServerStatements::add(const std::string& name) {
  if (touch(name)) return std::nullopt;
  order_.push_back(name);
  index_.emplace(name, std::prev(order_.end()));
  if (index_.size() <= capacity_) return std::nullopt;
  std::string victim = std::move(order_.front());
  order_.pop_front();
  index_.erase(victim);
  return victim;
}

void ServerStatements::remove(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

void ServerStatements::clear() {
  order_.clear();
  index_.clear();
}

}  // namespace pgwarden::daemon
