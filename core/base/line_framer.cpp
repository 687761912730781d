#include "mailharness/line_framer.hpp"

#include <cstring>

namespace mailharness {

namespace {

struct line_category_impl final : std::error_category {
    const char* name() const noexcept override { return "mailharness.line"; }
    std::string message(int ev) const override {
        switch (static_cast<line_errc>(ev)) {
            case line_errc::line_too_long: return "line too long";
            case line_errc::bare_lf: return "bare LF line ending";
            case line_errc::bare_cr: return "bare CR inside line";
        }
        return "unknown line error";
    }
};

}  // namespace

const std::error_category& line_category() noexcept {
    static const line_category_impl cat;
    return cat;
}

std::error_code make_error_code(line_errc e) noexcept { return {static_cast<int>(e), line_category()}; }

void line_framer::reset() noexcept {
    partial_.clear();
    line_ = {};
    has_line_ = false;
    discarding_ = false;
    clear_partial_ = false;
    length_seen_ = 0;
}

void line_framer::finish_line(std::string_view line, std::error_code& ec) {
    // `line` includes the terminating LF.
    line.remove_suffix(1);
    bool bare_lf = line.empty() || line.back() != '\r';
    if (!bare_lf) line.remove_suffix(1);
    line_ = line;
    has_line_ = true;
    if (bare_lf) {
        ec = line_errc::bare_lf;
    } else if (!line.empty() && std::memchr(line.data(), '\r', line.size()) != nullptr) {
        ec = line_errc::bare_cr;
    }
    if (line.size() > limits_.max_line_length) {
        // Only reachable when the whole line arrived in one chunk.
        length_seen_ = line.size();
        has_line_ = false;
        line_ = {};
        ec = line_errc::line_too_long;
    }
}

std::size_t line_framer::put(std::string_view in, std::error_code& ec) {
    ec.clear();
    has_line_ = false;
    line_ = {};
    if (clear_partial_) {
        partial_.clear();
        clear_partial_ = false;
    }
    if (in.empty()) return 0;

    const void* lf = std::memchr(in.data(), '\n', in.size());
    std::size_t take = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - in.data()) + 1 : in.size();

    if (discarding_) {
        if (lf) discarding_ = false;
        return take;
    }

    if (partial_.empty() && lf) {
        finish_line(in.substr(0, take), ec);
        return take;
    }

    // Content length of the line so far, not counting a trailing CR that may start a CRLF.
    std::size_t pending = partial_.size() + take;
    std::size_t content = pending - (lf ? 1 : 0);
    char last = lf ? (take >= 2 ? in[take - 2] : (partial_.empty() ? '\0' : partial_.back()))
                   : in[take - 1];
    if (last == '\r' && content > 0) --content;
    if (content > limits_.max_line_length) {
        length_seen_ = content;
        partial_.clear();
        discarding_ = lf == nullptr;
        ec = line_errc::line_too_long;
        return take;
    }
    partial_.append(in.data(), take);
    if (lf) {
        // partial_ holds the whole line; finish_line leaves line_ pointing into it until the next
        // put(), which clears it first.
        finish_line(partial_, ec);
        clear_partial_ = true;
    }
    return take;
}

}  // namespace mailharness
