// Helper subcommands of the pgwarden binary (keygen, encrypt, verifier),
// written against streams so tests can drive them.
#pragma once

#include <iosfwd>

namespace pgwarden::daemon {

//! Prints a new Fernet key.
int run_keygen(std::ostream& out);
//! Reads a secret on `in` (one trailing newline stripped) and prints its
//! Fernet token under the first key of ENCRYPTION_KEY.
int run_encrypt(std::istream& in, std::ostream& out, std::ostream& err);
//! Reads a password on `in` (one trailing newline stripped) and prints its
//! SCRAM-SHA-256 verifier in PostgreSQL's format.
int run_verifier(std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace pgwarden::daemon
