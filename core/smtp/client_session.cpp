#include "mailharness/smtp/client_session.hpp"

#include <algorithm>

namespace mailharness::smtp {

namespace {

bool needs_utf8(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

rcpt_outcome class_of(const reply& r) {
    if (r.code >= 200 && r.code < 300) return rcpt_outcome::delivered;
    if (r.code >= 500 && r.code < 600) return rcpt_outcome::permanent;
    return rcpt_outcome::temporary;  // 4xx, and anything unexpected: try again later
}

}  // namespace

client_session::client_session(client_params p)
    : p_(std::move(p)),
      accepted_(p_.recipients.size(), false),
      outcome_(p_.recipients.size(), rcpt_outcome::none),
      reply_(p_.recipients.size()) {}

last_reply client_session::make_reply(const reply& r) const {
    last_reply out;
    out.code = r.code;
    out.status = r.status.to_string();
    out.remote = p_.remote;
    for (const auto& l : r.lines) {
        if (!out.diagnostic.empty()) out.diagnostic += ' ';
        out.diagnostic += l;
    }
    if (out.diagnostic.size() > 1024) out.diagnostic.resize(1024);
    return out;
}

last_reply client_session::local_reply(int code, std::string status, std::string text) const {
    return {code, std::move(status), p_.remote, std::move(text)};
}

void client_session::set_all(rcpt_outcome o, const last_reply& r, bool only_accepted) {
    for (std::size_t i = 0; i < outcome_.size(); ++i) {
        if (outcome_[i] != rcpt_outcome::none || (only_accepted && !accepted_[i])) continue;
        outcome_[i] = o;
        reply_[i] = r;
    }
}

void client_session::fail_unresolved(const last_reply& error) {
    for (std::size_t i = 0; i < outcome_.size(); ++i) {
        if (outcome_[i] != rcpt_outcome::none) continue;
        outcome_[i] = rcpt_outcome::temporary;
        reply_[i] = error;
    }
}

client_step client_session::quit(std::string& out) {
    out += "QUIT\r\n";
    state_ = state::done;
    wait_ = client_wait::quit;
    return client_step::done;
}

client_step client_session::on_tls_established(std::string& out) {
    tls_active_ = true;
    caps_ = {};
    out += "EHLO " + p_.helo + "\r\n";
    state_ = state::ehlo;
    wait_ = client_wait::command;
    return client_step::send;
}

client_step client_session::after_capabilities(std::string& out) {
    if (!tls_active_ && p_.tls != tls_policy::none && p_.tls_possible && caps_.starttls) {
        out += "STARTTLS\r\n";
        state_ = state::starttls;
        wait_ = client_wait::command;
        return client_step::send;
    }
    if (!tls_active_ && p_.tls == tls_policy::required) {
        host_error_ = local_reply(0, "4.7.4",
                                  p_.tls_possible ? "TLS is required, but the host did not offer STARTTLS"
                                                  : "TLS is required, but no TLS client context is available");
        return quit(out);
    }
    return begin_transaction(out);
}

void client_session::send_rcpt(std::size_t i, std::string& out) {
    out += "RCPT TO:<" + p_.recipients[i] + ">\r\n";
}

client_step client_session::begin_transaction(std::string& out) {
    state_ = state::transaction;
    wait_ = client_wait::command;
    if (caps_.size && caps_.size_limit > 0 && p_.message_size > caps_.size_limit) {
        set_all(rcpt_outcome::permanent,
                local_reply(552, "5.3.4",
                            "message size " + std::to_string(p_.message_size) + " exceeds the server's limit of " +
                                std::to_string(caps_.size_limit)),
                false);
        return quit(out);
    }
    bool utf8 = needs_utf8(p_.sender) ||
                std::any_of(p_.recipients.begin(), p_.recipients.end(), [](const std::string& r) { return needs_utf8(r); });
    if (utf8 && !caps_.smtputf8) {
        set_all(rcpt_outcome::permanent,
                local_reply(553, "5.6.7", "the address needs SMTPUTF8, which the server does not offer"), false);
        return quit(out);
    }
    out += "MAIL FROM:<" + p_.sender + ">";
    if (caps_.size) out += " SIZE=" + std::to_string(p_.message_size);
    if (p_.message_8bit && caps_.eightbitmime) out += " BODY=8BITMIME";
    if (utf8) out += " SMTPUTF8";
    out += "\r\n";
    mail_sent_ = true;
    due_.assign(1, expect::mail);
    next_rcpt_ = 0;
    pipelined_ = caps_.pipelining;
    if (pipelined_) {
        for (std::size_t i = 0; i < p_.recipients.size(); ++i) {
            send_rcpt(i, out);
            due_.push_back(expect::rcpt);
        }
        out += "DATA\r\n";
        due_.push_back(expect::data);
    }
    return client_step::send;
}

client_step client_session::on_reply(const reply& r, std::string& out) {
    if (r.code == 421 && state_ != state::done) {
        // The server is closing the connection (RFC 5321 3.8): no QUIT, nothing more will come.
        if (!mail_sent_) {
            host_error_ = make_reply(r);
        } else {
            fail_unresolved(make_reply(r));
        }
        state_ = state::done;
        return client_step::done;
    }
    switch (state_) {
        case state::greeting:
            if (r.code != 220) {
                host_error_ = make_reply(r);
                return quit(out);
            }
            out += "EHLO " + p_.helo + "\r\n";
            state_ = state::ehlo;
            wait_ = client_wait::command;
            return client_step::send;

        case state::ehlo:
            if (r.code == 250) {
                caps_ = parse_ehlo(r);
                return after_capabilities(out);
            }
            if (r.code >= 500 && !tls_active_) {
                out += "HELO " + p_.helo + "\r\n";
                state_ = state::helo;
                return client_step::send;
            }
            host_error_ = make_reply(r);
            return quit(out);

        case state::helo:
            if (r.code != 250) {
                host_error_ = make_reply(r);
                return quit(out);
            }
            caps_ = {};
            return after_capabilities(out);

        case state::starttls:
            if (r.code == 220) {
                state_ = state::ehlo;
                return client_step::start_tls;
            }
            if (p_.tls == tls_policy::required) {
                host_error_ = make_reply(r);
                return quit(out);
            }
            return begin_transaction(out);

        case state::transaction: {
            if (due_.empty()) return quit(out);  // cannot happen: every command sent expects a reply
            expect e = due_.front();
            due_.erase(due_.begin());
            if (!due_.empty() && due_.front() == expect::data) wait_ = client_wait::data_init;
            switch (e) {
                case expect::mail:
                    mail_ok_ = r.positive() && r.code < 300;
                    if (!mail_ok_) {
                        set_all(class_of(r) == rcpt_outcome::delivered ? rcpt_outcome::temporary : class_of(r),
                                make_reply(r), false);
                        if (!pipelined_) return quit(out);
                        return client_step::wait;
                    }
                    if (!pipelined_) {
                        send_rcpt(0, out);
                        due_.push_back(expect::rcpt);
                        return client_step::send;
                    }
                    return client_step::wait;

                case expect::rcpt: {
                    std::size_t i = next_rcpt_++;
                    if (mail_ok_ && i < accepted_.size()) {
                        if (r.code >= 200 && r.code < 300) {
                            accepted_[i] = true;
                        } else {
                            outcome_[i] = class_of(r);
                            reply_[i] = make_reply(r);
                        }
                    }
                    if (pipelined_) return client_step::wait;
                    if (next_rcpt_ < p_.recipients.size()) {
                        send_rcpt(next_rcpt_, out);
                        due_.push_back(expect::rcpt);
                        return client_step::send;
                    }
                    if (std::find(accepted_.begin(), accepted_.end(), true) == accepted_.end()) return quit(out);
                    out += "DATA\r\n";
                    due_.push_back(expect::data);
                    wait_ = client_wait::data_init;
                    return client_step::send;
                }

                case expect::data: {
                    bool any = mail_ok_ && std::find(accepted_.begin(), accepted_.end(), true) != accepted_.end();
                    if (r.code == 354) {
                        if (any) {
                            state_ = state::data_end;
                            wait_ = client_wait::data_end;
                            return client_step::send_data;
                        }
                        out += ".\r\n";  // RFC 2920 3.1: end the empty message; its reply is ignored
                        state_ = state::abort_data;
                        wait_ = client_wait::data_end;
                        return client_step::send;
                    }
                    if (any) {
                        set_all(class_of(r) == rcpt_outcome::delivered ? rcpt_outcome::temporary : class_of(r),
                                make_reply(r), true);
                    }
                    return quit(out);
                }
            }
            return quit(out);
        }

        case state::data_end:
            set_all(class_of(r), make_reply(r), true);
            return quit(out);

        case state::abort_data:
            return quit(out);

        case state::quit:
        case state::done:
            state_ = state::done;
            return client_step::done;
    }
    return client_step::done;
}

}  // namespace mailharness::smtp
