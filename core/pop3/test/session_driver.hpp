// Test helper: a deterministic stand-in for the network layer around pop3::server_session. It
// frames client bytes with a line_framer, obeys each action with a fake mailbox, and records
// everything the server would write, with markers for what is not bytes:
//   <delay N>   the reply_delay() waited before the following write (milliseconds)
//   <open user> action::open_mailbox       <tls> action::start_tls (handshake done)
//   <update i j> action::update (marked indexes)   <send failed>   <close>
// Shared by the session tests and the fuzz target fuzz/pop3_session.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailharness/line_framer.hpp"
#include "mailharness/pop3/dot_stuffer.hpp"
#include "mailharness/pop3/server_session.hpp"

namespace mailharness::pop3::test {

struct fake_mailbox {
    struct item {
        std::string uid;
        std::string content;  ///< as stored: LF or CRLF line endings
    };
    std::vector<item> items;
    mailbox_result open_result = mailbox_result::ok;
    std::error_code send_error;    ///< every RETR/TOP fails before sending anything
    std::error_code update_error;  ///< the deletion at QUIT fails
    std::vector<std::size_t> deleted;

    /// Sizes as a Maildir ",S=" gives them: octets with CRLF line endings.
    std::vector<message> listing() const {
        std::vector<message> r;
        for (const auto& it : items) {
            std::uint64_t size = it.content.size();
            for (std::size_t i = 0; i < it.content.size(); ++i) {
                if (it.content[i] == '\n' && (i == 0 || it.content[i - 1] != '\r')) ++size;
            }
            r.push_back({it.uid, size});
        }
        return r;
    }
};

class session_driver {
public:
    session_driver(server_session& s, fake_mailbox& mb, std::size_t file_chunk = 3)
        : s_(s), mb_(mb), file_chunk_(file_chunk == 0 ? 1 : file_chunk) {}

    /// Writes the greeting.
    void start() {
        std::string out;
        s_.greet(out);
        wire_ += out;
    }

    /// Client bytes as they arrive from the socket.
    void feed(std::string_view chunk) {
        while (!chunk.empty() && !closed_) {
            framer_.set_limits(s_.input_limits());
            std::error_code ec;
            chunk.remove_prefix(framer_.put(chunk, ec));
            std::string out;
            if (ec == line_errc::line_too_long) {
                obey(s_.on_line_too_long(framer_.length_seen(), out), out);
            } else if (framer_.has_line()) {
                obey(s_.on_command(framer_.line(), ec, out), out);
            }
        }
    }

    const std::string& wire() const noexcept { return wire_; }

    /// Called with what each session call appended and the action it returned, before it is
    /// obeyed (the fuzz target checks invariants here).
    std::function<void(const std::string& out, action a)> on_output;
    bool closed() const noexcept { return closed_; }

private:
    void obey(action a, std::string& out) {
        for (;;) {
            if (s_.reply_delay().count() > 0) wire_ += "<delay " + std::to_string(s_.reply_delay().count()) + ">";
            if (on_output) on_output(out, a);
            wire_ += out;
            out.clear();
            switch (a) {
                case action::read_command: return;
                case action::open_mailbox:
                    wire_ += "<open " + s_.authenticated_user() + ">";
                    a = s_.on_mailbox_opened(mb_.open_result, mb_.listing(), out);
                    break;
                case action::send_message: {
                    if (mb_.send_error) {
                        wire_ += "<send failed>";
                        a = s_.on_message_sent(mb_.send_error, out);
                        break;
                    }
                    dot_stuffer d(s_.top_lines());
                    std::string_view content = mb_.items.at(s_.message_index()).content;
                    for (std::size_t i = 0; i < content.size(); i += file_chunk_) {
                        if (!d.write(content.substr(i, file_chunk_), wire_)) break;
                    }
                    d.finish(wire_);
                    a = s_.on_message_sent({}, out);
                    break;
                }
                case action::update:
                    mb_.deleted = s_.marked();
                    wire_ += "<update";
                    for (auto i : mb_.deleted) wire_ += " " + std::to_string(i);
                    wire_ += ">";
                    a = s_.on_update_done(mb_.update_error, out);
                    break;
                case action::start_tls:
                    // Whatever the client pipelined after STLS arrives "over TLS" here; the real
                    // network layer throws buffered plaintext away.
                    wire_ += "<tls>";
                    framer_.reset();
                    s_.on_tls_established();
                    return;
                case action::close:
                    wire_ += "<close>";
                    closed_ = true;
                    return;
            }
        }
    }

    server_session& s_;
    fake_mailbox& mb_;
    std::size_t file_chunk_;
    line_framer framer_;
    std::string wire_;
    bool closed_ = false;
};

}  // namespace mailharness::pop3::test
