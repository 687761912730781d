// Fuzz target: a whole IMAP client byte stream through core/imap's command_parser into refmaild's
// sans-I/O IMAP session (reference-server/imap/session_core) on a real Maildir in a temporary
// directory, as the connection coroutine drives them (continuations, APPEND streaming, raw
// lines for SASL and IDLE). The login is fixed (user "u", password "p", plaintext allowed); the
// INBOX starts with two messages. Byte 0: the socket chunk size (0 = whole). Checks that every
// response is whole CRLF lines or literals, and that nothing crashes, hangs or leaks.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "mailharness/imap/command.hpp"
#include "mailharness/sasl/credentials.hpp"
#include "session_core.hpp"

namespace fs = std::filesystem;
namespace imap = mailharness::imap;
namespace sasl = mailharness::sasl;
namespace room = mailharness::refmaild::imap_room;

namespace {

class fixed_lookup final : public sasl::credential_lookup {
public:
    result plaintext_secret(std::string_view user, std::string& secret) override {
        if (user != "u") return result::no_user;
        secret = "p";
        return result::ok;
    }
};

class fixed_hooks final : public room::core_hooks {
public:
    explicit fixed_hooks(fs::path maildir) : maildir_(std::move(maildir)) {}
    sasl::credential_lookup* credentials() override { return &lookup_; }
    std::chrono::milliseconds auth_failed() override { return std::chrono::milliseconds(10); }
    std::optional<login_grant> login(const std::string& identity, std::string& reason) override {
        if (identity != "u") {
            reason = "unknown_user";
            return std::nullopt;
        }
        return login_grant{"u", maildir_};
    }
    void log(const std::string&) override {}

private:
    fixed_lookup lookup_;
    fs::path maildir_;
};

// Every response is CRLF lines, literals "{n}\r\n" followed by n octets included.
void check_out(const std::string& out) {
    std::size_t i = 0;
    while (i < out.size()) {
        const std::size_t crlf = out.find("\r\n", i);
        if (crlf == std::string::npos) __builtin_trap();
        std::string_view line(out.data() + i, crlf - i);
        if (line.find('\n') != std::string_view::npos || line.find('\0') != std::string_view::npos) __builtin_trap();
        i = crlf + 2;
        if (!line.empty() && line.back() == '}') {
            const auto open = line.rfind('{');
            if (open == std::string_view::npos) __builtin_trap();
            std::size_t n = 0;
            for (char c : line.substr(open + 1, line.size() - open - 2)) {
                if (c < '0' || c > '9') __builtin_trap();
                n = n * 10 + static_cast<std::size_t>(c - '0');
            }
            if (i + n > out.size()) __builtin_trap();
            i += n;
        }
    }
}

fs::path fresh_maildir() {
    static const fs::path base = fs::temp_directory_path() / ("fuzz-imap-" + std::to_string(::getpid()));
    fs::remove_all(base);
    fs::create_directories(base / "Maildir" / "new");
    std::ofstream(base / "Maildir" / "new" / "1700000000.M1P1.fuzz", std::ios::binary)
        << "From: a@b.test\r\nSubject: one\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
           "Content-Type: text/plain\r\n\r\nhello\r\n--x--\r\n";
    std::ofstream(base / "Maildir" / "new" / "1700000001.M1P1.fuzz", std::ios::binary) << "Subject: two\n\nbody\n";
    return base / "Maildir";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t chunk = data[0] ? data[0] : size;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

    fixed_hooks hooks(fresh_maildir());
    room::core_settings cs;
    cs.allow_plaintext_auth = true;
    cs.tls_available = true;
    cs.max_message_size = 1 << 16;
    cs.sasl_options.hostname = "imap.test";
    cs.sasl_options.scram_iterations = 2;
    cs.sasl_options.salt_key = "fuzz";
    cs.sasl_options.nonce = [] { return std::string("12345"); };
    cs.sasl_options.clock = [] { return std::int64_t{1000}; };
    room::session_core core(cs, hooks);
    imap::command_limits limits;
    limits.max_line_length = 4096;
    limits.max_literal_size = 4096;
    limits.max_append_size = 1 << 16;
    imap::command_parser parser(limits);

    std::string out;
    core.greet(out);
    bool open = true;
    for (std::size_t pos = 0; open && pos < input.size();) {
        std::string_view piece = input.substr(pos, chunk);
        pos += piece.size();
        while (open && !piece.empty()) {
            const auto [used, ev] = parser.put(piece);
            piece.remove_prefix(used);
            room::core_action a = room::core_action::read_command;
            switch (ev) {
                case imap::event::need_more: break;
                case imap::event::continuation: out += "+ OK\r\n"; break;
                case imap::event::append_begin: {
                    const bool ok = core.on_append_begin(parser.get(), out);
                    if (!ok && !parser.append().non_sync) parser.reset();
                    if (ok && !parser.append().non_sync) out += "+ OK\r\n";
                    break;
                }
                case imap::event::literal_data: core.on_append_data(parser.literal_data()); break;
                case imap::event::command: a = core.on_command(parser.get(), out); break;
                case imap::event::line: a = core.on_line(parser.line(), out); break;
                case imap::event::error: a = core.on_parse_error(parser.tag(), parser.error(), out); break;
            }
            switch (a) {
                case room::core_action::read_command: break;
                case room::core_action::read_line:
                case room::core_action::idle: parser.expect_line(); core.idle_poll(out); break;
                case room::core_action::start_tls: parser.reset(); core.on_tls_established(); break;
                case room::core_action::close: open = false; break;
            }
            if (used == 0 && ev == imap::event::need_more) break;
        }
    }
    check_out(out);
    return 0;
}
