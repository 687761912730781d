#include "mailharness/smtp/data.hpp"

#include <algorithm>
#include <cstring>

#include "mailharness/smtp/error.hpp"

namespace mailharness::smtp {

void data_decoder::reset() noexcept {
    state_ = state::line_start;
    may_end_ = true;
    size_ = 0;
    bare_lf_ = 0;
    bare_cr_ = 0;
}

std::error_code data_decoder::result() const noexcept {
    if (too_big()) return errc::message_too_big;
    if (!limits_.normalize_bare_line_endings) {
        if (bare_lf_) return errc::bare_lf_in_data;
        if (bare_cr_) return errc::bare_cr_in_data;
    }
    return {};
}

void data_decoder::emit(std::string& out, const char* p, std::size_t n) {
    std::uint64_t before = size_;
    size_ += n;
    if (limits_.max_message_size == 0) {
        out.append(p, n);
        return;
    }
    if (before >= limits_.max_message_size) return;
    std::uint64_t room = limits_.max_message_size - before;
    out.append(p, static_cast<std::size_t>(std::min<std::uint64_t>(n, room)));
}

std::size_t data_decoder::put(std::string_view in, std::string& out) {
    const char* const begin = in.data();
    const char* const end = begin + in.size();
    const char* p = begin;
    const char* run = p;  // start of input not yet emitted
    const bool normalize = limits_.normalize_bare_line_endings;
    auto flush = [&](const char* upto) {
        if (upto > run) emit(out, run, static_cast<std::size_t>(upto - run));
        run = upto;
    };
    // A bare CR/LF ends the line for dot-stuffing purposes, never for end-of-data.
    auto bare_line_end = [&]() {
        state_ = state::line_start;
        may_end_ = false;
    };

    while (p < end && state_ != state::done) {
        switch (state_) {
            case state::line_start:
                if (*p == '.') {
                    flush(p);
                    run = ++p;  // drop the stuffing dot
                    state_ = state::dot;
                } else {
                    state_ = state::mid;
                }
                break;

            case state::dot:
                if (*p == '\r') {
                    flush(p);
                    run = ++p;  // hold the CR back: ".\r\n" may be the end marker
                    state_ = state::dot_cr;
                } else if (*p == '\n') {
                    // "." then bare LF: keep the line as "." (it cannot end the data).
                    flush(p);
                    ++bare_lf_;
                    emit(out, normalize ? ".\r\n" : ".\n", normalize ? 3 : 2);
                    run = ++p;
                    bare_line_end();
                } else {
                    state_ = state::mid;
                }
                break;

            case state::dot_cr:
                if (*p == '\n') {
                    if (may_end_) {
                        ++p;
                        run = p;
                        state_ = state::done;
                        break;
                    }
                    // "." CRLF after a bare line ending: an ordinary line holding ".".
                    emit(out, ".\r\n", 3);
                    run = ++p;
                    state_ = state::line_start;
                    may_end_ = true;
                } else {
                    ++bare_cr_;
                    if (normalize) {
                        emit(out, "\r\n", 2);
                        bare_line_end();
                    } else {
                        emit(out, "\r", 1);
                        state_ = state::mid;
                    }
                }
                break;

            case state::cr:
                // The CR that ended the previous chunk was emitted already.
                if (*p == '\n') {
                    ++p;
                    state_ = state::line_start;
                    may_end_ = true;
                } else {
                    ++bare_cr_;
                    if (normalize) {
                        flush(p);
                        emit(out, "\n", 1);
                        bare_line_end();
                    } else {
                        state_ = state::mid;
                    }
                }
                break;

            case state::mid: {
                const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
                const char* seg_end = lf ? lf : end;
                // CRs before the line end are bare; the one right before LF (or at the end of the
                // chunk, where its LF may follow) is not decided here.
                const char* scan_end = seg_end;
                if (scan_end > p && scan_end[-1] == '\r') --scan_end;
                const char* q = p;
                bool restarted = false;
                while (q < scan_end) {
                    const auto* cr = static_cast<const char*>(std::memchr(q, '\r', static_cast<std::size_t>(scan_end - q)));
                    if (!cr) break;
                    ++bare_cr_;
                    if (normalize) {
                        flush(cr + 1);
                        emit(out, "\n", 1);
                        p = cr + 1;
                        bare_line_end();
                        restarted = true;
                        break;
                    }
                    q = cr + 1;
                }
                if (restarted) break;
                if (!lf) {
                    p = end;
                    if (end[-1] == '\r') state_ = state::cr;
                    break;
                }
                if (lf > p && lf[-1] == '\r') {
                    p = lf + 1;
                    state_ = state::line_start;
                    may_end_ = true;
                } else {
                    ++bare_lf_;
                    if (normalize) {
                        flush(lf);
                        emit(out, "\r\n", 2);
                        run = lf + 1;
                    }
                    p = lf + 1;
                    bare_line_end();
                }
                break;
            }

            case state::done:
                break;
        }
    }
    if (state_ != state::done) flush(p);
    return static_cast<std::size_t>(p - begin);
}

void data_encoder::put(std::string_view in, std::string& out) {
    const bool normalize = options_.normalize_line_endings;
    const char* p = in.data();
    const char* const end = p + in.size();
    const char* run = p;
    auto flush = [&](const char* upto) {
        if (upto > run) out.append(run, static_cast<std::size_t>(upto - run));
        run = upto;
    };
    while (p < end) {
        char c = *p;
        if (pending_cr_) {
            pending_cr_ = false;
            if (c == '\n') {
                ++p;
                line_start_ = true;
                continue;
            }
            if (normalize) {
                flush(p);
                out.push_back('\n');
                line_start_ = true;
            }
        }
        if (line_start_) {
            line_start_ = false;
            if (c == '.') {
                flush(p);
                out.push_back('.');
            }
        }
        if (c == '\r') {
            pending_cr_ = true;
        } else if (c == '\n') {
            if (normalize) {
                flush(p);
                out.push_back('\r');
            }
            line_start_ = true;
        } else {
            // Fast forward over ordinary bytes.
            const char* q = p + 1;
            while (q < end && *q != '\r' && *q != '\n') ++q;
            p = q;
            continue;
        }
        ++p;
    }
    flush(end);
}

void data_encoder::finish(std::string& out) {
    if (pending_cr_) {
        out.push_back('\n');
        pending_cr_ = false;
        line_start_ = true;
    }
    if (!line_start_) out.append("\r\n");
    out.append(".\r\n");
    reset();
}

std::string encode_data(std::string_view message, data_encode_options options) {
    std::string out;
    out.reserve(message.size() + message.size() / 64 + 8);
    data_encoder enc(options);
    enc.put(message, out);
    enc.finish(out);
    return out;
}

}  // namespace mailharness::smtp
