// Session parameter tracking and reconciliation.
#include "daemon/params.h"

#include <algorithm>
#include <cctype>

namespace pgwarden::daemon {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace

std::string_view tracked_parameter(std::string_view name) {
  for (std::string_view tracked : kTrackedParameters) {
    if (iequals(tracked, name)) return tracked;
  }
  return {};
}

std::string quote_literal(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('\'');
  for (char c : value) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

bool build_parameter_sync(const ParameterMap& client, const ParameterMap& server,
                          std::string& sql) {
  bool any = false;
  for (std::string_view name : kTrackedParameters) {
    auto wanted = client.find(name);
    if (wanted == client.end()) continue;
    auto have = server.find(name);
    if (have != server.end() && have->second == wanted->second) continue;
    sql.append("SET ").append(name).append(" = ").append(quote_literal(wanted->second)).append(";");
    any = true;
  }
  return any;
}

}  // namespace pgwarden::daemon
