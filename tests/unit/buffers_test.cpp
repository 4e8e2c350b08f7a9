// The relay's containers: the receive buffer (small buffer first, heap only
// when needed, given back when empty) and the queue of owed answers.
#define BOOST_TEST_MODULE buffers
#include <algorithm>
#include <array>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <string>
#include <string_view>

#include "daemon/byte_buffer.h"
#include "daemon/response_queue.h"

using pgwarden::daemon::ByteBuffer;
using pgwarden::daemon::Disposition;
using pgwarden::daemon::PendingRequest;
using pgwarden::daemon::RequestQueue;

namespace {

void put(ByteBuffer& buffer, std::string_view text) {
  auto space = buffer.prepare(text.size());
  std::memcpy(space.data(), text.data(), text.size());
  buffer.commit(text.size());
}

std::string contents(const ByteBuffer& buffer) {
  const auto data = buffer.data();
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

}  // namespace

// Proves a short message is read into the caller's small buffer (no heap),
// and that the buffer holds exactly what was committed.
BOOST_AUTO_TEST_CASE(short_message_stays_in_small_buffer) {
  std::array<std::byte, 16> small{};
  ByteBuffer buffer(small);
  BOOST_TEST(buffer.capacity() == 16u);
  auto space = buffer.prepare(1);
  BOOST_TEST(static_cast<const void*>(space.data()) == static_cast<const void*>(small.data()));
  BOOST_TEST(space.size() == 16u);
  put(buffer, "SELECT 1");
  BOOST_TEST(contents(buffer) == "SELECT 1");
  BOOST_TEST(buffer.capacity() == 16u);
}

// Proves growing past the small buffer keeps unconsumed bytes in order, and
// release() returns to the small buffer only once everything is consumed.
BOOST_AUTO_TEST_CASE(grows_keeps_bytes_and_releases) {
  std::array<std::byte, 8> small{};
  ByteBuffer buffer(small);
  put(buffer, "abcdef");
  buffer.consume(2);
  put(buffer, "ghijklmnop");  // does not fit in 8: moves to the heap
  BOOST_TEST(buffer.capacity() > 8u);
  BOOST_TEST(contents(buffer) == "cdefghijklmnop");
  buffer.release();  // not empty: kept
  BOOST_TEST(contents(buffer) == "cdefghijklmnop");
  buffer.consume(buffer.size());
  buffer.release();
  BOOST_TEST(buffer.capacity() == 8u);
  auto space = buffer.prepare(1);
  BOOST_TEST(static_cast<const void*>(space.data()) == static_cast<const void*>(small.data()));
}

// Proves a buffer without a small one allocates on first use and gives it
// all back on release.
BOOST_AUTO_TEST_CASE(plain_buffer_allocates_on_demand) {
  ByteBuffer buffer;
  BOOST_TEST(buffer.capacity() == 0u);
  put(buffer, "xyz");
  BOOST_TEST(buffer.capacity() >= 3u);
  BOOST_TEST(contents(buffer) == "xyz");
  buffer.consume(3);
  buffer.release();
  BOOST_TEST(buffer.capacity() == 0u);
}

// Proves the queue is FIFO across many pushes and pops (including its
// compaction of a long pipeline), and that clear/release leave it empty.
BOOST_AUTO_TEST_CASE(request_queue_is_fifo) {
  RequestQueue queue;
  BOOST_TEST(queue.empty());
  int next_out = 0;
  int next_in = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 7; ++i, ++next_in) {
      queue.push_back({'Q', Disposition::Forward, std::to_string(next_in), {}});
    }
    for (int i = 0; i < 5; ++i, ++next_out) {
      BOOST_TEST(queue.front().registers == std::to_string(next_out));
      queue.pop_front();
    }
    BOOST_TEST(queue.size() == static_cast<std::size_t>(next_in - next_out));
    BOOST_TEST(queue.back().registers == std::to_string(next_in - 1));
  }
  std::size_t seen = 0;
  for (const auto& request : queue) {
    BOOST_TEST(request.registers == std::to_string(next_out + static_cast<int>(seen)));
    ++seen;
  }
  BOOST_TEST(seen == queue.size());
  while (!queue.empty()) queue.pop_front();
  queue.release();
  BOOST_TEST(queue.size() == 0u);
  BOOST_TEST(queue.capacity() == 0u);  // a long pipeline's storage goes
  for (int i = 0; i < 5; ++i) queue.push_back({'E', Disposition::Forward, {}, {}});
  while (!queue.empty()) queue.pop_front();
  queue.release();
  BOOST_TEST(queue.capacity() >= 5u);  // a few entries' worth stays
  queue.push_back({'S', Disposition::Forward, {}, {}});
  BOOST_TEST(queue.front().request == 'S');
  queue.clear();
  BOOST_TEST(queue.empty());
}

// Proves erase over a filtered range keeps the order of what remains
// (unlink_server drops every non-local entry this way).
BOOST_AUTO_TEST_CASE(request_queue_erase_keeps_order) {
  RequestQueue queue;
  queue.push_back({'Q', Disposition::Forward, "drop", {}});
  queue.pop_front();
  queue.push_back({0, Disposition::Local, {}, "a"});
  queue.push_back({'E', Disposition::Forward, {}, {}});
  queue.push_back({0, Disposition::Local, {}, "b"});
  queue.erase(
      std::remove_if(queue.begin(), queue.end(),
                     [](const PendingRequest& r) { return r.disposition != Disposition::Local; }),
      queue.end());
  BOOST_TEST(queue.size() == 2u);
  BOOST_TEST(queue.front().local == "a");
  queue.pop_front();
  BOOST_TEST(queue.front().local == "b");
}
