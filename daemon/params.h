// Session parameters a pooler must keep consistent: what each client believes
// and what each server connection has, and the SET that reconciles them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace pgwarden::daemon {

//! Reported (GUC_REPORT) parameters by name, as the server spells them.
using ParameterMap = std::map<std::string, std::string, std::less<>>;

//! A client's tracked parameters, shared: most clients of a pool hold the same
//! values, and an idle session then pays a pointer rather than a map.
using SharedParameters = std::shared_ptr<const ParameterMap>;

//! The one shared map holding `values` (thread-safe). Equal maps are the same
//! object while anyone holds it, so holders compare by address; a map nobody
//! holds is forgotten.
SharedParameters intern_parameters(ParameterMap values);

//! `params` (null: none) with `name` set to `value`, interned.
SharedParameters with_parameter(const SharedParameters& params, std::string_view name,
                                std::string_view value);

//! Parameters a client may hold its own value of; synced onto whichever server
//! connection it is given. All are reported by PostgreSQL, so a client's SET is
//! seen as a ParameterStatus and tracked. The rest are pinned or the server's.
inline constexpr std::string_view kTrackedParameters[] = {"application_name", "DateStyle",
                                                          "IntervalStyle", "TimeZone"};

//! The tracked name matching `name` case-insensitively, or empty.
std::string_view tracked_parameter(std::string_view name);

//! Appends `SET name = 'value';` for each tracked parameter whose client value
//! differs from the server's. Returns false if nothing needs setting.
bool build_parameter_sync(const ParameterMap& client, const ParameterMap& server, std::string& sql);

//! A SQL string literal for `value` (standard_conforming_strings is pinned on,
//! so only quotes need doubling).
std::string quote_literal(std::string_view value);

}  // namespace pgwarden::daemon
