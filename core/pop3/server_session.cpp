#include "mailharness/pop3/server_session.hpp"

#include <algorithm>

#include "detail/ascii.hpp"
#include "mailharness/pop3/error.hpp"
#include "mailharness/sasl/apop.hpp"

namespace mailharness::pop3 {

namespace {

// Reply texts follow Dovecot's pop3-login and pop3 where it has one, without naming software.
constexpr std::string_view plaintext_refused =
    "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";
// One reply for an unknown user and a wrong password: no user enumeration.
constexpr std::string_view auth_failed_text = "[AUTH] Authentication failed.";
constexpr std::string_view unknown_command = "Unknown command.";
constexpr std::string_view capabilities = "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n";

void ok(std::string& out, std::string_view text = {}) {
    out.append("+OK");
    if (!text.empty()) {
        out.push_back(' ');
        out.append(text);
    }
    out.append("\r\n");
}

void err(std::string& out, std::string_view text) {
    out.append("-ERR ");
    out.append(text);
    out.append("\r\n");
}

// The reply for a command the parser refused; no client text is echoed.
std::string_view parse_error_text(std::error_code ec) {
    switch (static_cast<errc>(ec.value())) {
        case errc::invalid_number: return "Invalid message number.";
        case errc::missing_argument: return "Missing argument.";
        case errc::too_many_arguments: return "Too many arguments.";
        case errc::argument_too_long: return "Argument too long.";
        case errc::invalid_argument: return "Invalid arguments.";
        case errc::invalid_syntax: return "Invalid command syntax.";
        case errc::line_too_long: return "Line too long.";
        default: return unknown_command;
    }
}

// RFC 1939 section 7: unique-id = 1*70 octets in 0x21-0x7E.
bool valid_uid(std::string_view uid) noexcept {
    return !uid.empty() && uid.size() <= 70 && std::all_of(uid.begin(), uid.end(), detail::is_vchar);
}

bool verb_in_authorization(verb v) noexcept {
    switch (v) {
        case verb::capa:
        case verb::user:
        case verb::pass:
        case verb::apop:
        case verb::auth:
        case verb::stls:
        case verb::quit: return true;
        default: return false;
    }
}

bool verb_in_transaction(verb v) noexcept {
    switch (v) {
        case verb::capa:
        case verb::stat:
        case verb::list:
        case verb::retr:
        case verb::dele:
        case verb::noop:
        case verb::rset:
        case verb::quit:
        case verb::top:
        case verb::uidl: return true;
        default: return false;
    }
}

}  // namespace

server_session::server_session(server_session_settings settings, server_hooks& hooks, std::string peer_address)
    : settings_(std::move(settings)), hooks_(hooks), peer_(std::move(peer_address)) {}

void server_session::greet(std::string& out) const {
    std::string text = settings_.banner;
    if (apop_offered()) text += " " + settings_.apop_timestamp;
    ok(out, text);
}

bool server_session::user_pass_offered() const noexcept {
    return settings_.user_pass && hooks_.credentials() != nullptr;
}

bool server_session::apop_offered() const noexcept {
    return settings_.apop && !settings_.apop_timestamp.empty() && hooks_.credentials() != nullptr;
}

bool server_session::mechanism_configured(std::string_view name) const {
    if (hooks_.credentials() == nullptr) return false;
    auto supported = sasl::supported_server_mechanisms(settings_.sasl_options);
    auto named = [&](const std::string& m) { return detail::iequals(m, name); };
    return std::any_of(settings_.sasl_mechanisms.begin(), settings_.sasl_mechanisms.end(), named) &&
           std::any_of(supported.begin(), supported.end(), named);
}

std::vector<std::string> server_session::offered_mechanisms() const {
    std::vector<std::string> r;
    for (const auto& m : settings_.sasl_mechanisms) {
        if (!mechanism_configured(m)) continue;
        if (sasl::is_plaintext_mechanism(m) && !plaintext_allowed()) continue;
        std::string upper;
        for (char c : m) upper.push_back(detail::to_upper(c));
        if (std::find(r.begin(), r.end(), upper) == r.end()) r.push_back(std::move(upper));
    }
    return r;
}

line_limits server_session::input_limits() const noexcept {
    if (phase_ == phase::auth || phase_ == phase::auth_final) return {.max_line_length = settings_.max_auth_line_length};
    return command_line_limits(settings_.limits);
}

std::vector<std::size_t> server_session::marked() const {
    std::vector<std::size_t> r;
    for (std::size_t i = 0; i < deleted_.size(); ++i) {
        if (deleted_[i]) r.push_back(i);
    }
    return r;
}

action server_session::refuse_plaintext(std::string& out) {
    // A policy refusal, not a bad command: Dovecot does not count it towards its limit.
    err(out, plaintext_refused);
    return action::read_command;
}

action server_session::bad(std::string& out, std::string_view reply) {
    err(out, reply);
    counted_bad_ = true;
    ++bad_commands_;
    const bool before_login = state_ == session_state::authorization;
    const unsigned limit =
        before_login ? settings_.max_bad_commands_authorization : settings_.max_bad_commands_transaction;
    if (limit != 0 && bad_commands_ >= limit) {
        // Dovecot: the command's own reply, then this one, then the connection closes.
        err(out, "Too many bad commands.");
        mech_.reset();
        phase_ = phase::closed;
        return action::close;
    }
    return action::read_command;
}

action server_session::on_command(std::string_view line, std::error_code line_error, std::string& out) {
    // A bare LF ends a line as well as CRLF (Dovecot reads lines the same way); a bare CR stays in
    // the line, where the parser refuses it as a control character.
    (void)line_error;
    reply_delay_ = std::chrono::milliseconds{0};
    switch (phase_) {
        case phase::authorization:
        case phase::auth:
        case phase::auth_final:
        case phase::transaction: break;
        default: return action::close;  // the network layer owes a callback first
    }
    ++commands_;
    if (settings_.max_commands != 0 && commands_ > settings_.max_commands) {
        err(out, "Too many commands.");
        mech_.reset();
        phase_ = phase::closed;
        return action::close;
    }
    counted_bad_ = false;
    action a = dispatch(line, out);
    // Dovecot counts bad commands in a row: anything else clears the count.
    if (!counted_bad_) bad_commands_ = 0;
    return a;
}

action server_session::on_line_too_long(std::size_t length_seen, std::string& out) {
    (void)length_seen;
    reply_delay_ = std::chrono::milliseconds{0};
    switch (phase_) {
        case phase::auth:
        case phase::auth_final:
            mech_.reset();
            phase_ = phase::authorization;
            break;
        case phase::authorization:
        case phase::transaction: break;
        default: return action::close;
    }
    if (settings_.close_on_line_too_long) {
        err(out, "Line too long.");
        phase_ = phase::closed;
        return action::close;
    }
    return bad(out, "Line too long.");
}

action server_session::dispatch(std::string_view line, std::string& out) {
    if (phase_ == phase::auth || phase_ == phase::auth_final) return auth_response(line, out);
    command cmd;
    std::error_code ec = parse_command(line, cmd, settings_.limits);
    if (phase_ == phase::authorization) return handle_authorization(cmd, ec, out);
    return handle_transaction(cmd, ec, out);
}

// --- AUTHORIZATION ---

action server_session::handle_authorization(const command& cmd, std::error_code ec, std::string& out) {
    // Commands of the other states are unknown here, whatever their arguments (as Dovecot).
    if (!verb_in_authorization(cmd.verb)) return bad(out, unknown_command);
    if (ec) {
        if (cmd.verb == verb::auth && ec == errc::missing_argument) return do_auth(cmd, ec, out);
        return bad(out, parse_error_text(ec));
    }
    switch (cmd.verb) {
        case verb::capa: return do_capa(out);
        case verb::user: return do_user(cmd, out);
        case verb::pass: return do_pass(cmd, out);
        case verb::apop: return do_apop(cmd, out);
        case verb::auth: return do_auth(cmd, ec, out);
        case verb::stls: return do_stls(out);
        case verb::quit:
            ok(out, "Logging out");
            phase_ = phase::closed;
            return action::close;
        default: return bad(out, unknown_command);
    }
}

action server_session::do_capa(std::string& out) {
    out.append("+OK\r\n");
    out.append(capabilities);
    if (state_ == session_state::authorization) {
        if (settings_.tls_available && !settings_.tls_active) out.append("STLS\r\n");
        if (user_pass_offered() && plaintext_allowed()) out.append("USER\r\n");
        auto mechs = offered_mechanisms();
        if (!mechs.empty()) {
            out.append("SASL");
            for (const auto& m : mechs) out.append(" ").append(m);
            out.append("\r\n");
        }
    }
    if (!settings_.implementation.empty()) out.append("IMPLEMENTATION ").append(settings_.implementation).append("\r\n");
    out.append(".\r\n");
    return action::read_command;
}

action server_session::do_user(const command& cmd, std::string& out) {
    if (!user_pass_offered()) return bad(out, "[AUTH] USER/PASS authentication is not enabled.");
    if (!plaintext_allowed()) return refuse_plaintext(out);
    pending_user_ = std::string(cmd.args[0]);
    ok(out);
    return action::read_command;
}

action server_session::do_pass(const command& cmd, std::string& out) {
    if (!user_pass_offered()) return bad(out, "[AUTH] USER/PASS authentication is not enabled.");
    if (!plaintext_allowed()) return refuse_plaintext(out);
    if (!pending_user_) return bad(out, "No username given.");
    // RFC 1939 section 7: after PASS, failed or not, a new USER is needed.
    std::string user = std::move(*pending_user_);
    pending_user_.reset();
    auto r = hooks_.credentials()->verify_plain(user, cmd.args[0]);
    if (r == sasl::credential_lookup::result::ok) return login_succeeded(std::move(user));
    return login_failed(out);
}

action server_session::do_apop(const command& cmd, std::string& out) {
    if (!apop_offered()) return bad(out, "[AUTH] APOP not enabled.");
    std::string user(cmd.args[0]);
    std::string secret;
    auto r = hooks_.credentials()->plaintext_secret(user, secret);
    // The digest is checked for unknown users too, so both take the same path.
    bool good = sasl::apop_verify(settings_.apop_timestamp, secret, cmd.args[1]);
    if (good && r == sasl::credential_lookup::result::ok) return login_succeeded(std::move(user));
    return login_failed(out);
}

action server_session::do_auth(const command& cmd, std::error_code ec, std::string& out) {
    if (ec) {
        // "AUTH" alone lists the mechanisms (the pre-CAPA discovery some clients still use).
        ok(out);
        for (const auto& m : offered_mechanisms()) out.append(m).append("\r\n");
        out.append(".\r\n");
        return action::read_command;
    }
    std::string_view name = cmd.args[0];
    if (!mechanism_configured(name)) return bad(out, "[AUTH] Unsupported authentication mechanism.");
    if (sasl::is_plaintext_mechanism(name) && !plaintext_allowed()) return refuse_plaintext(out);
    mech_ = sasl::make_server(name, *hooks_.credentials(), settings_.sasl_options);
    if (!mech_) return bad(out, "[AUTH] Unsupported authentication mechanism.");
    sasl::step_result r;
    if (cmd.arg_count == 2) {
        std::string decoded;
        if (sasl::decode_initial_response(cmd.args[1], decoded, settings_.sasl_options.limits)) {
            mech_.reset();
            return bad(out, "Invalid base64 data in initial response.");
        }
        r = mech_->start(std::string_view(decoded));
    } else {
        r = mech_->start();
    }
    return auth_result(r, out);
}

action server_session::auth_response(std::string_view line, std::string& out) {
    std::string decoded;
    auto ec = sasl::decode_response(line, decoded, settings_.sasl_options.limits);
    if (ec == sasl::errc::cancelled) {
        mech_.reset();
        phase_ = phase::authorization;
        err(out, "Authentication aborted by client.");
        return action::read_command;
    }
    if (ec) {
        mech_.reset();
        phase_ = phase::authorization;
        return bad(out, "Invalid base64 data in response.");
    }
    if (phase_ == phase::auth_final) {
        // The client acknowledges the additional data with success (SCRAM's server-final) with an
        // empty response (RFC 5034 section 4); anything else fails the exchange.
        if (!decoded.empty()) {
            mech_.reset();
            return login_failed(out);
        }
        std::string user = mech_->identity();
        mech_.reset();
        return login_succeeded(std::move(user));
    }
    return auth_result(mech_->step(decoded), out);
}

action server_session::auth_result(const sasl::step_result& r, std::string& out) {
    switch (r.status) {
        case sasl::step_status::challenge:
            phase_ = phase::auth;
            out.append("+ ").append(sasl::encode_challenge(r.data)).append("\r\n");
            return action::read_command;
        case sasl::step_status::success:
            if (!r.data.empty()) {
                // POP3's +OK cannot carry it: one more challenge, answered by an empty line.
                phase_ = phase::auth_final;
                out.append("+ ").append(sasl::encode_challenge(r.data)).append("\r\n");
                return action::read_command;
            }
            {
                std::string user = mech_->identity();
                mech_.reset();
                return login_succeeded(std::move(user));
            }
        case sasl::step_status::failure: break;
    }
    // A SCRAM server-error is dropped: the reply is the same for every failure.
    mech_.reset();
    return login_failed(out);
}

action server_session::login_succeeded(std::string user) {
    user_ = std::move(user);
    pending_user_.reset();
    phase_ = phase::opening;
    return action::open_mailbox;
}

action server_session::login_failed(std::string& out) {
    phase_ = phase::authorization;
    ++auth_failures_;
    reply_delay_ = hooks_.auth_failed(peer_);
    err(out, auth_failed_text);
    if (settings_.max_auth_failures != 0 && auth_failures_ >= settings_.max_auth_failures) {
        err(out, "Too many authentication failures.");
        phase_ = phase::closed;
        return action::close;
    }
    return action::read_command;
}

action server_session::do_stls(std::string& out) {
    if (settings_.tls_active) return bad(out, "TLS is already active.");
    if (!settings_.tls_available) return bad(out, "TLS support isn't enabled.");
    ok(out, "Begin TLS negotiation now.");
    return action::start_tls;
}

void server_session::on_tls_established() {
    settings_.tls_active = true;
    pending_user_.reset();
}

action server_session::on_mailbox_opened(mailbox_result result, std::vector<message> messages, std::string& out) {
    reply_delay_ = std::chrono::milliseconds{0};
    if (phase_ != phase::opening) return action::close;
    if (result == mailbox_result::ok &&
        !std::all_of(messages.begin(), messages.end(), [](const message& m) { return valid_uid(m.uid); })) {
        result = mailbox_result::temp_failure;  // a uid would break the UIDL framing
    }
    switch (result) {
        case mailbox_result::ok:
            messages_ = std::move(messages);
            deleted_.assign(messages_.size(), false);
            phase_ = phase::transaction;
            state_ = session_state::transaction;
            bad_commands_ = 0;
            ok(out, "Logged in.");
            return action::read_command;
        case mailbox_result::in_use: err(out, "[IN-USE] Mailbox is locked by another session."); break;
        case mailbox_result::temp_failure: err(out, "[SYS/TEMP] Mailbox could not be opened, try again later."); break;
    }
    phase_ = phase::closed;
    return action::close;
}

// --- TRANSACTION ---

std::string server_session::unusable(std::uint32_t n) const {
    if (n == 0 || n > messages_.size()) return "There's no message " + std::to_string(n) + ".";
    if (deleted_[n - 1]) return "Message is deleted.";
    return {};
}

action server_session::handle_transaction(const command& cmd, std::error_code ec, std::string& out) {
    if (!verb_in_transaction(cmd.verb)) return bad(out, unknown_command);
    if (ec) return bad(out, parse_error_text(ec));
    const bool has_number = cmd.verb == verb::retr || cmd.verb == verb::top || cmd.verb == verb::dele ||
                            ((cmd.verb == verb::list || cmd.verb == verb::uidl) && cmd.arg_count == 1);
    if (has_number) {
        if (auto why = unusable(cmd.message); !why.empty()) return bad(out, why);
    }
    const std::size_t index = cmd.message - 1;  // valid when has_number
    switch (cmd.verb) {
        case verb::capa: return do_capa(out);
        case verb::stat: {
            std::size_t count = 0;
            std::uint64_t size = 0;
            for (std::size_t i = 0; i < messages_.size(); ++i) {
                if (deleted_[i]) continue;
                ++count;
                size += messages_[i].size;
            }
            ok(out, std::to_string(count) + " " + std::to_string(size));
            return action::read_command;
        }
        case verb::list:
        case verb::uidl: {
            const bool list = cmd.verb == verb::list;
            auto value = [&](std::size_t i) { return list ? std::to_string(messages_[i].size) : messages_[i].uid; };
            if (has_number) {
                ok(out, std::to_string(cmd.message) + " " + value(index));
                return action::read_command;
            }
            if (list) {
                std::size_t count = static_cast<std::size_t>(std::count(deleted_.begin(), deleted_.end(), false));
                ok(out, std::to_string(count) + " messages:");
            } else {
                ok(out);
            }
            for (std::size_t i = 0; i < messages_.size(); ++i) {
                if (!deleted_[i]) out.append(std::to_string(i + 1)).append(" ").append(value(i)).append("\r\n");
            }
            out.append(".\r\n");
            return action::read_command;
        }
        case verb::retr:
        case verb::top:
            message_index_ = index;
            top_lines_ = cmd.verb == verb::top ? std::optional<std::uint32_t>(cmd.lines) : std::nullopt;
            ok(out, std::to_string(messages_[index].size) + " octets");
            phase_ = phase::sending;
            return action::send_message;
        case verb::dele:
            deleted_[index] = true;
            ok(out, "Marked to be deleted.");
            return action::read_command;
        case verb::noop: ok(out); return action::read_command;
        case verb::rset:
            std::fill(deleted_.begin(), deleted_.end(), false);
            ok(out);
            return action::read_command;
        case verb::quit:
            phase_ = phase::update;
            state_ = session_state::update;
            return action::update;
        default: return bad(out, unknown_command);
    }
}

action server_session::on_message_sent(std::error_code ec, std::string& out) {
    (void)out;
    reply_delay_ = std::chrono::milliseconds{0};
    if (phase_ != phase::sending || ec) {
        phase_ = phase::closed;
        return action::close;
    }
    phase_ = phase::transaction;
    return action::read_command;
}

action server_session::on_update_done(std::error_code ec, std::string& out) {
    reply_delay_ = std::chrono::milliseconds{0};
    if (phase_ != phase::update) return action::close;
    phase_ = phase::closed;
    if (ec) {
        err(out, "[SYS/TEMP] Some deleted messages were not removed.");
    } else if (std::find(deleted_.begin(), deleted_.end(), true) != deleted_.end()) {
        ok(out, "Logging out, messages deleted.");
    } else {
        ok(out, "Logging out.");
    }
    return action::close;
}

}  // namespace mailharness::pop3
