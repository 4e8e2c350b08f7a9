// Recognises a Query that is exactly one SQL DEALLOCATE, which pgwarden
// answers itself: the client's statement names are not the server's.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgwarden::daemon {

struct Deallocate {
  bool all = false;
  std::string name;  //!< as PostgreSQL would fold it (unquoted: lower-case)
};

//! `DEALLOCATE [PREPARE] { name | ALL } [;]`, with any whitespace and
//! comments around, or nullopt for anything else (which then goes upstream
//! like any statement). This decides nothing about safety, only whether the
//! answer is local.
std::optional<Deallocate> match_deallocate(std::string_view sql);

}  // namespace pgwarden::daemon
