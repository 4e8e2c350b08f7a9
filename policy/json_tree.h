// Read-only helpers over libpg_query's JSON parse tree. In that tree a field
// typed Node is wrapped ({"SelectStmt": {...}}) and zero, false and empty
// fields are omitted, so every accessor answers "absent" as zero/false/empty.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgwarden::policy::detail {

//! A wrapped node: its type name and its fields.
struct Node {
  std::string_view type;
  const boost::json::object* fields = nullptr;
  explicit operator bool() const { return fields != nullptr; }
};

//! {"TypeName": {...}} -> Node; anything else -> empty Node.
inline Node as_node(const boost::json::value& v) {
  const auto* obj = v.if_object();
  if (obj == nullptr || obj->size() != 1) return {};
  const auto& kv = *obj->begin();
  const auto key = std::string_view(kv.key());
  if (key.empty() || key.front() < 'A' || key.front() > 'Z') return {};
  const auto* fields = kv.value().if_object();
  if (fields == nullptr) return {};
  return {key, fields};
}

inline const boost::json::value* field(const boost::json::object& o, std::string_view key) {
  return o.if_contains(key);
}

inline Node node_field(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr ? as_node(*v) : Node{};
}

inline const boost::json::object* object_field(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

//! An absent list is an empty list.
inline const boost::json::array& list_field(const boost::json::object& o, std::string_view key) {
  static const boost::json::array kEmpty;
  const auto* v = o.if_contains(key);
  const auto* a = v != nullptr ? v->if_array() : nullptr;
  return a != nullptr ? *a : kEmpty;
}

inline std::string_view string_field(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  const auto* s = v != nullptr ? v->if_string() : nullptr;
  return s != nullptr ? std::string_view(*s) : std::string_view{};
}

inline bool bool_field(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

inline std::int64_t int_field(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return 0;
}

//! The String node of a name list ({"String": {"sval": "x"}}), or nullopt.
inline std::optional<std::string_view> string_node(const boost::json::value& v) {
  const auto n = as_node(v);
  if (!n || n.type != "String") return std::nullopt;
  return string_field(*n.fields, "sval");
}

//! ASCII lower-case: identifiers are compared as PostgreSQL folds them.
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace pgwarden::policy::detail
