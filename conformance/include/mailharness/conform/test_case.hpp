// The declarative conformance case: one format for SMTP, POP3 and IMAP.
//
// A case is one YAML file (conformance/suites/<protocol>/<id>.yaml):
//
//   id: smtp-greeting                 # unique, [a-z0-9._-]
//   title: Server greets with 220
//   protocol: smtp                    # smtp | pop3 | imap
//   rfc: RFC 5321 4.3.1               # the section the case checks
//   level: MUST                       # MUST | SHOULD | MAY (RFC 2119)
//   category: protocol                # protocol | security | tls
//   tags: [session]                   # optional
//   requires: [PIPELINING]            # optional: EHLO keywords; skipped (not failed) when absent
//   destructive: false                # optional: delivers mail or changes state; opt-in
//   steps:
//     - connect: main                 # opens a connection (name optional, default "main")
//     - expect: "^220 "               # next reply must match (regex search, multi-line mode)
//       code: 220                     # optional: reply code, or a list [503, 554]
//     - send: "EHLO ${local_domain}"  # ${var} expanded; CRLF appended unless it ends in CRLF
//     - expect: "SIZE (\\d+)"
//       capture: {size: 1}            # var: group of the expect regex, or var: "own regex"
//     - send_raw: "DATA\r\n"          # ${var} expanded, nothing appended
//     - expect_not: "."               # no reply matching arrives within the quiet time
//     - starttls: true                # TLS handshake on the same socket
//     - use: other                    # switch to another open connection
//     - close: true                   # close the current connection
//     - expect_closed: true           # the server closes the connection (no data before EOF)
//
//     - send_file: fixtures/msg.eml   # a fixture beside the case: its bytes, ${var} expanded
//       crlf: true                    # optional: every bare LF sent as CRLF
//       expand: false                 # optional: send the file verbatim
//     - tls_check: chain              # judge the certificate of the TLS connection (see below)
//
// starttls also takes `tls_version: "1.1"` (offer only that version), `must_fail: true` (the
// handshake must be refused; the case ends there) and `verify: true` (verify the certificate even
// for an --insecure target) or `verify: false` (never verify: the handshake completes whatever the
// certificate, and tls_check steps judge it one property at a time).
//
// tls_check takes one of (RFC 5280 6.1, RFC 6125 6, RFC 8446 4.2.1):
//   validity   now is within [notBefore, notAfter] of the server certificate
//   hostname   the certificate names the target's tls_name (default: its host) in subjectAltName
//   chain      the certificates the server sent lead to a CA trusted by the target's cafile (or the
//              system store); time is not checked here, so an expired certificate fails only
//              `validity`
//   expiry     the certificate is still valid `days: N` days from now (default: the target's
//              cert_warn_days), e.g. as a SHOULD case warning of a certificate about to expire
//   version    the negotiated TLS version is at least `min: "1.3"` ("1.2" or "1.3")
//
// expect also takes `min_ms: 500` (the reply may not come sooner than that after the last send:
// throttling), `timeout_ms: 30000` (wait that long for this reply instead of the target's
// timeout: a slow reply expected on purpose), `exact: true` (the whole reply text must equal the
// string, after expansion), `absent: ["^250[- ]AUTH"]` (must-not-appear lines: none of these
// regexes may match the reply) and `skip_unless_match: true` (a mismatch skips the case instead
// of failing it, for optional server features such as a SIZE without a number). expect_closed
// also takes `timeout_ms`.
//
// Reply text as matched: every line of the reply as sent ("250-PIPELINING"), joined by "\n", no
// trailing newline. Variables: ${name}, ${name+N} (integer addition), ${repeat:N:text}.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mailharness::conform {

enum class protocol { smtp, pop3, imap };
/// RFC 2119 requirement level of what the case checks.
enum class level { must, should, may };
enum class category { protocol, security, tls };

const char* to_string(protocol p) noexcept;
const char* to_string(level l) noexcept;     ///< "MUST", "SHOULD", "MAY"
const char* to_string(category c) noexcept;

enum class step_kind { connect, use, send, send_raw, send_file, expect, expect_not, starttls, tls_check, close, expect_closed };

/// What a tls_check step judges.
enum class tls_check_kind { validity, hostname, chain, expiry, version };
const char* to_string(tls_check_kind k) noexcept;

const char* to_string(step_kind k) noexcept;

/// One capture of an expect step: variable `name` gets group `group` of the expect regex, or,
/// when `regex` is set, group 1 (or the whole match when it has no group) of that regex.
struct capture {
    std::string name;
    int group = 0;
    std::optional<std::string> regex;
};

struct step {
    step_kind kind = step_kind::send;
    int line = 0;               ///< 1-based line of the step in the case file
    /// connect/use: connection name; send, send_raw: payload; send_file: the file's bytes (read when
    /// the case is parsed); expect*: pattern
    std::string text;
    std::vector<int> codes;     ///< expect: allowed reply codes (empty: any)
    bool exact = false;         ///< expect/expect_not: compare the whole text instead of regex search
    bool skip_unless_match = false;
    std::vector<capture> captures;
    /// expect: the reply must not come sooner than this many ms after the last send (throttling).
    int min_ms = 0;
    /// starttls: offer exactly this TLS version ("1.0", "1.1", "1.2", "1.3"); empty: 1.2 and up.
    std::string tls_version;
    /// starttls: the handshake must fail (the server refuses what is offered).
    bool must_fail = false;
    /// starttls: true: verify the certificate even when the target is --insecure; false: never
    /// verify; unset: as the target says.
    std::optional<bool> verify;
    /// expect: none of these regexes may match the reply (must-not-appear lines).
    std::vector<std::string> absent;
    /// expect, expect_closed: how long to wait, in ms, instead of target::timeout; 0: the target's.
    int timeout_ms = 0;
    /// send_file: the fixture's path as resolved (for messages); bare LFs become CRLF; ${var}s expanded.
    std::string fixture;
    bool crlf = false;
    bool expand = true;
    /// tls_check: what to judge; `days` for expiry (0: the target's cert_warn_days), `min_version`
    /// for version ("1.2", "1.3").
    tls_check_kind check = tls_check_kind::validity;
    int days = 0;
    std::string min_version;
};

struct test_case {
    std::string file;  ///< where it was loaded from (for messages)
    std::string id;
    std::string title;
    conform::protocol protocol = conform::protocol::smtp;
    std::string rfc;
    conform::level level = conform::level::must;
    conform::category category = conform::category::protocol;
    std::vector<std::string> tags;
    std::vector<std::string> requires_caps;  ///< upper case
    bool destructive = false;
    std::vector<step> steps;

    bool has_step(step_kind k) const noexcept;
};

/// The longest regular expression a case may use (expect, expect_not, absent, capture), checked
/// when the case is parsed and again after ${var} expansion. Regexes are RE2 syntax (linear-time
/// matching, no backreferences or lookaround), multi-line (^ and $ at line boundaries).
inline constexpr std::size_t max_regex_size = 1024;

/// A case file that cannot be used. what() is "file:line: message" (line omitted when unknown).
class case_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Parses one case from YAML text. `file` names it in errors, and send_file paths are relative to
/// its directory. Throws case_error on any problem: YAML syntax, a missing or unknown key, a bad
/// value, an invalid regex or one over max_regex_size, a step before connect, a fixture that cannot
/// be read (or over 16 MiB).
test_case parse_case(const std::string& yaml_text, const std::string& file);

/// Reads and parses one file. Throws case_error.
test_case load_case(const std::string& path);

/// Every *.yaml / *.yml file under `dir` (recursively), sorted by path; fixtures are files with
/// other extensions. Throws case_error on the first bad file, on duplicate ids, or when `dir` does
/// not exist.
std::vector<test_case> load_suite(const std::string& dir);

}  // namespace mailharness::conform
