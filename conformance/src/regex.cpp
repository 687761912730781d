#include "regex.hpp"

#include <re2/re2.h>

#include <stdexcept>

namespace mailharness::conform::detail {

namespace {

RE2::Options options() {
    RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(8 << 20);
    return o;
}

}  // namespace

std::string regex_error(const std::string& pattern) {
    RE2 re("(?m)" + pattern, options());
    return re.ok() ? std::string() : re.error();
}

bool regex_search(const std::string& text, const std::string& pattern, std::vector<std::optional<std::string>>* groups) {
    RE2 re("(?m)" + pattern, options());
    if (!re.ok()) throw std::invalid_argument("invalid regex /" + pattern + "/: " + re.error());
    const int n = 1 + re.NumberOfCapturingGroups();
    std::vector<re2::StringPiece> found(static_cast<std::size_t>(n));
    if (!re.Match(text, 0, text.size(), RE2::UNANCHORED, found.data(), n)) return false;
    if (groups) {
        groups->clear();
        for (const auto& g : found) {
            if (g.data() == nullptr) {
                groups->push_back(std::nullopt);
            } else {
                groups->push_back(std::string(g.data(), g.size()));
            }
        }
    }
    return true;
}

}  // namespace mailharness::conform::detail
