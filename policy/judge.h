// Internal interface between the classifier's parts: statement rules
// (statements.cpp), the query walker (walker.cpp), function rules
// (functions.cpp) and setting rules (settings.cpp).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "policy/classifier.h"
#include "policy/json_tree.h"

namespace pgwarden::policy::detail {

//! Why a statement is refused.
struct Denial {
  std::string_view sqlstate = sqlstate::kInsufficientPrivilege;
  std::string message;
  std::string hint;
};

//! nullopt: allowed.
using Outcome = std::optional<Denial>;

inline Denial deny(std::string message, std::string hint = {}) {
  return Denial{sqlstate::kInsufficientPrivilege, std::move(message), std::move(hint)};
}

//! What the judge learnt about the text besides the outcome.
struct WalkNotes {
  //! The outcome looked at some constant's value (SET, set_config(), a
  //! transaction mode): it holds for this text only, not for every text that
  //! differs from it in literal values.
  bool read_constant = false;
};

struct JudgeContext {
  const FunctionRules& rules;
  std::size_t max_depth;
  WalkNotes* notes = nullptr;  //!< filled in when not null

  //! The fields of `v` if it is an A_Const, noting that the outcome now
  //! depends on a constant; the only way the judge reads one.
  const boost::json::object* read_constant(const boost::json::value& v) const {
    const Node n = as_node(v);
    if (!n || n.type != "A_Const") return nullptr;
    if (notes != nullptr) notes->read_constant = true;
    return n.fields;
  }
};

//! One top-level statement: the wrapped node of a RawStmt.
Outcome judge_statement(const boost::json::value& stmt, const JudgeContext& ctx);

//! A query tree (SELECT, VALUES, TABLE and all they contain): SELECT INTO,
//! locking clauses, data-modifying statements and functions anywhere below.
Outcome judge_query(const boost::json::value& query, const JudgeContext& ctx);

//! One FuncCall node's fields.
Outcome judge_function_call(const boost::json::object& call, const JudgeContext& ctx);

//! SET / RESET / SET TRANSACTION / SET SESSION CHARACTERISTICS.
Outcome judge_variable_set(const boost::json::object& stmt, const JudgeContext& ctx);

//! BEGIN / START TRANSACTION / SET TRANSACTION modes (DefElem list).
//! `statement` names the statement in the message ("BEGIN").
Outcome judge_transaction_modes(const boost::json::array& modes, std::string_view statement,
                                const JudgeContext& ctx);

//! set_config(name, value, is_local), judged like SET.
Outcome judge_set_config(const boost::json::object& call, const JudgeContext& ctx);

//! The value of an A_Const as SET would see it ("on", "1", "0.5"); nullopt
//! for NULL or anything that is not a constant.
std::optional<std::string> constant_text(const boost::json::value& v, const JudgeContext& ctx);

//! Human name of a statement kind for messages ("DELETE", "CREATE TABLE").
std::string statement_name(const Node& stmt);

}  // namespace pgwarden::policy::detail
