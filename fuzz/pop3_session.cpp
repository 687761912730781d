// Fuzz target: a whole POP3 client byte stream through the line framer into
// pop3::server_session, with a fake credential lookup and a fake mailbox standing in for the
// network layer (core/pop3/test/session_driver.hpp), all deterministic.
// Byte 0: session flags (plaintext allowed, TLS available, TLS active, APOP, USER/PASS off,
// keep open on long lines, mailbox in use / temp failure). Byte 1: socket chunk size (low
// nibble, 0 = whole), message file chunk size (bits 4-5), send and update failures (bits 6-7).
// The rest is what the client sends.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../core/pop3/test/session_driver.hpp"
#include "mailharness/pop3/server_session.hpp"
#include "mailharness/sasl/credentials.hpp"

namespace pop3 = mailharness::pop3;
namespace sasl = mailharness::sasl;

namespace {

class fixed_lookup final : public sasl::credential_lookup {
public:
    result plaintext_secret(std::string_view user, std::string& secret) override {
        if (user == "alice") secret = "secret";
        else if (user == "mrose") secret = "tanstaaf";
        else return result::no_user;
        return result::ok;
    }
};

class fixed_hooks final : public pop3::server_hooks {
public:
    sasl::credential_lookup* credentials() override { return &lookup_; }
    std::chrono::milliseconds auth_failed(std::string_view) override { return std::chrono::milliseconds(100); }

private:
    fixed_lookup lookup_;
};

// Every reply is whole CRLF lines without NUL, bare CR or bare LF, and status lines fit RFC 1939's
// 512 octets.
void check_out(const std::string& out) {
    std::size_t start = 0;
    while (start < out.size()) {
        std::size_t crlf = out.find("\r\n", start);
        if (crlf == std::string::npos) __builtin_trap();
        std::string_view line(out.data() + start, crlf - start);
        if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) __builtin_trap();
        if ((line.starts_with("+OK") || line.starts_with("-ERR")) && line.size() > 510) __builtin_trap();
        start = crlf + 2;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t flags = data[0], feed = data[1];
    std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

    pop3::server_session_settings st;
    st.allow_plaintext_auth = flags & 1;
    st.tls_available = flags & 2;
    st.tls_active = flags & 4;
    st.apop = flags & 8;
    st.apop_timestamp = "<1896.697170952@dbc.mtview.ca.us>";
    st.user_pass = !(flags & 16);
    st.close_on_line_too_long = !(flags & 32);
    st.max_commands = 200;
    st.sasl_options.hostname = "pop.test";
    st.sasl_options.scram_iterations = 2;
    st.sasl_options.salt_key = "fuzz salt key";
    st.sasl_options.nonce = [] { return std::string("12345"); };
    st.sasl_options.clock = [] { return std::int64_t{1000}; };

    pop3::test::fake_mailbox mb;
    mb.items = {{"uid-1", "Subject: one\n\nHello\n.dot\n"},
                {"uid-2", "Subject: two\r\n\r\nl1\r\n.\r\nl3\r"},
                {"uid-3", ""}};
    mb.open_result = (flags & 64) ? pop3::mailbox_result::in_use
                   : (flags & 128) ? pop3::mailbox_result::temp_failure
                                   : pop3::mailbox_result::ok;
    if (feed & 64) mb.send_error = std::make_error_code(std::errc::io_error);
    if (feed & 128) mb.update_error = std::make_error_code(std::errc::io_error);

    fixed_hooks hooks;
    pop3::server_session s(st, hooks, "192.0.2.1");
    pop3::test::session_driver d(s, mb, std::size_t{1} + ((feed >> 4) & 3) * 5);
    d.on_output = [&](const std::string& out, pop3::action a) {
        check_out(out);
        if (s.reply_delay().count() != 0 && out.find("Authentication failed.") == std::string::npos) __builtin_trap();
        const auto& user = s.authenticated_user();
        if (!user.empty() && user != "alice" && user != "mrose") __builtin_trap();
        switch (a) {
            case pop3::action::open_mailbox:
                if (user.empty() || !out.empty()) __builtin_trap();
                break;
            case pop3::action::send_message:
                if (!out.starts_with("+OK ") || !out.ends_with(" octets\r\n")) __builtin_trap();
                if (s.message_index() >= s.messages().size()) __builtin_trap();
                break;
            case pop3::action::start_tls:
                if (out != "+OK Begin TLS negotiation now.\r\n" || s.tls_active()) __builtin_trap();
                break;
            case pop3::action::update:
                if (s.state() != pop3::session_state::update) __builtin_trap();
                for (auto i : s.marked()) {
                    if (i >= s.messages().size()) __builtin_trap();
                }
                break;
            case pop3::action::read_command:
                if (s.state() == pop3::session_state::update) __builtin_trap();
                break;
            case pop3::action::close: break;
        }
        if (s.state() == pop3::session_state::transaction && user.empty()) __builtin_trap();
    };
    d.start();
    const std::size_t chunk = feed & 15;
    if (chunk == 0) {
        d.feed(input);
    } else {
        for (std::size_t i = 0; i < input.size(); i += chunk) d.feed(input.substr(i, chunk));
    }
    return 0;
}
