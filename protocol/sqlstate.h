// SQLSTATE codes pgwarden itself reports (PostgreSQL Appendix A).
#pragma once

#include <string_view>

namespace pgwarden::protocol::sqlstate {

inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kCannotConnect = "08001";
inline constexpr std::string_view kInvalidAuthorization = "28000";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kInvalidCatalogName = "3D000";
inline constexpr std::string_view kTooManyConnections = "53300";
inline constexpr std::string_view kConfigurationLimitExceeded = "53400";
inline constexpr std::string_view kProgramLimitExceeded = "54000";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kAdminShutdown = "57P01";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kInFailedTransaction = "25P02";
inline constexpr std::string_view kInvalidSqlStatementName = "26000";
inline constexpr std::string_view kDuplicatePreparedStatement = "42P05";
inline constexpr std::string_view kInvalidParameterValue = "22023";
inline constexpr std::string_view kInternalError = "XX000";

}  // namespace pgwarden::protocol::sqlstate
