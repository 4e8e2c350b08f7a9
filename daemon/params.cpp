// Session parameter tracking and reconciliation.
#include "daemon/params.h"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <utility>

namespace pgwarden::daemon {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

//! Interned maps by value, each entry dropped with the last holder of its map,
//! so clients with ever new application_names leave nothing behind.
struct Interned {
  std::mutex mutex;
  std::map<ParameterMap, std::weak_ptr<const ParameterMap>> maps;
};

Interned& interned() {
  // Never destroyed: a session may let go of its map during static
  // destruction, and the map's deleter looks here.
  static auto* const table = new Interned;
  return *table;
}

void forget(const ParameterMap* map) {
  auto& table = interned();
  {
    std::lock_guard lock(table.mutex);
    // Unless intern_parameters already put a new map with these values here.
    if (auto it = table.maps.find(*map); it != table.maps.end() && it->second.expired()) {
      table.maps.erase(it);
    }
  }
  delete map;
}

}  // namespace

SharedParameters intern_parameters(ParameterMap values) {
  auto& table = interned();
  std::lock_guard lock(table.mutex);
  auto it = table.maps.find(values);
  if (it == table.maps.end()) {
    it = table.maps.emplace(values, std::weak_ptr<const ParameterMap>()).first;
  } else if (auto alive = it->second.lock()) {
    return alive;
  }
  SharedParameters made(new ParameterMap(std::move(values)), &forget);
  it->second = made;
  return made;
}

SharedParameters with_parameter(const SharedParameters& params, std::string_view name,
                                std::string_view value) {
  if (params) {
    if (auto it = params->find(name); it != params->end() && it->second == value) return params;
  }
  ParameterMap changed = params ? *params : ParameterMap{};
  changed.insert_or_assign(std::string(name), std::string(value));
  return intern_parameters(std::move(changed));
}

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
