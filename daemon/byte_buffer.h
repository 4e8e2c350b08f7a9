// A growable receive buffer: bytes arrive at the back, are consumed from the
// front, and the storage is reused so steady-state reads do not allocate. An
// idle session gives its storage back (release) and takes it again on its
// next read, so idle clients hold no buffers of their own.
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
  //! Uses `small` (owned by the caller and outliving the buffer) while what
  //! is buffered fits in it: a short message then costs no allocation.
  explicit ByteBuffer(std::span<std::byte> small) : small_(small) {}
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  //! Bytes received and not yet consumed.
  std::span<const std::byte> data() const { return {base() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }

  //! Writable space of at least `min_free` bytes at the back (moves unconsumed
  //! bytes to the front first, grows only when that is not enough).
  std::span<std::byte> prepare(std::size_t min_free) {
    if (capacity() - end_ < min_free) {
      if (begin_ > 0) {
        std::memmove(base(), base() + begin_, size());
        end_ -= begin_;
        begin_ = 0;
      }
      if (capacity() - end_ < min_free) {
        // Not zero-filled: every byte handed out is written by a read first.
        const std::size_t grown = std::max(capacity() * 2, end_ + min_free);
        auto bigger = std::make_unique_for_overwrite<std::byte[]>(grown);
        if (end_ > 0) std::memcpy(bigger.get(), base(), end_);
        heap_ = std::move(bigger);
        heap_capacity_ = grown;
      }
    }
    return {base() + end_, capacity() - end_};
  }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  //! Bytes the buffer can hold without growing.
  std::size_t capacity() const { return heap_ ? heap_capacity_ : small_.size(); }
  //! Frees the allocated storage if nothing is buffered (no read may be in
  //! flight into it); the small buffer, if any, is used again.
  void release() {
    if (!empty()) return;
    heap_.reset();
    heap_capacity_ = 0;
  }

 private:
  std::byte* base() const { return heap_ ? heap_.get() : small_.data(); }

  std::span<std::byte> small_;
  std::unique_ptr<std::byte[]> heap_;
  std::size_t heap_capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace pgwarden::daemon
