// refmaild's POP3 room: the connection coroutine for the pop3 and pop3s listeners. The state
// machine is core/pop3/server_session; the maildrop is the user's Maildir INBOX seen through
// store::maildir_folder (UIDs shared with Dovecot's dovecot-uidlist, so the UIDL values are the
// ones Dovecot's default pop3_uidl_format gives for the same Maildir).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>

#include "mailharness/net/connection.hpp"
#include "mailharness/refmaild/settings.hpp"

namespace mailharness::refmaild {

struct server_state;

namespace pop3_room {

/// Runs one POP3 session on an admitted connection (TLS already up for pop3s) until it ends.
/// `listener` names the listener in logs; `l` is its settings (banner, login methods).
boost::asio::awaitable<void> run_session(server_state& srv, std::shared_ptr<net::connection> conn, std::string listener,
                                         const config::listener_settings& l);

/// The UIDL value of a message: Dovecot's default pop3_uidl_format "%08Xu%08Xv" (UID and
/// UIDVALIDITY as 8 hex digits each; Dovecot writes them in lower case), stable across sessions
/// and restarts, and the same value Dovecot gives on the same Maildir.
std::string uidl(std::uint32_t uid, std::uint32_t uid_validity);

}  // namespace pop3_room
}  // namespace mailharness::refmaild
