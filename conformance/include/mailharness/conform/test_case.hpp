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
// starttls also takes `tls_version: "1.1"` (offer only that version), `must_fail: true` (the
// handshake must be refused; the case ends there) and `verify: true` (verify the certificate even
// for an --insecure target).
//
// expect also takes `min_ms: 500` (the reply may not come sooner than that after the last send:
// throttling), `exact: true` (the whole reply text must equal the string, after expansion)
// and `skip_unless_match: true` (a mismatch skips the case instead of failing it, for optional
// server features such as a SIZE without a number).
//
// Reply text as matched: every line of the reply as sent ("250-PIPELINING"), joined by "\n", no
// trailing newline. Variables: ${name}, ${name+N} (integer addition), ${repeat:N:text}.
#pragma once

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

enum class step_kind { connect, use, send, send_raw, expect, expect_not, starttls, close, expect_closed };

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
    std::string text;           ///< connect/use: connection name; send*: payload; expect*: pattern
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
    /// starttls: verify the certificate even when the target is --insecure.
    bool verify = false;
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

/// A case file that cannot be used. what() is "file:line: message" (line omitted when unknown).
class case_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Parses one case from YAML text. `file` names it in errors. Throws case_error on any problem:
/// YAML syntax, a missing or unknown key, a bad value, an invalid regex, a step before connect.
test_case parse_case(const std::string& yaml_text, const std::string& file);

/// Reads and parses one file. Throws case_error.
test_case load_case(const std::string& path);

/// Every *.yaml / *.yml file under `dir` (recursively), sorted by path. Throws case_error on the
/// first bad file, on duplicate ids, or when `dir` does not exist.
std::vector<test_case> load_suite(const std::string& dir);

}  // namespace mailharness::conform
