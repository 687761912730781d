#include "mailharness/mail/header.hpp"

#include "mailharness/detail/ascii.hpp"

namespace mailharness::mail {

namespace {

class header_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "mail.header"; }
    std::string message(int ev) const override {
        switch (static_cast<header_errc>(ev)) {
            case header_errc::header_too_big: return "message header too big";
            case header_errc::too_many_fields: return "too many header fields";
        }
        return "unknown header error";
    }
};

}  // namespace

const std::error_category& header_category() noexcept {
    static const header_category_impl c;
    return c;
}

std::error_code make_error_code(header_errc e) noexcept { return {static_cast<int>(e), header_category()}; }

bool is_field_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 996) return false;
    for (char c : name) {
        if (c < 33 || c > 126 || c == ':') return false;
    }
    return true;
}

header_parser::header_parser(header_limits limits) : limits_(limits) {}

void header_parser::reset() {
    line_.clear();
    fields_.clear();
    seen_ = header_size_ = 0;
    done_ = failed_ = false;
}

bool header_parser::take_line(std::string_view line, std::size_t raw_size, std::error_code& ec) {
    if (line.empty()) {
        header_size_ = seen_ + raw_size;
        return false;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !fields_.empty()) {
        fields_.back().value += "\r\n";
        fields_.back().value += line;
    } else {
        auto colon = line.find(':');
        // Not a field: the body starts here (the header had no empty line).
        if (colon == std::string_view::npos || !is_field_name(line.substr(0, colon))) {
            header_size_ = seen_;
            return false;
        }
        if (fields_.size() >= limits_.max_fields) {
            ec = header_errc::too_many_fields;
            return false;
        }
        fields_.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    }
    seen_ += raw_size;
    return true;
}

std::size_t header_parser::put(std::string_view in, std::error_code& ec) {
    ec.clear();
    if (done_ || failed_) return 0;
    std::size_t pos = 0;
    while (pos < in.size()) {
        auto nl = in.find('\n', pos);
        std::size_t end = nl == std::string_view::npos ? in.size() : nl + 1;
        // Bound the buffered partial line as well as the total.
        if (seen_ + line_.size() + (end - pos) > limits_.max_size) {
            failed_ = true;
            ec = header_errc::header_too_big;
            return pos;
        }
        line_.append(in.substr(pos, end - pos));
        pos = end;
        if (nl == std::string_view::npos) break;
        std::string_view l(line_);
        std::size_t raw = l.size();
        l.remove_suffix(1);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        bool more = take_line(l, raw, ec);
        line_.clear();
        if (ec) {
            failed_ = true;
            return pos;
        }
        if (!more) {
            done_ = true;
            return pos;
        }
    }
    return pos;
}

void header_parser::finish(std::error_code& ec) {
    ec.clear();
    if (done_ || failed_) return;
    if (!line_.empty()) {
        std::string_view l(line_);
        std::size_t raw = l.size();
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        take_line(l, raw, ec);
        line_.clear();
        if (ec) {
            failed_ = true;
            return;
        }
    }
    if (header_size_ == 0) header_size_ = seen_;
    done_ = true;
}

const header_field* header_parser::find(std::string_view name) const noexcept {
    for (const auto& f : fields_) {
        if (mailharness::detail::iequals(f.name, name)) return &f;
    }
    return nullptr;
}

std::size_t header_parser::count(std::string_view name) const noexcept {
    std::size_t n = 0;
    for (const auto& f : fields_) n += mailharness::detail::iequals(f.name, name) ? 1 : 0;
    return n;
}

std::error_code parse_header(std::string_view message, std::vector<header_field>& fields, std::size_t* header_size,
                             header_limits limits) {
    header_parser p(limits);
    std::error_code ec;
    p.put(message, ec);
    if (!ec && !p.done()) p.finish(ec);
    if (ec) return ec;
    fields = p.fields();
    if (header_size) *header_size = p.header_size();
    return {};
}

std::string unfold(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (c == '\r' && i + 1 < value.size() && value[i + 1] == '\n') continue;
        if (c == '\n') continue;
        out += c;
    }
    auto ws = [](char c) { return c == ' ' || c == '\t'; };
    std::size_t b = 0, e = out.size();
    while (b < e && ws(out[b])) ++b;
    while (e > b && ws(out[e - 1])) --e;
    return out.substr(b, e - b);
}

}  // namespace mailharness::mail
