// Where a parse tree's constants came from: proves, for one parsed text, that
// each literal the normaliser replaced became exactly one A_Const of the tree
// and nothing else, before a decision is shared by every text with its key.
#pragma once

#include <boost/json/value.hpp>
#include <span>

#include "policy/normalize.h"

namespace pgwarden::policy::detail {

//! True when the A_Const nodes of `root` (libpg_query's JSON tree; NULL,
//! TRUE and FALSE left out: keywords, not literals) and `literals` match one
//! to one by location: each literal's own offset, or its minus sign for a
//! negated number. False when any literal became something else (FETCH 5,
//! float(24), a COPY file name), a constant comes from no literal
//! (INTERVAL '1' DAY, READ ONLY), or the counts differ.
bool constants_match_literals(const boost::json::value& root,
                              std::span<const LiteralSpan> literals);

}  // namespace pgwarden::policy::detail
