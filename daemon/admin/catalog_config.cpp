// Merging catalog records into the configuration.
#include "daemon/admin/catalog_config.h"

#include "protocol/scram.h"

namespace pgwarden::daemon::admin {

MergedConfig with_catalog(const conf::Config& file, catalog::CatalogStore& store) {
  auto merged = std::make_shared<conf::Config>(file);
  MergedConfig out;
  for (const catalog::UserRecord& user : store.list_users()) {
    if (file.find_user(user.name) != nullptr) {
      out.skipped.push_back("catalog user \"" + user.name +
                            "\" is shadowed by the configuration file");
      continue;
    }
    // A shared catalog can be written by other tools: check what we trust.
    if (!protocol::parse_scram_verifier(user.verifier)) {
      out.skipped.push_back("catalog user \"" + user.name +
                            "\" has no valid SCRAM-SHA-256 verifier");
      continue;
    }
    merged->users.push_back(conf::UserConfig{user.name, user.verifier});
  }
  for (const catalog::ConnectionRecord& record : store.list_connections(std::nullopt)) {
    if (!record.is_active) continue;
    if (file.find_connection(record.user_id, record.name) != nullptr) {
      out.skipped.push_back("catalog connection \"" + record.name + "\" of user \"" +
                            record.user_id + "\" is shadowed by the configuration file");
      continue;
    }
    conf::ConnectionConfig connection;
    connection.user = record.user_id;
    connection.name = record.name;
    connection.connection_string_encrypted = record.connection_string_encrypted;
    connection.pool = file.pool;
    connection.limits = file.limits;
    merged->connections.push_back(std::move(connection));
  }
  out.config = std::move(merged);
  return out;
}

}  // namespace pgwarden::daemon::admin
