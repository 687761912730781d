// Fuzz target: refmaild's YAML configuration (reference-server/config parse_config, including the
// processing `rules:` section). Bad input is a list of problems, never an exception; every problem
// has a message and a line inside the document; settings that parse cleanly validate cleanly
// again; the rule tree stays within the loader's limits and evaluates on a message made from the
// input.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/refmaild/config_loader.hpp"
#include "mailharness/refmaild/rules.hpp"

namespace config = mailharness::refmaild::config;
namespace rules = mailharness::refmaild::rules;

namespace {

// Counts conditions, rules and actions; traps past the loader's nesting limit (16, see
// config_loader.cpp) with some slack for the levels a condition adds inside a rule.
std::size_t count(const rules::condition& c, int depth) {
    if (depth > 40) __builtin_trap();
    std::size_t n = 1;
    for (const auto& ch : c.children) n += count(ch, depth + 1);
    return n;
}

std::size_t count(const std::vector<rules::rule>& list, int depth) {
    if (depth > 40) __builtin_trap();
    std::size_t n = 0;
    for (const auto& r : list) n += 1 + r.actions.size() + count(r.when, depth + 1) + count(r.rules, depth + 1);
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const config::config_result result = config::parse_config(in, "fuzz.yaml");

    int lines = 1;
    for (char c : in) lines += c == '\n' || c == '\r';
    for (const auto& p : result.problems) {
        if (p.message.empty() || p.file != "fuzz.yaml" || p.line < 0 || p.line > lines) __builtin_trap();
        (void)p.to_string();
    }
    for (const auto& [key, line] : result.key_lines) {
        if (key.empty() || line < 0 || line > lines) __builtin_trap();
    }
    if (!result.ok()) return 0;

    const auto again = config::validate(result.settings, "fuzz.yaml", result.key_lines);
    for (const auto& p : again) {
        if (p.is_error()) __builtin_trap();
    }

    // The loader's budget (1 MiB, 64 per condition, action or rule) allows 16384 nodes, aliases
    // expanded; more would mean the expansion is unbounded again.
    if (count(result.settings.rules.rules, 0) > 16'384) __builtin_trap();
    const std::vector<std::string> recipients{std::string(in.substr(0, 64)), "postmaster@example.test"};
    const std::vector<mailharness::mail::header_field> headers{{"Subject", std::string(in.substr(0, 128))},
                                                               {"X-Spam-Flag", "YES"}};
    const rules::message_facts facts{.client_ip = "192.0.2.7",
                                     .auth_user = in.substr(0, 32),
                                     .sender = in.substr(in.size() / 2),
                                     .recipients = &recipients,
                                     .headers = &headers,
                                     .size = size,
                                     .tls = size % 2 == 0};
    const auto decision = rules::evaluate(result.settings.rules, facts);
    if (decision.outcome == rules::decision::verdict::reject && (decision.code < 400 || decision.code > 599)) {
        __builtin_trap();
    }
    return 0;
}
