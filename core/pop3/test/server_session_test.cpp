// Whole conversations with pop3::server_session: each case is the client's byte stream and
// everything the server writes (see session_driver.hpp for the markers), run whole and split at
// every byte through the line framer.
#include "mailharness/pop3/server_session.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/client.hpp"
#include "printable.hpp"
#include "session_driver.hpp"
#include "split_feed.hpp"

using namespace mailharness;
using namespace mailharness::pop3;
using mailharness::pop3::test::fake_mailbox;
using mailharness::pop3::test::session_driver;

namespace {

std::string show(std::string_view s) { return mailharness::pop3::test::printable(s, 100000); }

struct fake_creds : sasl::credential_lookup {
    result plaintext_secret(std::string_view user, std::string& secret) override {
        if (user == "alice") secret = "secret";
        else if (user == "mrose") secret = "tanstaaf";
        else if (user == "bob") secret = "two words";
        else return result::no_user;
        return result::ok;
    }
};

struct fake_hooks : server_hooks {
    fake_creds creds;
    bool no_credentials = false;
    int failures = 0;
    sasl::credential_lookup* credentials() override { return no_credentials ? nullptr : &creds; }
    std::chrono::milliseconds auth_failed(std::string_view peer) override {
        EXPECT_EQ(peer, "192.0.2.7");
        return std::chrono::milliseconds(100 << failures++);
    }
};

using tweak = std::function<void(server_session_settings&, fake_mailbox&, fake_hooks&)>;

server_session_settings base_settings() {
    server_session_settings s;
    s.sasl_options.hostname = "pop.test";
    s.sasl_options.nonce = [] { return std::string("12345"); };
    s.sasl_options.clock = [] { return std::int64_t{1000}; };
    s.sasl_options.salt_key = "test salt key";
    s.sasl_options.scram_iterations = 64;
    return s;
}

fake_mailbox base_mailbox() {
    fake_mailbox mb;
    mb.items = {{"uid-1", "Subject: one\n\nHello\n.dot line\n"},             // 34 octets with CRLF
                {"uid-2", "Subject: two\r\n\r\nBody 1\r\nBody 2\r\n"}};  // 32 octets
    return mb;
}

// Runs one conversation with a fresh session, feeding `chunks` in order.
std::string run(const tweak& t, const std::vector<std::string_view>& chunks, std::size_t file_chunk = 3) {
    auto settings = base_settings();
    auto mb = base_mailbox();
    fake_hooks hooks;
    if (t) t(settings, mb, hooks);
    server_session s(std::move(settings), hooks, "192.0.2.7");
    session_driver d(s, mb, file_chunk);
    d.start();
    for (auto c : chunks) d.feed(c);
    return d.wire();
}

struct conversation {
    const char* name;
    tweak setup;
    std::string input;
    std::string expected;
};

// Runs the conversation whole, split at every byte, byte by byte, and with the message file read
// in chunks of other sizes.
void check(const conversation& c) {
    mailharness::test::for_each_split(c.input, [&](const std::vector<std::string_view>& chunks) {
        ASSERT_EQ(show(run(c.setup, chunks)), show(c.expected)) << c.name << " in " << chunks.size() << " chunks";
    });
    for (std::size_t file_chunk : {1, 7, 1000}) {
        EXPECT_EQ(show(run(c.setup, {c.input}, file_chunk)), show(c.expected)) << c.name << " file chunk " << file_chunk;
    }
}

const std::string greeting = "+OK Ready.\r\n";
const std::string caps = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n";
const std::string plaintext_refused =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";
const std::string auth_failed = "-ERR [AUTH] Authentication failed.\r\n";
const std::string login = "USER alice\r\nPASS secret\r\n";
const std::string logged_in = "+OK\r\n<open alice>+OK Logged in.\r\n";

const tweak plaintext = [](server_session_settings& s, fake_mailbox&, fake_hooks&) { s.allow_plaintext_auth = true; };
const tweak tls = [](server_session_settings& s, fake_mailbox&, fake_hooks&) { s.tls_available = true; };
const tweak on_tls = [](server_session_settings& s, fake_mailbox&, fake_hooks&) { s.tls_active = true; };

void run_table(const std::vector<conversation>& table) {
    for (const auto& c : table) check(c);
}

TEST(pop3_server_session, capabilities) {
    run_table({
        {"before TLS: STLS, no password methods", tls, "CAPA\r\nQUIT\r\n",
         greeting + caps + "STLS\r\nSASL SCRAM-SHA-256 CRAM-MD5\r\n.\r\n+OK Logging out\r\n<close>"},
        {"plaintext allowed: USER and PLAIN LOGIN", plaintext, "CAPA\r\n",
         greeting + caps + "USER\r\nSASL SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN\r\n.\r\n"},
        {"implicit TLS: no STLS", on_tls, "capa\r\n",
         greeting + caps + "USER\r\nSASL SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN\r\n.\r\n"},
        {"configured methods only, implementation text",
         [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.tls_active = true;
             s.user_pass = false;
             s.sasl_mechanisms = {"plain", "NO-SUCH-MECH"};
             s.implementation = "mail service";
         },
         "CAPA\r\n", greeting + caps + "SASL PLAIN\r\nIMPLEMENTATION mail service\r\n.\r\n"},
        {"no credentials: no login method", [](server_session_settings& s, fake_mailbox&, fake_hooks& h) {
             s.tls_active = true;
             h.no_credentials = true;
         },
         "CAPA\r\nUSER alice\r\n", greeting + caps + ".\r\n-ERR [AUTH] USER/PASS authentication is not enabled.\r\n"},
        {"after login: no STLS, USER or SASL", [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.allow_plaintext_auth = true;
             s.tls_available = true;
         },
         login + "CAPA\r\n", greeting + logged_in + caps + ".\r\n"},
        {"AUTH alone lists the mechanisms allowed now", tls, "AUTH\r\n",
         greeting + "+OK\r\nSCRAM-SHA-256\r\nCRAM-MD5\r\n.\r\n"},
    });
}

TEST(pop3_server_session, user_pass_and_listing) {
    run_table({
        {"whole session", plaintext, login + "STAT\r\nLIST\r\nUIDL\r\nLIST 2\r\nUIDL 1\r\nNOOP\r\nQUIT\r\n",
         greeting + logged_in +
             "+OK 2 66\r\n+OK 2 messages:\r\n1 34\r\n2 32\r\n.\r\n+OK\r\n1 uid-1\r\n2 uid-2\r\n.\r\n"
             "+OK 2 32\r\n+OK 1 uid-1\r\n+OK\r\n<update>+OK Logging out.\r\n<close>"},
        {"bare LF lines accepted", plaintext, "USER alice\nPASS secret\nSTAT\n",
         greeting + logged_in + "+OK 2 66\r\n"},
        {"password with spaces", plaintext, "USER bob\r\nPASS two words\r\n",
         greeting + "+OK\r\n<open bob>+OK Logged in.\r\n"},
        {"PASS without USER", plaintext, "PASS secret\r\n", greeting + "-ERR No username given.\r\n"},
        {"PASS needs a new USER after a failure", plaintext, "USER alice\r\nPASS bad\r\nPASS secret\r\n",
         greeting + "+OK\r\n<delay 100>" + auth_failed + "-ERR No username given.\r\n"},
        {"empty maildrop", [](server_session_settings& s, fake_mailbox& mb, fake_hooks&) {
             s.allow_plaintext_auth = true;
             mb.items.clear();
         },
         login + "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\n",
         greeting + logged_in + "+OK 0 0\r\n+OK 0 messages:\r\n.\r\n+OK\r\n.\r\n-ERR There's no message 1.\r\n"},
    });
}

TEST(pop3_server_session, failed_logins_are_alike_delayed_and_limited) {
    run_table({
        {"unknown user and wrong password give one reply; delay before it", plaintext,
         "USER nobody\r\nPASS x\r\nUSER alice\r\nPASS wrong\r\n" + login,
         greeting + "+OK\r\n<delay 100>" + auth_failed + "+OK\r\n<delay 200>" + auth_failed + logged_in},
        {"third failure closes; pipelined commands stay unread", plaintext,
         "USER a\r\nPASS b\r\nAPOP a 0123456789abcdef0123456789abcdef\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n"
         "USER alice\r\nPASS bad\r\nNOOP\r\n",
         greeting + "+OK\r\n<delay 100>" + auth_failed + "-ERR [AUTH] APOP not enabled.\r\n<delay 200>" +
             auth_failed + "+OK\r\n<delay 400>" + auth_failed + "-ERR Too many authentication failures.\r\n<close>"},
        {"no limit", [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.tls_active = true;
             s.max_auth_failures = 0;
         },
         "USER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nUSER a\r\nPASS b\r\n",
         greeting + "+OK\r\n<delay 100>" + auth_failed + "+OK\r\n<delay 200>" + auth_failed + "+OK\r\n<delay 400>" +
             auth_failed + "+OK\r\n<delay 800>" + auth_failed},
    });
}

TEST(pop3_server_session, plaintext_policy) {
    run_table({
        // As Dovecot: a policy refusal is not a bad command, so it never closes the session.
        {"password methods refused before TLS, not counted as bad commands", {},
         "USER alice\r\nPASS secret\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" + login + "XYZZY\r\n",
         greeting + plaintext_refused + plaintext_refused + plaintext_refused + plaintext_refused + plaintext_refused +
             "-ERR Unknown command.\r\n"},
        {"AUTH LOGIN refused, a good command resets the count", {},
         "AUTH LOGIN\r\nAUTH XOAUTH9\r\nCAPA\r\nAUTH PLAIN\r\nQUIT\r\n",
         greeting + plaintext_refused + "-ERR [AUTH] Unsupported authentication mechanism.\r\n" + caps +
             "SASL SCRAM-SHA-256 CRAM-MD5\r\n.\r\n" + plaintext_refused + "+OK Logging out\r\n<close>"},
        {"USER/PASS disabled by policy", [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.tls_active = true;
             s.user_pass = false;
         },
         "USER alice\r\n", greeting + "-ERR [AUTH] USER/PASS authentication is not enabled.\r\n"},
        {"mechanism not configured", [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.tls_active = true;
             s.sasl_mechanisms = {"SCRAM-SHA-256"};
         },
         "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", greeting + "-ERR [AUTH] Unsupported authentication mechanism.\r\n"},
    });
}

TEST(pop3_server_session, stls) {
    run_table({
        {"upgrade, then password methods", tls, "STLS\r\nCAPA\r\n" + login + "STLS\r\nQUIT\r\n",
         greeting + "+OK Begin TLS negotiation now.\r\n<tls>" + caps +
             "USER\r\nSASL SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN\r\n.\r\n" + logged_in +
             "-ERR Unknown command.\r\n<update>+OK Logging out.\r\n<close>"},
        {"USER given before STLS is forgotten",
         [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.tls_available = true;
             s.allow_plaintext_auth = true;
         },
         "USER alice\r\nSTLS\r\nPASS secret\r\n",
         greeting + "+OK\r\n+OK Begin TLS negotiation now.\r\n<tls>-ERR No username given.\r\n"},
        {"twice", tls, "STLS\r\nSTLS\r\n",
         greeting + "+OK Begin TLS negotiation now.\r\n<tls>-ERR TLS is already active.\r\n"},
        {"not available", {}, "STLS\r\n", greeting + "-ERR TLS support isn't enabled.\r\n"},
    });
}

TEST(pop3_server_session, apop) {
    const tweak apop = [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
        s.apop = true;
        s.apop_timestamp = "<1896.697170952@dbc.mtview.ca.us>";
    };
    const std::string apop_greeting = "+OK Ready. <1896.697170952@dbc.mtview.ca.us>\r\n";
    run_table({
        {"RFC 1939 example digest", apop, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\r\n",
         apop_greeting + "<open mrose>+OK Logged in.\r\n+OK 2 66\r\n"},
        {"wrong digest and unknown user alike", apop,
         "APOP mrose c4c9334bac560ecc979e58001b3e22fc\r\nAPOP nobody c4c9334bac560ecc979e58001b3e22fb\r\n",
         apop_greeting + "<delay 100>" + auth_failed + "<delay 200>" + auth_failed},
        {"not offered: no timestamp", {}, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
         greeting + "-ERR [AUTH] APOP not enabled.\r\n"},
        {"bad digest syntax", apop, "APOP mrose xyz\r\n", apop_greeting + "-ERR Invalid arguments.\r\n"},
    });
}

TEST(pop3_server_session, auth_plain_login) {
    run_table({
        {"PLAIN with initial response", on_tls, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
         greeting + "<open alice>+OK Logged in.\r\n"},
        {"PLAIN after an empty challenge", on_tls, "AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n",
         greeting + "+ \r\n<open alice>+OK Logged in.\r\n"},
        {"empty initial response '='", on_tls, "AUTH PLAIN =\r\n", greeting + "<delay 100>" + auth_failed},
        {"LOGIN", on_tls, "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n",
         greeting + "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n<open alice>+OK Logged in.\r\n"},
        {"cancel with '*'", on_tls, "AUTH LOGIN\r\n*\r\nAUTH LOGIN YWxpY2U=\r\n*\r\n",
         greeting + "+ VXNlcm5hbWU6\r\n-ERR Authentication aborted by client.\r\n+ UGFzc3dvcmQ6\r\n"
                    "-ERR Authentication aborted by client.\r\n"},
        {"bad base64 in a response", on_tls, "AUTH PLAIN\r\n!!!!\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA\r\n",
         greeting + "+ \r\n-ERR Invalid base64 data in response.\r\n-ERR Invalid arguments.\r\n"},
        {"a SASL response may exceed the command line limit", on_tls,
         "AUTH PLAIN\r\n" + sasl::base64_encode(std::string("\0alice\0", 7) + std::string(250, 'x')) + "\r\n",
         greeting + "+ \r\n<delay 100>" + auth_failed},
    });
}

TEST(pop3_server_session, transaction) {
    const std::string retr1 = "+OK 34 octets\r\nSubject: one\r\n\r\nHello\r\n..dot line\r\n.\r\n";
    run_table({
        {"retrieve, mark, reset, update", plaintext,
         login + "RETR 1\r\nTOP 2 1\r\nDELE 1\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nLIST 1\r\nDELE 1\r\nRSET\r\n"
                 "STAT\r\nDELE 2\r\nRETR 3\r\nQUIT\r\n",
         greeting + logged_in + retr1 + "+OK 32 octets\r\nSubject: two\r\n\r\nBody 1\r\n.\r\n" +
             "+OK Marked to be deleted.\r\n+OK 1 32\r\n+OK 1 messages:\r\n2 32\r\n.\r\n+OK\r\n2 uid-2\r\n.\r\n"
             "-ERR Message is deleted.\r\n-ERR Message is deleted.\r\n-ERR Message is deleted.\r\n+OK\r\n"
             "+OK 2 66\r\n+OK Marked to be deleted.\r\n-ERR There's no message 3.\r\n"
             "<update 1>+OK Logging out, messages deleted.\r\n<close>"},
        {"TOP 0 and TOP beyond the body", plaintext, login + "TOP 1 0\r\nTOP 1 99\r\n",
         greeting + logged_in + "+OK 34 octets\r\nSubject: one\r\n\r\n.\r\n" + retr1},
        {"other states' commands and syntax errors", plaintext,
         login + "USER alice\r\nSTLS\r\nAUTH PLAIN\r\nRETR\r\nRETR x\r\nLIST 1 2\r\nTOP 1\r\nFOO\r\nNOOP\r\n",
         greeting + logged_in +
             "-ERR Unknown command.\r\n-ERR Unknown command.\r\n-ERR Unknown command.\r\n-ERR Missing argument.\r\n"
             "-ERR Invalid message number.\r\n-ERR Too many arguments.\r\n-ERR Missing argument.\r\n"
             "-ERR Unknown command.\r\n+OK\r\n"},
        {"bad commands in a row close (limit after login)",
         [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.allow_plaintext_auth = true;
             s.max_bad_commands_transaction = 2;
         },
         login + "LIST 0\r\nNOOP\r\nLIST 0\r\nRETR 9\r\nQUIT\r\n",
         greeting + logged_in +
             "-ERR Invalid message number.\r\n+OK\r\n-ERR Invalid message number.\r\n-ERR There's no message 9.\r\n"
             "-ERR Too many bad commands.\r\n<close>"},
        {"deletion fails at QUIT", [](server_session_settings& s, fake_mailbox& mb, fake_hooks&) {
             s.allow_plaintext_auth = true;
             mb.update_error = std::make_error_code(std::errc::io_error);
         },
         login + "DELE 2\r\nQUIT\r\n",
         greeting + logged_in + "+OK Marked to be deleted.\r\n<update 1>-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n<close>"},
        {"message cannot be sent: close", [](server_session_settings& s, fake_mailbox& mb, fake_hooks&) {
             s.allow_plaintext_auth = true;
             mb.send_error = std::make_error_code(std::errc::no_such_file_or_directory);
         },
         login + "RETR 1\r\nNOOP\r\n", greeting + logged_in + "+OK 34 octets\r\n<send failed><close>"},
    });
}

TEST(pop3_server_session, mailbox_open_results) {
    run_table({
        {"in use", [](server_session_settings& s, fake_mailbox& mb, fake_hooks&) {
             s.allow_plaintext_auth = true;
             mb.open_result = mailbox_result::in_use;
         },
         login + "STAT\r\n",
         greeting + "+OK\r\n<open alice>-ERR [IN-USE] Mailbox is locked by another session.\r\n<close>"},
        {"temporary failure", [](server_session_settings& s, fake_mailbox& mb, fake_hooks&) {
             s.allow_plaintext_auth = true;
             mb.open_result = mailbox_result::temp_failure;
         },
         login, greeting + "+OK\r\n<open alice>-ERR [SYS/TEMP] Mailbox could not be opened, try again later.\r\n<close>"},
        {"a uid that would break UIDL", [](server_session_settings& s, fake_mailbox& mb, fake_hooks&) {
             s.allow_plaintext_auth = true;
             mb.items[1].uid = "uid 2\r\n.";
         },
         login, greeting + "+OK\r\n<open alice>-ERR [SYS/TEMP] Mailbox could not be opened, try again later.\r\n<close>"},
    });
}

TEST(pop3_server_session, limits) {
    const std::string long_line = "USER " + std::string(300, 'a') + "\r\n";
    run_table({
        {"line too long closes", {}, long_line + "QUIT\r\n", greeting + "-ERR Line too long.\r\n<close>"},
        {"line too long as a bad command", [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.close_on_line_too_long = false;
         },
         long_line + "QUIT\r\n", greeting + "-ERR Line too long.\r\n+OK Logging out\r\n<close>"},
        {"unknown and wrong-state commands before login", {}, "STAT\r\nCAPA\r\nRETR 1\r\nFOO\r\nNOOP\r\nQUIT\r\n",
         greeting + "-ERR Unknown command.\r\n" + caps + "SASL SCRAM-SHA-256 CRAM-MD5\r\n.\r\n" +
             "-ERR Unknown command.\r\n-ERR Unknown command.\r\n-ERR Unknown command.\r\n"
             "-ERR Too many bad commands.\r\n<close>"},
        {"empty line and control characters", {}, "\r\nUSER a\x01\r\n", greeting + "-ERR Unknown command.\r\n-ERR Unknown command.\r\n"},
        {"commands per session", [](server_session_settings& s, fake_mailbox&, fake_hooks&) {
             s.allow_plaintext_auth = true;
             s.max_commands = 3;
         },
         login + "NOOP\r\nNOOP\r\n", greeting + logged_in + "+OK\r\n-ERR Too many commands.\r\n<close>"},
    });
}

// CRAM-MD5 and SCRAM need the server's challenge to answer: the conversation is first played
// line by line with a real client, then replayed whole and split.
conversation interactive(const char* name, const tweak& setup, std::string_view mech, bool initial) {
    auto settings = base_settings();
    auto mb = base_mailbox();
    fake_hooks hooks;
    if (setup) setup(settings, mb, hooks);
    server_session s(std::move(settings), hooks, "192.0.2.7");
    session_driver d(s, mb);
    d.start();
    auto client = sasl::make_client(mech, {.authcid = "alice", .password = "secret"},
                                    {.limits = {.min_iterations = 1}, .nonce = [] { return std::string("clientnonce"); }});
    std::string input = "AUTH " + std::string(mech);
    if (initial) input += " " + sasl::encode_initial_response(client->initial_response());
    input += "\r\n";
    d.feed(input);
    // Answers while the server's last line is a "+ " challenge.
    while (!d.closed()) {
        std::string_view wire = d.wire();
        if (!wire.ends_with("\r\n")) break;
        std::size_t start = wire.rfind('\n', wire.size() - 3);
        std::string_view last = wire.substr(start + 1, wire.size() - start - 3);
        if (!last.starts_with("+ ")) break;
        std::string challenge;
        EXPECT_FALSE(sasl::base64_decode(last.substr(2), challenge));
        auto r = client->step(challenge);
        std::string line = r.status == sasl::client_status::response ? sasl::base64_encode(r.response) : "*";
        input += line + "\r\n";
        d.feed(line + "\r\n");
    }
    return {name, setup, input, d.wire()};
}

TEST(pop3_server_session, auth_cram_md5_and_scram) {
    auto cram = interactive("CRAM-MD5", {}, "CRAM-MD5", false);
    EXPECT_EQ(show(cram.expected), show(greeting + "+ " + sasl::base64_encode("<12345.1000@pop.test>") +
                                        "\r\n<open alice>+OK Logged in.\r\n"));
    check(cram);

    for (bool initial : {true, false}) {
        auto scram = interactive("SCRAM-SHA-256", {}, "SCRAM-SHA-256", initial);
        // server-first, then server-final as a challenge acknowledged by an empty line.
        EXPECT_NE(scram.expected.find("<open alice>+OK Logged in.\r\n"), std::string::npos) << show(scram.expected);
        EXPECT_TRUE(scram.input.ends_with("\r\n\r\n")) << show(scram.input);
        check(scram);
        // Anything but an empty line after the server-final fails.
        std::string bad = scram.input.substr(0, scram.input.size() - 2) + "eA==\r\n";
        EXPECT_NE(run({}, {bad}).find(auth_failed), std::string::npos);
    }
}

// The session refuses calls the network layer does not owe it.
TEST(pop3_server_session, out_of_order_calls_close) {
    fake_hooks hooks;
    server_session s(base_settings(), hooks, "192.0.2.7");
    std::string out;
    EXPECT_EQ(s.on_mailbox_opened(mailbox_result::ok, {}, out), action::close);
    EXPECT_EQ(s.on_message_sent({}, out), action::close);
    EXPECT_EQ(s.on_update_done({}, out), action::close);
    EXPECT_EQ(s.state(), session_state::authorization);

    server_session t(base_settings(), hooks, "192.0.2.7");
    EXPECT_EQ(t.on_command("AUTH SCRAM-SHA-256", {}, out), action::read_command);
    EXPECT_EQ(t.input_limits().max_line_length, 8192u);
    out.clear();
    EXPECT_EQ(t.on_command("CAPA!", {}, out), action::read_command);  // not base64
    EXPECT_EQ(out, "-ERR Invalid base64 data in response.\r\n");
    EXPECT_EQ(t.input_limits().max_line_length, 253u);
}

TEST(pop3_server_session, accessors_through_a_session) {
    fake_hooks hooks;
    auto settings = base_settings();
    settings.allow_plaintext_auth = true;
    server_session s(std::move(settings), hooks, "192.0.2.7");
    std::string out;
    s.on_command("USER alice", {}, out);
    EXPECT_EQ(s.on_command("PASS secret", {}, out), action::open_mailbox);
    EXPECT_EQ(s.authenticated_user(), "alice");
    EXPECT_EQ(s.state(), session_state::authorization);
    EXPECT_EQ(s.on_command("STAT", {}, out), action::close);  // open_mailbox not answered yet
    server_session t(base_settings(), hooks, "192.0.2.7");
    EXPECT_FALSE(t.tls_active());
    t.on_command("USER alice", {}, out);  // refused before TLS: not a bad command
    EXPECT_EQ(t.bad_commands(), 0u);
    t.on_command("XYZZY", {}, out);
    EXPECT_EQ(t.bad_commands(), 1u);
}

TEST(pop3_server_session, send_and_update_accessors) {
    fake_hooks hooks;
    auto settings = base_settings();
    settings.tls_active = true;
    server_session s(std::move(settings), hooks, "192.0.2.7");
    std::string out;
    s.on_command("AUTH PLAIN AGFsaWNlAHNlY3JldA==", {}, out);
    ASSERT_EQ(s.on_mailbox_opened(mailbox_result::ok, {{"a", 10}, {"b", 20}, {"c", 30}}, out), action::read_command);
    EXPECT_EQ(s.state(), session_state::transaction);
    EXPECT_TRUE(s.tls_active());
    out.clear();
    ASSERT_EQ(s.on_command("TOP 3 5", {}, out), action::send_message);
    EXPECT_EQ(out, "+OK 30 octets\r\n");
    EXPECT_EQ(s.message_index(), 2u);
    EXPECT_EQ(s.top_lines(), std::optional<std::uint32_t>(5));
    EXPECT_EQ(s.on_message_sent({}, out), action::read_command);
    ASSERT_EQ(s.on_command("RETR 2", {}, out), action::send_message);
    EXPECT_EQ(s.message_index(), 1u);
    EXPECT_EQ(s.top_lines(), std::nullopt);
    s.on_message_sent({}, out);
    s.on_command("DELE 3", {}, out);
    s.on_command("DELE 1", {}, out);
    EXPECT_EQ(s.on_command("QUIT", {}, out), action::update);
    EXPECT_EQ(s.state(), session_state::update);
    EXPECT_EQ(s.marked(), (std::vector<std::size_t>{0, 2}));
    EXPECT_EQ(s.on_update_done({}, out), action::close);
}

}  // namespace
