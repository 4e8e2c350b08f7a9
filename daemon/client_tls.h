// TLS towards clients ([server.tls]): one OpenSSL context per installed
// configuration, so a reload picks up renewed certificates.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <variant>

#include "conf/config.h"

namespace pgwarden::daemon {

//! The server-side context for `settings`, or a one-line reason it cannot be
//! built (unreadable file, key not matching the certificate...). nullptr when
//! the mode is "disable".
std::variant<std::shared_ptr<boost::asio::ssl::context>, std::string> make_client_tls_context(
    const conf::ClientTlsSettings& settings);

}  // namespace pgwarden::daemon
