// Rules for changing settings: SET, RESET, SET TRANSACTION, SET SESSION
// CHARACTERISTICS, BEGIN's modes and set_config(), all judged alike.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "policy/judge.h"

namespace pgwarden::policy::detail {
namespace {

//! What may be done with a parameter.
enum class ParamClass {
  Free,            // any value, DEFAULT, RESET: harmless, and drivers set them
  ClientEncoding,  // UTF8 only: the parser lexed the text as UTF-8
  SearchPath,      // pg_catalog must not come after another schema
  TrueOnly,        // only a true value: read-only mode, standard strings
  Denied,
};

ParamClass parameter_class(std::string_view name) {
  static constexpr std::string_view kFree[] = {"application_name",
                                               "extra_float_digits",
                                               "datestyle",
                                               "timezone",
                                               "intervalstyle",
                                               "bytea_output",
                                               "client_min_messages",
                                               "jit",
                                               "default_transaction_isolation",
                                               "transaction_isolation"};
  if (std::find(std::begin(kFree), std::end(kFree), name) != std::end(kFree)) {
    return ParamClass::Free;
  }
  if (name == "client_encoding") return ParamClass::ClientEncoding;
  if (name == "search_path") return ParamClass::SearchPath;
  // standard_conforming_strings must stay on: with it off, the server would
  // read backslashes in '...' as escapes that the parser did not see.
  if (name == "standard_conforming_strings" || name == "default_transaction_read_only" ||
      name == "transaction_read_only") {
    return ParamClass::TrueOnly;
  }
  return ParamClass::Denied;
}

constexpr std::string_view kSetHint =
    "pgwarden lets clients change only application_name, extra_float_digits, DateStyle, "
    "TimeZone, IntervalStyle, bytea_output, client_min_messages, jit, "
    "default_transaction_isolation and transaction_isolation; client_encoding only to UTF8, "
    "search_path only with pg_catalog first or absent, and standard_conforming_strings, "
    "default_transaction_read_only and transaction_read_only only to on";

//! PostgreSQL's parse_bool: unique prefixes of true/false/yes/no, on/off (two
//! letters at least), 1/0; case-insensitive, no trimming. nullopt: invalid.
std::optional<bool> parse_bool(std::string_view text) {
  const std::string v = lower(text);
  if (v.empty()) return std::nullopt;
  auto prefix_of = [&v](std::string_view word, std::size_t min_len = 1) {
    return v.size() >= min_len && v.size() <= word.size() && word.substr(0, v.size()) == v;
  };
  if (prefix_of("true")) return true;
  if (prefix_of("false")) return false;
  if (prefix_of("yes")) return true;
  if (prefix_of("no")) return false;
  if (v == "on") return true;
  if (prefix_of("off", 2)) return false;
  if (v == "1") return true;
  if (v == "0") return false;
  return std::nullopt;
}

//! PostgreSQL's encoding-name lookup ignores case and non-alphanumerics.
bool is_utf8_name(std::string_view text) {
  std::string clean;
  for (char c : text) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) clean += c;
    if (c >= 'A' && c <= 'Z') clean += static_cast<char>(c - 'A' + 'a');
  }
  return clean == "utf8" || clean == "unicode";
}

//! PostgreSQL's SplitIdentifierString for a comma-separated schema list:
//! quoted names keep their case, others are folded. nullopt: malformed.
std::optional<std::vector<std::string>> split_identifiers(std::string_view text) {
  std::vector<std::string> names;
  std::size_t i = 0;
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  auto skip_space = [&] {
    while (i < text.size() && is_space(text[i])) ++i;
  };
  skip_space();
  if (i == text.size()) return names;
  while (true) {
    std::string name;
    if (text[i] == '"') {
      ++i;
      while (true) {
        if (i == text.size()) return std::nullopt;
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            name += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        name += text[i++];
      }
    } else {
      while (i < text.size() && text[i] != ',' && !is_space(text[i])) name += text[i++];
      if (name.empty()) return std::nullopt;
      name = lower(name);
    }
    names.push_back(std::move(name));
    skip_space();
    if (i == text.size()) return names;
    if (text[i] != ',') return std::nullopt;
    ++i;
    skip_space();
  }
}

//! One value given to a setting.
struct Value {
  enum class Kind { Text, Default, BindParameter, Other } kind = Kind::Other;
  std::string text;
};

std::string quoted(std::string_view text) {
  // Appended piecewise: GCC 12's -Wrestrict misfires on "'" + std::string(...).
  std::string out;
  out.reserve(text.size() + 2);
  out.append(1, '\'').append(text).append(1, '\'');
  return out;
}

//! `what` names the change for messages: "SET jit", "RESET jit",
//! "set_config() of jit". `values` is empty for DEFAULT/RESET/FROM CURRENT.
Outcome check_setting(std::string_view name, const std::string& what,
                      const std::vector<Value>& values) {
  const ParamClass cls = parameter_class(lower(name));
  if (cls == ParamClass::Denied) return deny(what + " is not allowed", std::string(kSetHint));
  if (cls == ParamClass::Free) {
    return std::nullopt;
  }
  const bool resets =
      values.empty() || std::any_of(values.begin(), values.end(),
                                    [](const Value& v) { return v.kind == Value::Kind::Default; });
  if (cls == ParamClass::SearchPath) {
    // The default search path searches pg_catalog first.
    if (resets && values.size() <= 1) return std::nullopt;
    std::vector<std::string> schemas;
    for (const auto& v : values) {
      if (v.kind == Value::Kind::BindParameter) {
        return deny(what + " with a bind parameter is not allowed", std::string(kSetHint));
      }
      if (v.kind != Value::Kind::Text) {
        return deny(what + " with a value that is not a constant is not allowed",
                    std::string(kSetHint));
      }
      // Split SET's items too: stricter than PostgreSQL (which quotes a SET
      // string as one name) but never looser.
      auto parts = split_identifiers(v.text);
      if (!parts)
        return deny(what + " to " + quoted(v.text) + " is not allowed", std::string(kSetHint));
      schemas.insert(schemas.end(), parts->begin(), parts->end());
    }
    for (std::size_t k = 0; k < schemas.size(); ++k) {
      if (lower(schemas[k]) == "pg_catalog" && k > 0) {
        return deny(what + " with pg_catalog after another schema is not allowed",
                    "put pg_catalog first in search_path, or leave it out: PostgreSQL then "
                    "searches it first");
      }
    }
    return std::nullopt;
  }
  // ClientEncoding and TrueOnly: exactly one acceptable constant.
  if (resets) {
    return deny(what + (values.empty() ? std::string(" is not allowed")
                                       : std::string(" to DEFAULT is not allowed")),
                std::string(kSetHint));
  }
  if (values.size() != 1) return deny(what + " with several values is not allowed");
  const Value& v = values.front();
  if (v.kind == Value::Kind::BindParameter) {
    return deny(what + " with a bind parameter is not allowed", std::string(kSetHint));
  }
  if (v.kind != Value::Kind::Text) {
    return deny(what + " with a value that is not a constant is not allowed",
                std::string(kSetHint));
  }
  if (cls == ParamClass::ClientEncoding) {
    if (is_utf8_name(v.text)) return std::nullopt;
    return deny(what + " to " + quoted(v.text) + " is not allowed",
                "pgwarden keeps client_encoding UTF8: the query text is checked as UTF-8");
  }
  if (parse_bool(v.text) == std::optional<bool>(true)) return std::nullopt;
  return deny(what + " to " + quoted(v.text) + " is not allowed",
              lower(name) + " can only be set to on");
}

Value value_of(const boost::json::value& arg, const JudgeContext& ctx) {
  if (auto text = constant_text(arg, ctx)) return {Value::Kind::Text, std::move(*text)};
  if (const auto* c = ctx.read_constant(arg); c != nullptr && bool_field(*c, "isnull"))
    return {Value::Kind::Default, {}};
  const Node n = as_node(arg);
  if (n && n.type == "ParamRef") return {Value::Kind::BindParameter, {}};
  return {Value::Kind::Other, {}};
}

//! The text of a string A_Const, else nullopt.
std::optional<std::string> constant_string_of(const boost::json::value& v,
                                              const JudgeContext& ctx) {
  const auto* c = ctx.read_constant(v);
  const auto* sval = c != nullptr ? object_field(*c, "sval") : nullptr;
  if (sval == nullptr) return std::nullopt;
  return std::string(string_field(*sval, "sval"));
}

//! A set_config() argument that is a string constant, possibly cast to a
//! text type ('jit'::text); nullopt otherwise.
std::optional<std::string> constant_string(const boost::json::value& arg, const JudgeContext& ctx) {
  const Node n = as_node(arg);
  if (n && n.type == "TypeCast") {
    const auto* type_name = object_field(*n.fields, "typeName");
    if (type_name == nullptr) return std::nullopt;
    const auto& names = list_field(*type_name, "names");
    if (names.empty()) return std::nullopt;
    const auto last = string_node(names.back());
    if (!last || (*last != "text" && *last != "varchar" && *last != "name")) return std::nullopt;
    if (!list_field(*type_name, "arrayBounds").empty()) return std::nullopt;
    const auto* inner = field(*n.fields, "arg");
    if (inner == nullptr) return std::nullopt;
    return constant_string_of(*inner, ctx);
  }
  return constant_string_of(arg, ctx);
}

}  // namespace

std::optional<std::string> constant_text(const boost::json::value& v, const JudgeContext& ctx) {
  const auto* c = ctx.read_constant(v);
  if (c == nullptr) return std::nullopt;
  const auto& f = *c;
  if (bool_field(f, "isnull")) return std::nullopt;
  if (const auto* o = object_field(f, "sval")) return std::string(string_field(*o, "sval"));
  if (const auto* o = object_field(f, "fval")) return std::string(string_field(*o, "fval"));
  if (const auto* o = object_field(f, "bsval")) return std::string(string_field(*o, "bsval"));
  if (const auto* o = object_field(f, "boolval")) {
    return std::string(bool_field(*o, "boolval") ? "true" : "false");
  }
  // Integer zero is printed as "ival": {} (and libpg_query 15-4.0 prints
  // negative integers the same way): both read as 0, never as "true".
  if (const auto* o = object_field(f, "ival")) return std::to_string(int_field(*o, "ival"));
  return std::nullopt;
}

Outcome judge_transaction_modes(const boost::json::array& modes, std::string_view statement,
                                const JudgeContext& ctx) {
  // Modes apply in order, so one READ WRITE anywhere is enough to refuse
  // (BEGIN READ ONLY, READ WRITE is read-write).
  for (const auto& mode : modes) {
    const Node def = as_node(mode);
    if (!def || def.type != "DefElem")
      return deny(std::string(statement) + " with an unknown mode is not allowed");
    const auto name = string_field(*def.fields, "defname");
    if (name == "transaction_isolation" || name == "transaction_deferrable") continue;
    if (name != "transaction_read_only") {
      return deny(std::string(statement) + " with an unknown mode is not allowed");
    }
    const auto* arg = field(*def.fields, "arg");
    const auto value = arg != nullptr ? constant_text(*arg, ctx) : std::nullopt;
    if (value != "1") {
      return deny(std::string(statement) + " READ WRITE is not allowed",
                  "transactions through pgwarden are read-only");
    }
  }
  return std::nullopt;
}

Outcome judge_variable_set(const boost::json::object& stmt, const JudgeContext& ctx) {
  const auto kind = string_field(stmt, "kind");
  const auto name = string_field(stmt, "name");
  const std::string local = bool_field(stmt, "is_local") ? "SET LOCAL " : "SET ";
  if (kind == "VAR_RESET_ALL") return std::nullopt;  // returns to the startup packet's values
  if (kind == "VAR_SET_MULTI") {
    const auto& args = list_field(stmt, "args");
    if (name == "TRANSACTION") return judge_transaction_modes(args, "SET TRANSACTION", ctx);
    if (name == "SESSION CHARACTERISTICS") {
      return judge_transaction_modes(args, "SET SESSION CHARACTERISTICS AS TRANSACTION", ctx);
    }
    if (name == "TRANSACTION SNAPSHOT") return std::nullopt;  // picks what is read, no more
    return deny("SET " + std::string(name) + " is not allowed");
  }
  if (kind == "VAR_RESET") return check_setting(name, "RESET " + std::string(name), {});
  if (kind == "VAR_SET_DEFAULT") {
    return check_setting(name, local + std::string(name), {Value{Value::Kind::Default, {}}});
  }
  if (kind == "VAR_SET_CURRENT") {
    return check_setting(name, local + std::string(name) + " FROM CURRENT", {});
  }
  if (kind == "VAR_SET_VALUE") {
    std::vector<Value> values;
    for (const auto& arg : list_field(stmt, "args")) values.push_back(value_of(arg, ctx));
    if (values.empty()) values.push_back(Value{});
    return check_setting(name, local + std::string(name), values);
  }
  return deny("SET " + std::string(name) + " is not allowed");
}

Outcome judge_set_config(const boost::json::object& call, const JudgeContext& ctx) {
  // set_config(setting_name text, new_value text, is_local boolean): put
  // named arguments in their places; anything unexpected is refused.
  const boost::json::value* args[3] = {nullptr, nullptr, nullptr};
  std::size_t positional = 0;
  const auto& list = list_field(call, "args");
  if (list.size() != 3 || bool_field(call, "func_variadic") || bool_field(call, "agg_star") ||
      field(call, "over") != nullptr) {
    return deny("set_config() with unexpected arguments is not allowed");
  }
  for (const auto& a : list) {
    const Node n = as_node(a);
    if (n && n.type == "NamedArgExpr") {
      const auto arg_name = lower(string_field(*n.fields, "name"));
      const int slot = arg_name == "setting_name" ? 0
                       : arg_name == "new_value"  ? 1
                       : arg_name == "is_local"   ? 2
                                                  : -1;
      const auto* inner = field(*n.fields, "arg");
      if (slot < 0 || inner == nullptr || args[slot] != nullptr) {
        return deny("set_config() with unexpected arguments is not allowed");
      }
      args[slot] = inner;
    } else {
      if (positional > 2 || args[positional] != nullptr) {
        return deny("set_config() with unexpected arguments is not allowed");
      }
      args[positional++] = &a;
    }
  }
  if (args[0] == nullptr || args[1] == nullptr || args[2] == nullptr) {
    return deny("set_config() with unexpected arguments is not allowed");
  }
  const auto name = constant_string(*args[0], ctx);
  if (!name) {
    return deny("set_config() with a setting name that is not a constant is not allowed",
                std::string(kSetHint));
  }
  Value value;
  if (auto text = constant_string(*args[1], ctx)) {
    value = {Value::Kind::Text, std::move(*text)};
  } else {
    value = value_of(*args[1], ctx);
    if (value.kind == Value::Kind::Text) value.kind = Value::Kind::Other;  // not a string
  }
  const std::string what = "set_config() of " + *name;
  if (value.kind == Value::Kind::BindParameter || value.kind == Value::Kind::Other) {
    // The value is unknown: only a parameter whose every value is harmless.
    if (parameter_class(lower(*name)) == ParamClass::Free) return std::nullopt;
    if (parameter_class(lower(*name)) == ParamClass::Denied) {
      return deny(what + " is not allowed", std::string(kSetHint));
    }
    return deny(what + (value.kind == Value::Kind::BindParameter
                            ? " with a bind parameter is not allowed"
                            : " with a value that is not a constant is not allowed"),
                std::string(kSetHint));
  }
  if (value.kind == Value::Kind::Default) return check_setting(*name, what + " to NULL", {});
  return check_setting(*name, what, {value});
}

}  // namespace pgwarden::policy::detail
