#include "wire.hpp"

#include <algorithm>
#include <cstring>

#include "chars.hpp"

namespace mailharness::imap::detail {

void framer::start() {
    buf_.clear();
    tail_.clear();
    chunk_ = {};
    frag_ = 0;
    line_bytes_ = 0;
    left_ = 0;
    mode_ = mode::line;
}

namespace {
constexpr std::size_t tail_keep = 24;  // "{" + 20 digits + "+}" + CR

void keep_tail(std::string& tail, std::string_view add) {
    if (add.size() >= tail_keep) {
        tail.assign(add.substr(add.size() - tail_keep));
        return;
    }
    tail.append(add);
    if (tail.size() > 2 * tail_keep) tail.erase(0, tail.size() - tail_keep);
}
}  // namespace

framer::result framer::step(std::string_view in) {
    chunk_ = {};
    if (in.empty()) return {};
    switch (mode_) {
        case mode::line: {
            std::size_t have = buf_.size() - frag_;
            std::size_t allowance = max_line - line_bytes_;  // content octets allowed, CR excluded
            std::size_t room = allowance + 1 - have;          // octets we may append (a CR included)
            std::size_t look = std::min(in.size(), room + 1);
            const void* p = std::memchr(in.data(), '\n', look);
            if (!p) {
                if (in.size() <= room) {
                    buf_.append(in);
                    return {in.size(), ev::need_more};
                }
                buf_.append(in.substr(0, room));
                return {room, ev::overflow};
            }
            std::size_t k = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
            buf_.append(in.substr(0, k));
            std::size_t len = buf_.size() - frag_;
            bool cr = len > 0 && buf_.back() == '\r';
            if (len - cr > allowance) return {k, ev::overflow};
            if (cr) buf_.pop_back();
            line_bytes_ += len - cr;
            return {k + 1, ev::line};
        }
        case mode::literal_store: {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
            buf_.append(in.substr(0, n));
            left_ -= n;
            if (left_ > 0) return {n, ev::need_more};
            mode_ = mode::line;
            frag_ = buf_.size();
            return {n, ev::literal_end};
        }
        case mode::literal_stream: {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
            chunk_ = in.substr(0, n);
            left_ -= n;
            if (left_ == 0) {
                mode_ = mode::line;
                frag_ = buf_.size();
            }
            return {n, ev::literal_chunk};
        }
        case mode::skip_line: {
            const void* p = std::memchr(in.data(), '\n', in.size());
            if (!p) {
                keep_tail(tail_, in);
                return {in.size(), ev::need_more};
            }
            std::size_t k = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
            keep_tail(tail_, in.substr(0, k));
            std::string_view t = tail_;
            if (!t.empty() && t.back() == '\r') t.remove_suffix(1);
            literal_header h = trailing_literal(t, command_side);
            tail_.clear();
            if (h.present && !h.overflow && (h.non_sync || !command_side)) {
                left_ = h.size;
                mode_ = h.size ? mode::skip_literal : mode::skip_line;
                return {k + 1, ev::need_more};
            }
            mode_ = mode::line;
            return {k + 1, ev::skip_end};
        }
        case mode::skip_literal: {
            std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
            left_ -= n;
            if (left_ == 0) mode_ = mode::skip_line;
            return {n, ev::need_more};
        }
    }
    return {};
}

void framer::begin_literal(std::uint64_t size, bool stream) {
    left_ = size;
    frag_ = buf_.size();
    if (size == 0) {
        mode_ = mode::line;
        return;
    }
    mode_ = stream ? mode::literal_stream : mode::literal_store;
}

void framer::skip_rest() {
    std::string_view frag(buf_.data() + frag_, buf_.size() - frag_);
    tail_.clear();
    keep_tail(tail_, frag);
    buf_.resize(frag_);
    mode_ = mode::skip_line;
}

void framer::skip_literal_then_rest(std::uint64_t size) {
    tail_.clear();
    left_ = size;
    mode_ = size ? mode::skip_literal : mode::skip_line;
}

literal_header trailing_literal(std::string_view s, bool allow_non_sync) noexcept {
    literal_header h;
    if (s.empty() || s.back() != '}') return h;
    s.remove_suffix(1);
    if (allow_non_sync && !s.empty() && s.back() == '+') {
        h.non_sync = true;
        s.remove_suffix(1);
    }
    std::size_t digits = 0;
    while (digits < s.size() && is_digit(s[s.size() - 1 - digits])) ++digits;
    if (digits == 0 || digits == s.size() || s[s.size() - 1 - digits] != '{') return {};
    h.present = true;
    if (!parse_u64(s.substr(s.size() - digits), h.size)) h.overflow = true;
    return h;
}

namespace {

// Words that open a "[section]" in which spaces and parentheses belong to the word.
bool opens_section(std::string_view w) {
    return iequals(w, "BODY") || iequals(w, "BODY.PEEK") || iequals(w, "BINARY") || iequals(w, "BINARY.PEEK") ||
           iequals(w, "BINARY.SIZE");
}

}  // namespace

errc tokenizer::run(std::string& buf, std::size_t off, bool after_literal, std::vector<token>& out,
                    literal_header& lit) {
    enum class expect { token, token_or_close, sep };
    expect e = after_literal ? expect::sep : expect::token;
    lit = {};
    char* b = buf.data();
    const std::size_t end = buf.size();
    std::size_t i = off;
    auto bad_octet = [this](char c) { return is_ctl(c) || (!allow_8bit && is_8bit(c)); };
    auto counted = [this]() { return ++count > max_arguments ? errc::too_many_arguments : ok; };
    while (i < end) {
        char c = b[i];
        if (e == expect::sep) {
            if (c == ' ') {
                e = expect::token;
                ++i;
                continue;
            }
            if (c == ')') {
                if (depth == 0) return errc::syntax_error;
                --depth;
                out.push_back({tok::rparen, false, i, 0, 0});
                ++i;
                continue;
            }
            return bad_octet(c) ? errc::invalid_character : errc::syntax_error;
        }
        if (c == ')') {
            if (e != expect::token_or_close || depth == 0) return errc::syntax_error;
            --depth;
            out.push_back({tok::rparen, false, i, 0, 0});
            ++i;
            e = expect::sep;
            continue;
        }
        if (c == '(') {
            if (++depth > max_depth) return errc::too_deep;
            out.push_back({tok::lparen, false, i, 0, 0});
            ++i;
            e = expect::token_or_close;
            continue;
        }
        if (c == ' ') return errc::syntax_error;
        if (auto r = counted(); r != ok) return r;
        if (c == '"') {
            std::size_t start = ++i, w = i;
            while (true) {
                if (i == end) return errc::syntax_error;
                char q = b[i];
                if (q == '"') {
                    ++i;
                    break;
                }
                if (q == '\\') {
                    if (i + 1 == end) return errc::syntax_error;
                    char n = b[i + 1];
                    if (n != '"' && n != '\\') return errc::syntax_error;
                    b[w++] = n;
                    i += 2;
                    continue;
                }
                if (bad_octet(q)) return errc::invalid_character;
                b[w++] = q;
                ++i;
            }
            out.push_back({tok::quoted, false, start, w - start, 0});
            e = expect::sep;
            continue;
        }
        if (c == '{') {
            literal_header h = trailing_literal(std::string_view(b + i, end - i), allow_non_sync);
            if (!h.present) return errc::syntax_error;
            lit = h;
            out.push_back({tok::pending, h.non_sync, end, 0, h.size});
            return ok;
        }
        // A word.
        std::size_t start = i;
        bool bracket = false;
        while (i < end) {
            char w = b[i];
            if (bracket) {
                if (w == ']') {
                    bracket = false;
                } else if (w == '"') {
                    ++i;
                    while (i < end && b[i] != '"') {
                        if (b[i] == '\\') ++i;
                        if (i < end && bad_octet(b[i])) return errc::invalid_character;
                        ++i;
                    }
                    if (i >= end) return errc::syntax_error;
                } else if (w == '{') {
                    return errc::syntax_error;
                } else if (bad_octet(w)) {
                    return errc::invalid_character;
                }
                ++i;
                continue;
            }
            if (w == ' ' || w == '(' || w == ')') break;
            if (w == '"' || w == '{') return errc::syntax_error;
            if (bad_octet(w)) return errc::invalid_character;
            if (w == '[' && opens_section(std::string_view(b + start, i - start))) bracket = true;
            ++i;
        }
        if (bracket) return errc::syntax_error;
        out.push_back({tok::word, false, start, i - start, 0});
        e = expect::sep;
    }
    if (e != expect::sep) return errc::syntax_error;
    return ok;
}

}  // namespace mailharness::imap::detail
