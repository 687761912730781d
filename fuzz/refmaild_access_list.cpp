// Fuzz target: refmaild's kill and accept files (reference-server/policy access_list::parse).
// Lines are independent: the whole text gives as many entries and problems as its lines parsed one
// by one, every problem names a line of the text in order, and a line accepted as an address,
// network, mailbox, domain or plain wildcard matches itself.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mailharness/refmaild/access_list.hpp"

namespace policy = mailharness::refmaild::policy;

namespace {

// What the parser keeps of a line: before '#', without surrounding blanks and CRs.
std::string_view entry_of(std::string_view line) {
    line = line.substr(0, line.find('#'));
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t' || line.front() == '\r')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    return line;
}

// A single accepted entry must match what it names.
void check_self_match(const policy::access_list& l, std::string_view e) {
    const std::string s(e);
    if (e.find_first_of("*?[") != std::string_view::npos) {
        // Without brackets or backslashes a wildcard pattern matches its own text.
        if (e.find_first_of("[\\") == std::string_view::npos &&
            (!l.matches_host(s) || !l.matches_address(s) || !l.matches_ip(s) || !l.has_host_entries())) {
            __builtin_trap();
        }
        return;
    }
    if (e.find(':') != std::string_view::npos || e.find_first_not_of("0123456789./") == std::string_view::npos) {
        // A network contains its own (host-bits-zero) address.
        if (!l.matches_ip(s.substr(0, s.find('/'))) || l.has_host_entries()) __builtin_trap();
        return;
    }
    if (e.find('@') != std::string_view::npos) {
        if (!l.matches_address(s) || l.has_host_entries()) __builtin_trap();
        return;
    }
    if (!l.has_host_entries()) __builtin_trap();
    if (e.front() == '.') {
        if (!l.matches_host("host" + s) || l.matches_host(s.substr(1))) __builtin_trap();
    } else if (!l.matches_host(s) || !l.matches_address("user@" + s)) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<policy::list_problem> problems;
    const auto whole = policy::access_list::parse(in, &problems);

    std::size_t lines = 0, entries = 0, bad = 0;
    for (std::string_view rest = in; !rest.empty();) {
        ++lines;
        const auto nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        std::vector<policy::list_problem> p;
        const auto one = policy::access_list::parse(line, &p);
        if (one.size() + p.size() > 1 || (entry_of(line).empty() && one.size() + p.size() != 0)) __builtin_trap();
        for (const auto& x : p) {
            if (x.line != 1 || x.message.empty()) __builtin_trap();
        }
        if (one.size() == 1) check_self_match(one, entry_of(line));
        entries += one.size();
        bad += p.size();
    }
    if (whole.size() != entries || problems.size() != bad) __builtin_trap();
    for (std::size_t i = 0; i < problems.size(); ++i) {
        if (problems[i].line < 1 || problems[i].line > lines) __builtin_trap();
        if (i > 0 && problems[i].line <= problems[i - 1].line) __builtin_trap();
    }

    // Queries with arbitrary text (a client's IP, host name or MAIL FROM) must be safe.
    const std::string_view probe = in.substr(0, in.find('\n'));
    (void)whole.matches_ip(probe);
    (void)whole.matches_host(probe);
    (void)whole.matches_address(probe);
    (void)policy::parse_ip(probe);
    return 0;
}
