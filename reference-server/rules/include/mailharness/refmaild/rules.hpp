// Processing rules: an ordered, nested list of conditions and actions that refmaild evaluates for
// every incoming message, after DATA and before delivery (compare Sieve, RFC 5228, and Postfix's
// header_checks; this is the small, safe subset a server operator needs).
//
//   rules:
//     - name: big-from-outside            # names appear in logs and in the Received trace
//       if: {all: [{not: {client_ip: [10.0.0.0/8]}}, {size_over: 10M}]}
//       then: [{reject: "552 5.3.4 Too big for mail from outside"}]
//     - name: spam-to-junk
//       if: {header: {name: X-Spam-Flag, matches: "^(?i)yes$"}}
//       then: [{file_into: Junk}, {add_header: "X-Rule: spam-to-junk"}, stop]
//     - name: internal
//       if: {client_ip: [10.0.0.0/8]}
//       rules:                            # evaluated only when the parent matched
//         - if: {recipient: "*@lists.example.com"}
//           then: [discard]
//
// Evaluation: rules run in order. When a rule's condition holds, its actions run in order, then
// its nested rules. reject (a 4xx/5xx reply) and discard (accept, deliver nothing) end the
// evaluation at once; stop ends it after the current action; file_into sets the folder (the last
// one wins); add_header adds a field at the top of the message. Strings are matched with
// case-insensitive wildcards ('*', '?'); header values with RE2 regular expressions, which run in
// linear time, so a hostile message cannot make a rule slow. Nothing here does I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/mail/header.hpp"
#include "mailharness/refmaild/access_list.hpp"
#include "mailharness/smtp/reply.hpp"

namespace re2 {
class RE2;
}

namespace mailharness::refmaild::rules {

struct condition {
    enum class kind {
        always,         ///< true
        all,            ///< every child holds (true when there are none)
        any,            ///< at least one child holds
        negate,         ///< the single child does not hold
        client_ip,      ///< the client IP is in one of `networks`
        authenticated,  ///< the client authenticated (flag) or not (!flag)
        auth_user,      ///< the authenticated user matches `pattern`
        sender,         ///< the envelope sender matches `pattern` ("" for the null sender)
        recipient,      ///< at least one envelope recipient matches `pattern`
        header,         ///< a field named `header_name` exists and (if `regex`) its unfolded value matches
        size_over,      ///< message size in octets > `size`
        size_under,     ///< message size in octets < `size`
        tls,            ///< the session is (flag) or is not (!flag) encrypted
    };
    kind type = kind::always;
    std::vector<condition> children;
    std::vector<policy::ip_network> networks;
    std::string pattern;  ///< wildcard pattern, lower case
    std::string header_name;
    std::shared_ptr<const re2::RE2> regex;  ///< shared so that settings stay copyable
    std::uint64_t size = 0;
    bool flag = true;
};

struct action {
    enum class kind { reject, discard, file_into, add_header, stop };
    kind type = kind::stop;
    int code = 0;                 ///< reject: 4xx or 5xx
    smtp::enhanced_status status; ///< reject
    std::string text;             ///< reject: reply text; add_header: the field value
    std::string name;             ///< file_into: folder; add_header: field name
};

struct rule {
    std::string name;  ///< optional; "rule N" in logs when empty
    condition when;
    std::vector<action> actions;
    std::vector<rule> rules;  ///< nested rules
};

struct rule_set {
    std::vector<rule> rules;
    bool empty() const noexcept { return rules.empty(); }
};

/// What the rules know about a message.
struct message_facts {
    std::string_view client_ip;
    std::string_view auth_user;  ///< empty when not authenticated
    std::string_view sender;     ///< "" for the null sender
    const std::vector<std::string>* recipients = nullptr;
    const std::vector<mail::header_field>* headers = nullptr;
    std::uint64_t size = 0;
    bool tls = false;
};

struct decision {
    enum class verdict { deliver, reject, discard };
    verdict outcome = verdict::deliver;
    int code = 0;                  ///< reject
    smtp::enhanced_status status;  ///< reject
    std::string text;              ///< reject
    std::string folder;            ///< deliver: Maildir++ folder, "" for the INBOX
    /// deliver: fields to add at the top, in order ("Name: value" without CRLF).
    std::vector<std::string> added_headers;
    /// Names of the rules whose conditions held, in evaluation order.
    std::vector<std::string> matched;
};

/// Evaluates the rules for one message.
decision evaluate(const rule_set& rules, const message_facts& facts);

/// Parses a reply such as "550 5.7.1 Not here" for a reject action: code 400-599, an optional
/// enhanced status of the same class, printable ASCII text. False when malformed.
bool parse_reject(std::string_view text, action& out);

/// Compiles an RE2 pattern; nullptr and `error` set when it does not compile.
std::shared_ptr<const re2::RE2> compile_regex(const std::string& pattern, std::string& error);

/// True when `s` may be used as a folder name by file_into (Maildir++ parts separated by '.').
bool valid_folder(std::string_view s) noexcept;

/// Case-insensitive wildcard match ('*' any run, '?' one character); `pattern` is lower case.
bool wildcard_match(std::string_view pattern, std::string_view text) noexcept;

}  // namespace mailharness::refmaild::rules
