// refmaild's SMTP room: the connection coroutine for the smtp, submission and smtps listeners
// (the sans-I/O state machine is core/smtp/server_session), with its relay and message policy.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <memory>

#include "mailharness/net/connection.hpp"
#include "mailharness/net/listener.hpp"

namespace mailharness::refmaild {

struct server_state;

namespace smtp_room {

enum class listener_kind { smtp, submission, smtps };

const char* name(listener_kind k) noexcept;

/// Runs one SMTP session on an admitted connection (TLS already up for smtps) until it ends.
boost::asio::awaitable<void> run_session(server_state& srv, std::shared_ptr<net::connection> conn, listener_kind kind);

}  // namespace smtp_room
}  // namespace mailharness::refmaild
