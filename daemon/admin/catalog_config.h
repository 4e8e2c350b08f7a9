// The configuration the data path serves: the file's users and connections
// plus the catalog's, merged into one conf::Config so tenants are built (and
// rebuilt on change) exactly as for the file alone.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "catalog/store.h"
#include "conf/config.h"

namespace pgwarden::daemon::admin {

struct MergedConfig {
  std::shared_ptr<const conf::Config> config;
  //! Catalog entries left out, one line each for the log (no secrets):
  //! shadowed by the file, or with an unusable verifier.
  std::vector<std::string> skipped;
};

//! `file` with the catalog's users and *active* connections appended; the
//! latter get the file's [pool] and [limits] settings. File entries win over catalog ones
//! with the same user name or (user, name). Blocking (reads the store):
//! call at startup or on a worker thread. Throws catalog::StoreError.
MergedConfig with_catalog(const conf::Config& file, catalog::CatalogStore& store);

}  // namespace pgwarden::daemon::admin
