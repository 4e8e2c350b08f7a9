// Bearer tokens, targets, pagination and JSON bodies for the admin API.
#include "daemon/admin/http_util.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

namespace pgwarden::daemon::admin {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n";

std::string_view trim(std::string_view text) {
  const auto begin = text.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(kWhitespace);
  return text.substr(begin, end - begin + 1);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::size_t> parse_size(std::string_view text) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

namespace {

// A systemd credential (LoadCredential=/LoadCredentialEncrypted=), if the
// service has one of that name.
std::optional<std::string> read_credential(const char* directory, std::string_view name) {
  if (directory == nullptr || *directory == '\0') return std::nullopt;
  std::ifstream file(std::string(directory) + "/" + std::string(name), std::ios::binary);
  if (!file) return std::nullopt;
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

}  // namespace

TokenSource load_admin_token(const conf::AdminSettings& settings, const char* env_token,
                             const char* credentials_dir) {
  TokenSource source;
  std::string text;
  std::string origin;
  if (!settings.token_file.empty()) {
    origin = "admin.token_file " + settings.token_file;
    std::ifstream file(settings.token_file, std::ios::binary);
    if (!file) {
      source.error = origin + ": cannot open: " + std::strerror(errno);
      return source;
    }
    std::ostringstream content;
    content << file.rdbuf();
    text = content.str();
  } else if (env_token != nullptr && *env_token != '\0') {
    origin = "PGWARDEN_ADMIN_TOKEN";
    text = env_token;
  } else if (auto credential = read_credential(credentials_dir, "admin_token")) {
    origin = "the systemd credential admin_token";
    text = std::move(*credential);
  } else {
    return source;  // no token configured: the API stays off
  }
  const std::string_view token = trim(text);
  if (token.size() < kMinTokenLength) {
    source.error = origin + ": the token must be at least " + std::to_string(kMinTokenLength) +
                   " characters (e.g. `openssl rand -hex 32`)";
    return source;
  }
  for (char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      source.error = origin + ": the token must not contain spaces or control characters";
      return source;
    }
  }
  source.token = std::string(token);
  return source;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  const auto space = authorization.find(' ');
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "bearer")) {
    return std::nullopt;
  }
  const std::string_view token = trim(authorization.substr(space + 1));
  if (token.empty()) return std::nullopt;
  return token;
}

bool token_matches(std::string_view presented, std::string_view expected) {
  unsigned char a[SHA256_DIGEST_LENGTH];
  unsigned char b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0 && !expected.empty();
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::optional<Target> parse_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  Target out;
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  std::size_t start = 1;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const std::string_view raw = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    // "/api/pools/" and "/api/pools" name the same thing; "//" is never valid.
    if (raw.empty()) {
      if (slash != std::string_view::npos) return std::nullopt;
      break;
    }
    auto decoded = percent_decode(raw, false);
    if (!decoded) return std::nullopt;
    out.segments.push_back(std::move(*decoded));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (question == std::string_view::npos) return out;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const auto equals = pair.find('=');
      auto key = percent_decode(pair.substr(0, equals), true);
      auto value = percent_decode(
          equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1), true);
      if (!key || !value) return std::nullopt;
      out.query.insert_or_assign(std::move(*key), std::move(*value));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::variant<Page, std::string> parse_page(
    const std::map<std::string, std::string, std::less<>>& query, std::size_t default_limit,
    std::size_t max_limit) {
  Page page;
  page.limit = default_limit;
  if (auto it = query.find("offset"); it != query.end()) {
    auto value = parse_size(it->second);
    if (!value) return std::string("offset must be a non-negative integer");
    page.offset = *value;
  }
  if (auto it = query.find("limit"); it != query.end()) {
    auto value = parse_size(it->second);
    if (!value || *value == 0 || *value > max_limit) {
      return "limit must be an integer from 1 to " + std::to_string(max_limit);
    }
    page.limit = *value;
  }
  return page;
}

std::variant<boost::json::object, std::string> parse_json_object(std::string_view body,
                                                                 bool empty_ok) {
  if (trim(body).empty()) {
    if (empty_ok) return boost::json::object();
    return std::string("request body must be a JSON object");
  }
  boost::json::error_code ec;
  boost::json::parse_options options;
  options.max_depth = 32;  // request bodies are flat; deep nesting is an attack
  boost::json::value value = boost::json::parse(body, ec, {}, options);
  if (ec) return "malformed JSON: " + ec.message();
  if (!value.is_object()) return std::string("request body must be a JSON object");
  return std::move(value.as_object());
}

}  // namespace pgwarden::daemon::admin
