#include "mailharness/load/actions.hpp"

#include <array>

namespace mailharness::load {

namespace {

using sv = std::string_view;

constexpr sv m_none[] = {""};
constexpr sv m_connect[] = {"smtp.connect", "smtp.tls_handshake", "smtp.greeting"};
constexpr sv m_ehlo[] = {"smtp.ehlo"};
constexpr sv m_helo[] = {"smtp.helo"};
constexpr sv m_starttls[] = {"smtp.starttls", "smtp.tls_handshake"};
constexpr sv m_auth[] = {"smtp.auth"};
constexpr sv m_mail[] = {"smtp.mail"};
constexpr sv m_rcpt[] = {"smtp.rcpt"};
constexpr sv m_data[] = {"smtp.data"};
constexpr sv m_bdat[] = {"smtp.bdat"};
constexpr sv m_send[] = {"smtp.message", "smtp.mail", "smtp.rcpt", "smtp.data", "smtp.bdat"};
constexpr sv m_rset[] = {"smtp.rset"};
constexpr sv m_noop[] = {"smtp.noop"};
constexpr sv m_quit[] = {"smtp.quit"};

const std::array<action_info, 15> table{{
    {action_kind::think, protocol::smtp, true, "think", std::span(m_none, 0), "pause: think: 100ms | {min, max} | {mean, distribution: exponential}"},
    {action_kind::group, protocol::smtp, true, "repeat", std::span(m_none, 0), "run nested steps: repeat: {count: N | {min, max}, steps: [...]}"},
    {action_kind::smtp_connect, protocol::smtp, false, "connect", m_connect, "TCP connect, TLS handshake for implicit TLS, the 220 greeting"},
    {action_kind::smtp_ehlo, protocol::smtp, false, "ehlo", m_ehlo, "EHLO {domain}; learns PIPELINING, CHUNKING, STARTTLS, AUTH"},
    {action_kind::smtp_helo, protocol::smtp, false, "helo", m_helo, "HELO {domain}"},
    {action_kind::smtp_starttls, protocol::smtp, false, "starttls", m_starttls, "STARTTLS and the TLS handshake (RFC 3207); send ehlo again after it"},
    {action_kind::smtp_auth, protocol::smtp, false, "auth", m_auth, "AUTH {mechanism: PLAIN|LOGIN|CRAM-MD5|SCRAM-SHA-256|SCRAM-SHA-256-PLUS, initial_response, users}"},
    {action_kind::smtp_mail, protocol::smtp, false, "mail", m_mail, "MAIL FROM {from, message}; picks the message for rcpt and data"},
    {action_kind::smtp_rcpt, protocol::smtp, false, "rcpt", m_rcpt, "RCPT TO, once per recipient {to, recipients}"},
    {action_kind::smtp_data, protocol::smtp, false, "data", m_data, "DATA, the message, '.'"},
    {action_kind::smtp_bdat, protocol::smtp, false, "bdat", m_bdat, "BDAT chunks {chunk_size} (RFC 3030)"},
    {action_kind::smtp_send, protocol::smtp, false, "send", m_send, "whole transactions {messages, pipelining, body: data|bdat, chunk_size, message, from, to, recipients}"},
    {action_kind::smtp_rset, protocol::smtp, false, "rset", m_rset, "RSET"},
    {action_kind::smtp_noop, protocol::smtp, false, "noop", m_noop, "NOOP"},
    {action_kind::smtp_quit, protocol::smtp, false, "quit", m_quit, "QUIT and close"},
}};

}  // namespace

std::span<const action_info> all_actions() noexcept { return table; }

const action_info* find_action(protocol p, std::string_view name) noexcept {
    for (const auto& a : table) {
        if (a.name == name && (a.neutral || a.proto == p)) return &a;
    }
    return nullptr;
}

const action_info& info(action_kind k) noexcept {
    for (const auto& a : table)
        if (a.kind == k) return a;
    return table[0];
}

}  // namespace mailharness::load
