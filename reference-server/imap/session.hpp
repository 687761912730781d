// refmaild's IMAP room: the connection coroutine for the imap and imaps listeners. The protocol
// is imap_room::session_core (sans-I/O, session_core.hpp) on the shared Maildir folders of
// mail_folder.hpp; this file moves bytes, applies deadlines, upgrades to TLS, streams APPEND
// literals to disk and waits in IDLE.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

#include "mailharness/net/connection.hpp"
#include "mailharness/refmaild/settings.hpp"

namespace mailharness::refmaild {

struct server_state;

namespace imap_room {

/// Runs one IMAP session on an admitted connection (TLS already up for imaps) until it ends.
boost::asio::awaitable<void> run_session(server_state& srv, std::shared_ptr<net::connection> conn, std::string listener,
                                         const config::listener_settings& l);

}  // namespace imap_room
}  // namespace mailharness::refmaild
