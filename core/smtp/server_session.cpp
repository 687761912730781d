#include "mailharness/smtp/server_session.hpp"

#include <algorithm>
#include <ctime>

#include "mailharness/line_framer.hpp"
#include "mailharness/detail/ascii.hpp"
#include "mailharness/smtp/error.hpp"
#include "mailharness/smtp/reply.hpp"

namespace mailharness::smtp {

namespace {

using mailharness::detail::iequals;


void say(std::string& out, int code, enhanced_status st, std::string_view text) {
    append_reply(out, code, st, text);
}

// The reply for a command the parser refused (RFC 5321 4.2.2, RFC 3463).
void reply_for_parse_error(std::error_code ec, std::string& out) {
    switch (static_cast<errc>(ec.value())) {
        case errc::empty_command:
        case errc::unknown_command: return say(out, 500, es(5, 5, 2), "Error: command not recognized");
        case errc::line_too_long: return say(out, 500, es(5, 5, 2), "Error: line too long");
        case errc::invalid_path:
        case errc::local_part_too_long:
        case errc::domain_too_long:
        case errc::path_too_long:
        case errc::invalid_domain:
        case errc::invalid_address_literal:
            return say(out, 501, es(5, 1, 3), "Error: bad address syntax (" + ec.message() + ")");
        case errc::invalid_utf8: return say(out, 501, es(5, 6, 7), "Error: malformed UTF-8");
        case errc::invalid_parameter:
        case errc::duplicate_parameter:
        case errc::too_many_parameters:
        case errc::invalid_bdat_size:
        case errc::invalid_auth_mechanism:
            return say(out, 501, es(5, 5, 4), "Error: " + ec.message());
        default: return say(out, 501, es(5, 5, 2), "Error: " + ec.message());
    }
}

}  // namespace

server_session::server_session(server_session_settings settings, server_hooks& hooks, std::string peer_address)
    : settings_(std::move(settings)), hooks_(hooks), peer_(std::move(peer_address)) {
    if (settings_.tls_active) tls_version_ = "TLS";
}

void server_session::greet(std::string& out) const {
    say(out, 220, {}, settings_.hostname + " " + settings_.banner);
}

void server_session::reset_transaction() {
    env_.reverse_path.clear();
    env_.recipients.clear();
    env_.smtputf8 = false;
    env_.body_8bit = false;
    message_.clear();
    in_bdat_ = false;
    bdat_failed_ = false;
    bdat_last_ = false;
    bdat_size_ = 0;
    if (phase_ == phase::mail || phase_ == phase::rcpt) phase_ = phase::ready;
}

bool server_session::plaintext_auth_allowed() const noexcept {
    return settings_.tls_active || settings_.allow_plaintext_auth;
}

std::vector<std::string> server_session::offered_mechanisms() const {
    std::vector<std::string> r;
    if (!settings_.auth_enabled || hooks_.credentials() == nullptr) return r;
    for (auto& m : sasl::supported_server_mechanisms()) {
        if (sasl::is_plaintext_mechanism(m) && !plaintext_auth_allowed()) continue;
        if (!settings_.sasl_mechanisms.empty() &&
            std::find(settings_.sasl_mechanisms.begin(), settings_.sasl_mechanisms.end(), m) == settings_.sasl_mechanisms.end()) {
            continue;
        }
        r.push_back(m);
    }
    return r;
}

data_limits server_session::data_decoder_limits() const noexcept {
    return {.max_message_size = settings_.max_message_size,
            .normalize_bare_line_endings = settings_.normalize_bare_line_endings};
}

action server_session::on_line_too_long(std::size_t length_seen, std::string& out) {
    (void)length_seen;
    say(out, 500, es(5, 5, 2), "Error: command line too long; closing connection");
    return action::close;
}

action server_session::on_sasl_response_too_long(std::string& out) {
    reply_delay_ = std::chrono::milliseconds{0};
    mech_.reset();
    phase_ = before_auth_;
    const std::size_t start = out.size();
    say(out, 500, es(5, 5, 6), "Authentication Exchange line is too long");
    return count_errors(action::read_command, start, out);
}

action server_session::on_command(std::string_view line, std::error_code line_error, std::string& out) {
    reply_delay_ = std::chrono::milliseconds{0};
    if (line_error == line_errc::bare_lf || line_error == line_errc::bare_cr) {
        if (!settings_.normalize_bare_line_endings) {
            const std::size_t start = out.size();
            say(out, 500, es(5, 5, 2), "Error: bare <CR> or <LF> not allowed; use CRLF");
            if (phase_ == phase::auth || phase_ == phase::auth_final) {
                mech_.reset();
                phase_ = before_auth_;
            }
            return count_errors(action::read_command, start, out);
        }
        // Normalized: a bare CR inside the line stays data, the line itself is accepted.
    }
    const std::size_t start = out.size();
    action a = dispatch(line, out);
    return count_errors(a, start, out);
}

action server_session::dispatch(std::string_view line, std::string& out) {
    if (phase_ == phase::auth || phase_ == phase::auth_final) return auth_response(line, out);
    if (settings_.max_commands && ++commands_ > settings_.max_commands) {
        say(out, 421, es(4, 7, 0), settings_.hostname + " Error: too many commands; closing connection");
        return action::close;
    }

    command cmd;
    if (auto ec = parse_command(line, cmd, settings_.limits)) {
        // A BDAT whose size cannot be read leaves the stream unsynchronised: close (RFC 3030 3).
        reply_for_parse_error(ec, out);
        if (cmd.cmd == verb::bdat) {
            say(out, 421, es(4, 7, 0), settings_.hostname + " closing connection");
            return action::close;
        }
        return action::read_command;
    }
    return handle(cmd, out);
}

action server_session::count_errors(action a, std::size_t reply_start, std::string& out) {
    // One failed command = one reply starting 4xx/5xx among those this command produced
    // (the 500 for a bare line ending included). 421 closing replies are not counted again.
    if (a == action::close || reply_start >= out.size() || (out[reply_start] != '4' && out[reply_start] != '5')) {
        return a;
    }
    ++errors_;
    if (settings_.max_errors && errors_ >= settings_.max_errors) {
        say(out, 421, es(4, 7, 0), settings_.hostname + " Error: too many errors; closing connection");
        return action::close;
    }
    if (settings_.error_delay_step.count() > 0 && errors_ > 3) {
        auto extra = settings_.error_delay_step * static_cast<int>(errors_ - 3);
        reply_delay_ = std::max(reply_delay_, std::min<std::chrono::milliseconds>(extra, std::chrono::seconds(10)));
    }
    return a;
}

action server_session::handle(const command& cmd, std::string& out) {
    if (in_bdat_ && cmd.cmd != verb::bdat && cmd.cmd != verb::rset && cmd.cmd != verb::quit &&
        cmd.cmd != verb::noop) {
        say(out, 503, es(5, 5, 1), "Error: only BDAT, RSET, NOOP or QUIT during a BDAT transfer");
        return action::read_command;
    }
    switch (cmd.cmd) {
        case verb::helo:
        case verb::ehlo: return do_helo(cmd, out);
        case verb::mail: return do_mail(cmd, out);
        case verb::rcpt: return do_rcpt(cmd, out);
        case verb::data: return do_data(out);
        case verb::bdat: return do_bdat(cmd, out);
        case verb::auth: return do_auth(cmd, out);
        case verb::starttls: return do_starttls(out);
        case verb::rset:
            reset_transaction();
            say(out, 250, es(2, 0, 0), "Ok");
            return action::read_command;
        case verb::noop: say(out, 250, es(2, 0, 0), "Ok"); return action::read_command;
        case verb::quit:
            say(out, 221, es(2, 0, 0), settings_.hostname + " closing connection");
            return action::close;
        case verb::help:
            say(out, 214, es(2, 0, 0), "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT AUTH STARTTLS");
            return action::read_command;
        case verb::vrfy:
        case verb::expn:
            // No user enumeration: the answer never depends on the argument.
            if (settings_.vrfy_code == 252 && cmd.cmd == verb::vrfy) {
                say(out, 252, es(2, 5, 2), "Cannot VRFY user; send some mail and I will try my best");
            } else {
                say(out, 502, es(5, 5, 1), cmd.cmd == verb::vrfy ? "Error: VRFY disabled" : "Error: EXPN disabled");
            }
            return action::read_command;
        case verb::unknown: break;
    }
    say(out, 500, es(5, 5, 2), "Error: command not recognized");
    return action::read_command;
}

action server_session::do_helo(const command& cmd, std::string& out) {
    reset_transaction();
    env_.helo = std::string(cmd.argument);
    env_.esmtp = cmd.cmd == verb::ehlo;
    phase_ = phase::ready;
    if (!env_.esmtp) {
        say(out, 250, {}, settings_.hostname);
        return action::read_command;
    }
    std::string text = settings_.hostname + " greets " + env_.helo;
    text += "\nPIPELINING";
    text += settings_.max_message_size ? "\nSIZE " + std::to_string(settings_.max_message_size) : "\nSIZE";
    text += "\n8BITMIME\nSMTPUTF8\nENHANCEDSTATUSCODES\nCHUNKING";
    if (settings_.tls_available && !settings_.tls_active) text += "\nSTARTTLS";
    auto mechs = offered_mechanisms();
    if (!mechs.empty() && auth_user_.empty()) {
        text += "\nAUTH";
        for (auto& m : mechs) text += " " + m;
    }
    say(out, 250, {}, text);
    return action::read_command;
}

action server_session::do_mail(const command& cmd, std::string& out) {
    if (phase_ == phase::need_helo) {
        say(out, 503, es(5, 5, 1), "Error: send HELO/EHLO first");
        return action::read_command;
    }
    if (phase_ != phase::ready) {
        say(out, 503, es(5, 5, 1), "Error: nested MAIL command");
        return action::read_command;
    }
    if (settings_.max_messages && messages_ >= settings_.max_messages) {
        say(out, 452, es(4, 7, 0), "Error: too many messages in this session; reconnect");
        return action::read_command;
    }
    if (settings_.auth_required && auth_user_.empty()) {
        say(out, 530, es(5, 7, 0), "Authentication required");
        return action::read_command;
    }
    bool smtputf8 = false, body_8bit = false;
    for (std::size_t i = 0; i < cmd.param_count; ++i) {
        const auto& p = cmd.params[i];
        if (!env_.esmtp) {
            say(out, 555, es(5, 5, 4), "Error: parameters need EHLO");
            return action::read_command;
        }
        if (iequals(p.keyword, "SIZE")) {
            std::uint64_t size = 0;
            bool digits = p.has_value && p.value.size() <= 19;
            for (char c : p.value) digits = digits && c >= '0' && c <= '9';
            if (!digits) {
                say(out, 501, es(5, 5, 4), "Error: bad SIZE value");
                return action::read_command;
            }
            for (char c : p.value) size = size * 10 + static_cast<unsigned>(c - '0');
            if (settings_.max_message_size && size > settings_.max_message_size) {
                say(out, 552, es(5, 3, 4), "Error: message size exceeds fixed limit");
                return action::read_command;
            }
        } else if (iequals(p.keyword, "BODY")) {
            if (iequals(p.value, "8BITMIME")) {
                body_8bit = true;
            } else if (!iequals(p.value, "7BIT")) {
                say(out, 501, es(5, 5, 4), "Error: BODY must be 7BIT or 8BITMIME");
                return action::read_command;
            }
        } else if (iequals(p.keyword, "SMTPUTF8") && !p.has_value) {
            smtputf8 = true;
        } else if (iequals(p.keyword, "AUTH") && p.has_value) {
            // RFC 4954 5: accepted and not trusted.
        } else {
            say(out, 555, es(5, 5, 4), "Error: unsupported parameter " + std::string(p.keyword));
            return action::read_command;
        }
    }
    if (cmd.address.has(utf8) && !smtputf8) {
        say(out, 553, es(5, 6, 7), "Error: non-ASCII address needs SMTPUTF8");
        return action::read_command;
    }
    if (cmd.address.has(postmaster)) {
        say(out, 501, es(5, 1, 7), "Error: bad sender address");
        return action::read_command;
    }
    if (!hooks_.check_sender(cmd.address)) {
        say(out, 550, es(5, 7, 1), "Error: sender refused by policy");
        return action::read_command;
    }
    env_.reverse_path = cmd.address.mailbox();
    env_.smtputf8 = smtputf8;
    env_.body_8bit = body_8bit;
    phase_ = phase::mail;
    say(out, 250, es(2, 1, 0), "Ok");
    return action::read_command;
}

action server_session::do_rcpt(const command& cmd, std::string& out) {
    if (phase_ != phase::mail && phase_ != phase::rcpt) {
        say(out, 503, es(5, 5, 1), "Error: need MAIL command");
        return action::read_command;
    }
    if (cmd.param_count > 0) {
        say(out, 555, es(5, 5, 4), "Error: unsupported parameter " + std::string(cmd.params[0].keyword));
        return action::read_command;
    }
    if (cmd.address.has(utf8) && !env_.smtputf8) {
        say(out, 553, es(5, 6, 7), "Error: non-ASCII address needs SMTPUTF8");
        return action::read_command;
    }
    if (env_.recipients.size() >= settings_.max_recipients) {
        say(out, 452, es(4, 5, 3), "Error: too many recipients");
        return action::read_command;
    }
    std::string canonical;
    switch (hooks_.check_recipient(cmd.address, auth_user_, canonical)) {
        case rcpt_verdict::accept:
            env_.recipients.push_back(std::move(canonical));
            phase_ = phase::rcpt;
            say(out, 250, es(2, 1, 5), "Ok");
            break;
        case rcpt_verdict::unknown_user: say(out, 550, es(5, 1, 1), "Error: no such user here"); break;
        case rcpt_verdict::relay_denied: say(out, 554, es(5, 7, 1), "Error: relay access denied"); break;
        case rcpt_verdict::temp_failure: say(out, 451, es(4, 3, 0), "Error: try again later"); break;
        case rcpt_verdict::refused: say(out, 550, es(5, 7, 1), "Error: recipient refused by policy"); break;
    }
    return action::read_command;
}

action server_session::do_data(std::string& out) {
    if (phase_ == phase::mail) {
        say(out, 554, es(5, 5, 1), "Error: no valid recipients");
        return action::read_command;
    }
    if (phase_ != phase::rcpt) {
        say(out, 503, es(5, 5, 1), "Error: need RCPT command");
        return action::read_command;
    }
    message_.clear();
    say(out, 354, {}, "End data with <CR><LF>.<CR><LF>");
    return action::read_data;
}

action server_session::on_data_end(const data_decoder& decoder, std::string content, std::string& out) {
    if (auto ec = decoder.result()) {
        if (ec == errc::message_too_big) {
            say(out, 552, es(5, 3, 4), "Error: message too big");
        } else {
            // SMTP smuggling defence: a message holding bare line endings is refused whole.
            say(out, 550, es(5, 6, 0), "Error: bare <CR> or <LF> in message data; use CRLF");
        }
        reset_transaction();
        return action::read_command;
    }
    message_ = std::move(content);
    return finish_message(out);
}

action server_session::finish_message(std::string& out) {
    auto verdict = hooks_.check_message(env_, message_);
    if (verdict.accepted()) return action::deliver;
    say(out, verdict.code, verdict.status, verdict.text);
    reset_transaction();
    return action::read_command;
}

action server_session::do_bdat(const command& cmd, std::string& out) {
    (void)out;
    // The chunk is read whatever the state, to stay in step with the client; the verdict comes
    // after it (RFC 3030 3: reply only after the whole chunk).
    bdat_size_ = cmd.bdat_size;
    bdat_last_ = cmd.bdat_last;
    if (phase_ != phase::rcpt) return action::read_bdat;  // refused in on_bdat_chunk()
    if (!in_bdat_) {
        in_bdat_ = true;
        message_.clear();
    }
    if (settings_.max_message_size && message_.size() + cmd.bdat_size > settings_.max_message_size) {
        bdat_failed_ = true;
        message_.clear();
    }
    return action::read_bdat;
}

action server_session::on_bdat_chunk(std::string_view chunk, std::string& out) {
    if (phase_ != phase::rcpt) {
        say(out, 503, es(5, 5, 1), phase_ == phase::mail ? "Error: no valid recipients" : "Error: need RCPT command");
        return action::read_command;
    }
    // do_bdat() already refused a chunk that would exceed the size limit (bdat_failed_).
    if (!bdat_failed_) message_.append(chunk);
    if (!bdat_last_) {
        if (bdat_failed_) {
            say(out, 552, es(5, 3, 4), "Error: message too big");
        } else {
            say(out, 250, es(2, 0, 0), std::to_string(chunk.size()) + " octets received");
        }
        return action::read_command;
    }
    if (bdat_failed_) {
        say(out, 552, es(5, 3, 4), "Error: message too big");
        reset_transaction();
        return action::read_command;
    }
    in_bdat_ = false;
    return finish_message(out);
}

void server_session::on_delivered(std::error_code ec, std::string_view id, std::string& out) {
    if (ec) {
        say(out, 451, es(4, 3, 0), "Error: local delivery failed, try again later");
    } else {
        ++messages_;
        say(out, 250, es(2, 0, 0), "Ok: queued as " + std::string(id));
    }
    reset_transaction();
}

action server_session::do_starttls(std::string& out) {
    if (settings_.tls_active) {
        say(out, 503, es(5, 5, 1), "Error: TLS already active");
        return action::read_command;
    }
    if (!settings_.tls_available) {
        say(out, 454, es(4, 7, 0), "TLS not available");
        return action::read_command;
    }
    say(out, 220, es(2, 0, 0), "Ready to start TLS");
    return action::start_tls;
}

void server_session::on_tls_established(std::string tls_version) {
    settings_.tls_active = true;
    tls_version_ = std::move(tls_version);
    // RFC 3207 4.2: discard all knowledge obtained from the client.
    reset_transaction();
    env_ = envelope{};
    phase_ = phase::need_helo;
    auth_user_.clear();
    mech_.reset();
}

action server_session::do_auth(const command& cmd, std::string& out) {
    if (phase_ == phase::need_helo || !env_.esmtp) {
        say(out, 503, es(5, 5, 1), "Error: send EHLO first");
        return action::read_command;
    }
    if (!auth_user_.empty()) {
        say(out, 503, es(5, 5, 1), "Error: already authenticated");
        return action::read_command;
    }
    if (phase_ != phase::ready) {
        say(out, 503, es(5, 5, 1), "Error: AUTH not allowed during a mail transaction");
        return action::read_command;
    }
    auto* creds = hooks_.credentials();
    if (!settings_.auth_enabled || creds == nullptr) {
        say(out, 502, es(5, 5, 1), "Error: AUTH not available");
        return action::read_command;
    }
    if (sasl::is_plaintext_mechanism(cmd.auth_mechanism) && !plaintext_auth_allowed()) {
        say(out, 538, es(5, 7, 11), "Encryption required for requested authentication mechanism");
        return action::read_command;
    }
    if (!settings_.sasl_mechanisms.empty()) {
        std::string upper(cmd.auth_mechanism);
        for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
        if (std::find(settings_.sasl_mechanisms.begin(), settings_.sasl_mechanisms.end(), upper) ==
            settings_.sasl_mechanisms.end()) {
            say(out, 504, es(5, 5, 4), "Error: authentication mechanism not permitted here");
            return action::read_command;
        }
    }
    mech_ = sasl::make_server(cmd.auth_mechanism, *creds, {.hostname = settings_.hostname});
    if (!mech_) {
        say(out, 504, es(5, 5, 4), "Error: unrecognized authentication type");
        return action::read_command;
    }
    before_auth_ = phase_;
    sasl::step_result r;
    if (cmd.has_auth_initial) {
        std::string decoded;
        if (sasl::decode_initial_response(cmd.auth_initial, decoded)) {
            mech_.reset();
            say(out, 501, es(5, 5, 2), "Error: invalid base64 in initial response");
            return action::read_command;
        }
        r = mech_->start(std::string_view(decoded));
    } else {
        r = mech_->start();
    }
    return auth_result(r, out);
}

action server_session::auth_response(std::string_view line, std::string& out) {
    std::string decoded;
    auto ec = sasl::decode_response(line, decoded);
    if (ec == sasl::errc::cancelled) {
        mech_.reset();
        phase_ = before_auth_;
        say(out, 501, es(5, 0, 0), "Authentication cancelled");
        return action::read_command;
    }
    if (ec) {
        mech_.reset();
        phase_ = before_auth_;
        say(out, 501, es(5, 5, 2), "Error: invalid base64 in response");
        return action::read_command;
    }
    if (phase_ == phase::auth_final) {
        // The empty response that acknowledges SCRAM's server-final message.
        phase_ = before_auth_;
        auth_user_ = mech_->identity();
        mech_.reset();
        say(out, 235, es(2, 7, 0), "Authentication successful");
        return action::read_command;
    }
    return auth_result(mech_->step(decoded), out);
}

action server_session::auth_result(const sasl::step_result& r, std::string& out) {
    switch (r.status) {
        case sasl::step_status::challenge:
            phase_ = phase::auth;
            say(out, 334, {}, sasl::encode_challenge(r.data));
            return action::read_command;
        case sasl::step_status::success:
            if (!r.data.empty()) {
                phase_ = phase::auth_final;
                say(out, 334, {}, sasl::encode_challenge(r.data));
                return action::read_command;
            }
            phase_ = before_auth_;
            auth_user_ = mech_->identity();
            mech_.reset();
            say(out, 235, es(2, 7, 0), "Authentication successful");
            return action::read_command;
        case sasl::step_status::failure:
            break;
    }
    phase_ = before_auth_;
    mech_.reset();
    ++auth_failures_;
    reply_delay_ = hooks_.auth_failed(peer_);
    say(out, 535, es(5, 7, 8), "Error: authentication failed");
    return action::read_command;
}

std::string server_session::received_header(std::string_view id, std::chrono::system_clock::time_point when) const {
    std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    // RFC 3848 "with" types.
    std::string with = env_.esmtp ? "ESMTP" : "SMTP";
    if (env_.smtputf8) with = "UTF8SMTP";
    if (settings_.tls_active) with += "S";
    if (!auth_user_.empty()) with += "A";
    std::string h = "Received: from " + (env_.helo.empty() ? std::string("unknown") : env_.helo) + " ([" + peer_ + "])\r\n";
    h += "\tby " + settings_.hostname + " with " + with;
    if (!tls_version_.empty()) h += " (" + tls_version_ + ")";
    h += " id " + std::string(id);
    if (env_.recipients.size() == 1) h += "\r\n\tfor <" + env_.recipients.front() + ">";
    h += "; " + std::string(date) + "\r\n";
    return h;
}

}  // namespace mailharness::smtp
