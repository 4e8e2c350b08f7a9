#include "daemon/client_tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace pgwarden::daemon {
namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's reason for the last failure, without its error-queue noise.
std::string openssl_reason(const boost::system::error_code& ec) {
  std::string reason = ec.message();
  ERR_clear_error();
  return reason;
}

}  // namespace

std::variant<std::shared_ptr<ssl::context>, std::string> make_client_tls_context(
    const conf::ClientTlsSettings& settings) {
  if (!settings.enabled()) return std::shared_ptr<ssl::context>();
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::single_dh_use);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(
      native, settings.min_version == "TLSv1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  // No session tickets or cache: every connection authenticates afresh, and
  // a reload's new context shares no state with the old one.
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);

  boost::system::error_code ec;
  context->use_certificate_chain_file(settings.cert_file, ec);
  if (ec) {
    return fmt::format("server.tls.cert_file \"{}\": {}", settings.cert_file, openssl_reason(ec));
  }
  context->use_private_key_file(settings.key_file, ssl::context::pem, ec);
  if (ec) {
    return fmt::format("server.tls.key_file \"{}\": {}", settings.key_file, openssl_reason(ec));
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return fmt::format("server.tls.key_file \"{}\" does not match server.tls.cert_file",
                       settings.key_file);
  }
  if (!settings.client_ca_file.empty()) {
    context->load_verify_file(settings.client_ca_file, ec);
    if (ec) {
      return fmt::format("server.tls.client_ca_file \"{}\": {}", settings.client_ca_file,
                         openssl_reason(ec));
    }
    // Tell clients which CAs we accept, as PostgreSQL does with ssl_ca_file.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(native, names);
    }
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    context->set_verify_mode(ssl::verify_none);
  }
  return context;
}

}  // namespace pgwarden::daemon
