// One router for every message refmaild accepts: recipients in a local domain go to the Maildir
// store (final delivery: a Return-Path: field is put first, RFC 5321 4.4), the others to one
// entry of the outbound spool. Used by the SMTP session and by the queue runner (bounces to local
// senders), so neither calls into the other through hooks.
//
// No Asio: completion is a callback from the store's or spool's committer thread; an Asio caller
// posts it to its executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "mailharness/refmaild/maildir_store.hpp"
#include "mailharness/refmaild/queue/spool.hpp"

namespace mailharness::refmaild::delivery {

/// One accepted message and where it goes.
struct message {
    /// Envelope sender mailbox; "" for the null reverse-path <>.
    std::string sender;
    /// Canonical recipient mailboxes ("user@domain", domain lower case). `local` says which
    /// are in a local domain.
    std::vector<std::string> recipients;
    std::vector<bool> local;
    /// Maildir++ folder for local recipients ("" = INBOX), e.g. from a processing rule.
    std::string folder;
    /// Lines put before the body (Received:, fields added by rules), each ending in CRLF.
    std::string trace;
    std::shared_ptr<const std::string> body;
    /// For the spool entry: "helo ([ip]) auth=user" (the Received-like origin of a relayed message).
    std::string arrival_from;
};

/// What routing did, for the caller's log.
struct outcome {
    std::error_code ec;                  ///< first failure; cleared when everything is durable
    std::size_t stored = 0;              ///< local deliveries made
    std::optional<queue::envelope> queued;  ///< the spool entry, when remote recipients were queued
};

using completion = std::function<void(outcome)>;

/// "Return-Path: <sender>\r\n" (RFC 5321 4.4; "<>" for the null sender).
std::string return_path_line(const std::string& sender);

/// Drops any Return-Path: fields (with their folded lines) from the header section of `message`:
/// only the final delivery's own may stand. Returns true when it removed one.
bool strip_return_path(std::string& message);

class router {
public:
    /// `spool` may be null (no relaying configured): remote recipients then fail the delivery.
    router(store::maildir_store& store, queue::spool* spool) : store_(store), spool_(spool) {}

    /// Routes `m`; `done` runs exactly once, on a committer thread (or at once on bad input),
    /// after every part is durable or one failed.
    void deliver(message m, completion done);

    /// Delivers a locally generated message (a bounce) into `user@domain`'s INBOX with
    /// Return-Path: <>. `done` runs once on the store's committer thread.
    void deliver_local(const std::string& user, const std::string& domain, std::string content,
                       std::function<void(std::error_code)> done);

private:
    store::maildir_store& store_;
    queue::spool* spool_;
};

}  // namespace mailharness::refmaild::delivery
