#include "mailharness/pop3/capability.hpp"

#include <algorithm>

#include "detail/ascii.hpp"
#include "mailharness/pop3/response.hpp"

namespace mailharness::pop3 {

std::vector<capability> parse_capabilities(std::string_view body, std::error_code& ec) {
    ec.clear();
    std::vector<capability> caps;
    for (std::string_view line : body_lines(body)) {
        bool printable = std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || detail::is_vchar(c); });
        if (line.empty() || line.front() == ' ' || !printable) {
            if (!ec) ec = errc::invalid_capability;
            continue;
        }
        capability cap;
        std::size_t sp = line.find(' ');
        cap.name.assign(line.substr(0, sp));
        std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
        while (!rest.empty()) {
            std::size_t next = rest.find(' ');
            std::string_view param = rest.substr(0, next);
            if (!param.empty()) cap.params.emplace_back(param);
            rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
        }
        caps.push_back(std::move(cap));
    }
    return caps;
}

const capability* find_capability(std::span<const capability> caps, std::string_view name) noexcept {
    for (const auto& c : caps) {
        if (detail::iequals(c.name, name)) return &c;
    }
    return nullptr;
}

}  // namespace mailharness::pop3
