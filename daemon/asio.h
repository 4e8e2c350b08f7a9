// Asio vocabulary shared by the daemon: one include, one set of aliases.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

namespace pgwarden::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
template <typename T = void>
using awaitable = asio::awaitable<T>;

//! Completion token for operations whose failure is expected (EOF, reset,
//! timeout): the error arrives as a value, not an exception.
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

using Clock = std::chrono::steady_clock;

}  // namespace pgwarden::daemon
