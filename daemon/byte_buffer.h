// A growable receive buffer: bytes arrive at the back, are consumed from the
// front, and the storage is reused so steady-state reads do not allocate. An
// idle session gives its storage back (release) and takes it again on its
// next read, so idle clients hold no buffers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace pgwarden::daemon {

class ByteBuffer {
 public:
  ByteBuffer() = default;

  //! Bytes received and not yet consumed.
  std::span<const std::byte> data() const { return {storage_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }

  //! Writable space of at least `min_free` bytes at the back (moves unconsumed
  //! bytes to the front first, grows only when that is not enough).
  std::span<std::byte> prepare(std::size_t min_free) {
    if (capacity_ - end_ < min_free) {
      if (begin_ > 0) {
        std::memmove(storage_.get(), storage_.get() + begin_, size());
        end_ -= begin_;
        begin_ = 0;
      }
      if (capacity_ - end_ < min_free) {
        // Not zero-filled: every byte handed out is written by a read first.
        const std::size_t grown = std::max(capacity_ * 2, end_ + min_free);
        auto bigger = std::make_unique_for_overwrite<std::byte[]>(grown);
        if (end_ > 0) std::memcpy(bigger.get(), storage_.get(), end_);
        storage_ = std::move(bigger);
        capacity_ = grown;
      }
    }
    return {storage_.get() + end_, capacity_ - end_};
  }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  std::size_t capacity() const { return capacity_; }
  //! Frees the storage if nothing is buffered (no read may be in flight).
  void release() {
    if (!empty()) return;
    storage_.reset();
    capacity_ = 0;
  }

 private:
  std::unique_ptr<std::byte[]> storage_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace pgwarden::daemon
