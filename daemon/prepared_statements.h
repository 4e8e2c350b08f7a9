// Named prepared statements under transaction pooling: each client's names
// map to server-side names derived from the statement text and parameter
// types, so any server connection can hold them and clients share them.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "daemon/session_state.h"

namespace pgwarden::daemon {

//! One client statement: what it is on the server and how to create it there.
struct ClientStatement {
  std::string server_name;
  std::string parse_message;      //!< a whole Parse message under server_name
  std::uint64_t fingerprint = 0;  //!< pg_query fingerprint, for the audit trail
  SessionEffect effect;           //!< what executing it does to the session
};

//! The server-side name for a statement: a hash of its text and parameter
//! types, so identical statements from any client share one server entry.
std::string server_statement_name(std::string_view sql, std::span<const std::byte> param_types);

//! A client's named statements (per session; not thread-shared).
class ClientStatements {
 public:
  const ClientStatement* find(std::string_view name) const;
  //! Adds `name`; false if it already exists (PostgreSQL's 42P05).
  bool add(std::string_view name, ClientStatement statement);
  void remove(std::string_view name);
  void clear() { statements_.clear(); }
  std::size_t size() const { return statements_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, ClientStatement, Hash, std::equal_to<>> statements_;
};

//! The statements one server connection has prepared, least recently used
//! first, bounded so a long-lived server does not accumulate plans forever.
class ServerStatements {
 public:
  explicit ServerStatements(std::size_t capacity = 200) : capacity_(capacity) {}

  //! True if present (and marks it used).
  bool touch(const std::string& name);
  //! Records `name`; returns the evicted name, if the set was full.
  std::optional<std::string> add(const std::string& name);
  void remove(const std::string& name);
  void clear();
  std::size_t size() const { return index_.size(); }
  //! Only before first use (a fresh server connection).
  void set_capacity(std::size_t capacity) { capacity_ = capacity; }

 private:
  std::size_t capacity_;
  std::list<std::string> order_;  // front = least recently used
  std::unordered_map<std::string, std::list<std::string>::iterator> index_;
};

}  // namespace pgwarden::daemon
