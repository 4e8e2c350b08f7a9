// What the server (or pgwarden itself) still owes the client, message by
// message, in request order: PgBouncer's "outstanding requests" idea. Each
// entry says which request it answers and what to do with the server's
// answer: pass it on, swallow it (pgwarden injected the request), or ignore
// the server and emit prepared bytes (pgwarden answered locally).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/session_state.h"

namespace pgwarden::daemon {

enum class Disposition : std::uint8_t {
  Forward,          //!< the client's own request: its answer goes to the client
  Swallow,          //!< injected for the client (re-prepare): drop success, pass errors
  SwallowAll,       //!< injected for pgwarden (sync SET, evicting Close): drop all
  SwallowButReady,  //!< injected failing Query: drop its error, keep its 'Z'
  Local,            //!< never sent upstream: `local` goes to the client instead
};

struct PendingRequest {
  char request = 0;  //!< frontend type: 'Q' 'P' 'B' 'D' 'E' 'C' 'S', or 0 for Local
  Disposition disposition = Disposition::Forward;
  //! Parse only: the server-side statement name it registers, so a failed
  //! Parse can be forgotten again.
  std::string registers;
  std::string local;  //!< Local only: bytes to emit
  //! Query/Execute only, for the audit trail: which statement, since when.
  std::uint64_t fingerprint = 0;
  std::chrono::steady_clock::time_point started{};
  //! Query/Execute only: a session SET/RESET this request runs, applied to
  //! the client's settings once its CommandComplete proves it ran.
  std::unique_ptr<SessionEffect> effect;
  //! pgwarden's replay of the client's parameters and settings: an error
  //! in it ends the client's session (its startup values were invalid).
  bool parameter_sync = false;
};

//! True if backend message `type` is the last one answering `request`.
inline bool ends_request(char request, char type) {
  switch (request) {
    case 'Q':
    case 'S':
      return type == 'Z';
    case 'P':
      return type == '1' || type == 'E';
    case 'B':
      return type == '2' || type == 'E';
    case 'D':
      // Describe(S) sends 't' then 'T' or 'n'; Describe(P) just 'T' or 'n'.
      return type == 'T' || type == 'n' || type == 'E';
    case 'E':
      return type == 'C' || type == 'I' || type == 's' || type == 'E';
    case 'C':
      return type == '3' || type == 'E';
    default:
      return false;
  }
}

//! The requests owed answers, oldest first: a vector read from a moving
//! front. Unlike std::deque (which allocates half a kilobyte when built) it
//! costs an idle session nothing, and once warm its pushes and pops do not
//! allocate: the storage is kept and the front index rewinds when the queue
//! empties, as it does at the end of every transaction.
class RequestQueue {
 public:
  using iterator = std::vector<PendingRequest>::iterator;
  using const_iterator = std::vector<PendingRequest>::const_iterator;

  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  std::size_t capacity() const { return items_.capacity(); }
  PendingRequest& front() { return items_[head_]; }
  const PendingRequest& front() const { return items_[head_]; }
  PendingRequest& back() { return items_.back(); }
  iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return items_.end(); }

  void push_back(PendingRequest request) { items_.push_back(std::move(request)); }
  void pop_front() {
    items_[head_] = PendingRequest{};  // frees what it held now, not at the rewind
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
      // A long pipeline: drop the spent front so the vector stays bounded.
      items_.erase(items_.begin(), begin());
      head_ = 0;
    }
  }
  void erase(iterator first, iterator last) { items_.erase(first, last); }
  void clear() {
    items_.clear();
    head_ = 0;
  }
  //! Gives the storage back (an idle session) once a pipeline made it
  //! large; a few entries' worth is kept, or every transaction of the
  //! extended protocol would allocate it again.
  void release() {
    if (!empty() || items_.capacity() <= kKeep) return;
    std::vector<PendingRequest>().swap(items_);
    head_ = 0;
  }

 private:
  static constexpr std::size_t kCompactAfter = 64;
  static constexpr std::size_t kKeep = 8;
  std::vector<PendingRequest> items_;
  std::size_t head_ = 0;
};

//! True for backend messages that can arrive outside any request's answer.
inline bool is_asynchronous(char type) {
  return type == 'N' || type == 'A' || type == 'S';
}

}  // namespace pgwarden::daemon
