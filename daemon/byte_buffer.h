// A growable receive buffer: bytes arrive at the back, are consumed from the
// front, and the storage is reused so steady-state reads do not allocate.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

namespace pgwarden::daemon {

class ByteBuffer {
 public:
  explicit ByteBuffer(std::size_t initial_capacity) : storage_(initial_capacity) {}

  //! Bytes received and not yet consumed.
  std::span<const std::byte> data() const { return {storage_.data() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }

  //! Writable space of at least `min_free` bytes at the back (moves unconsumed
  //! bytes to the front first, grows only when that is not enough).
  std::span<std::byte> prepare(std::size_t min_free) {
    if (storage_.size() - end_ < min_free) {
      if (begin_ > 0) {
        std::memmove(storage_.data(), storage_.data() + begin_, size());
        end_ -= begin_;
        begin_ = 0;
      }
      if (storage_.size() - end_ < min_free) {
        storage_.resize(std::max(storage_.size() * 2, end_ + min_free));
      }
    }
    return {storage_.data() + end_, storage_.size() - end_};
  }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  std::size_t capacity() const { return storage_.size(); }

 private:
  std::vector<std::byte> storage_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace pgwarden::daemon
