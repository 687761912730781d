#include "mailharness/load/message.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "mailharness/smtp/data.hpp"

namespace mailharness::load {

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t max_eml_total = 256u << 20;

// Lines of base64-like text: what a message body of attachments looks like to a server, and
// never a '.' (so no dot-stuffing) or a byte a server could object to.
std::string make_text(std::uint64_t size, std::uint64_t seed) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::uint64_t lines = size / generated_line_length + 1;
    std::string t;
    t.resize(lines * generated_line_length);
    rng r(seed);
    char* p = t.data();
    for (std::uint64_t i = 0; i < lines; ++i) {
        for (std::size_t k = 0; k < generated_line_length - 2; k += 8) {
            std::uint64_t bits = r.next();
            for (std::size_t j = 0; j < 8 && k + j < generated_line_length - 2; ++j, bits >>= 6) p[k + j] = alphabet[bits & 63];
        }
        p[generated_line_length - 2] = '\r';
        p[generated_line_length - 1] = '\n';
        p += generated_line_length;
    }
    return t;
}

std::string to_crlf(std::string_view in) {
    std::string out;
    out.reserve(in.size() + in.size() / 32 + 2);
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '\r') {
            out += "\r\n";
            if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
        } else if (c == '\n') {
            out += "\r\n";
        } else {
            out += c;
        }
    }
    if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
    return out;
}

void append_number(std::string& out, std::uint64_t n) {
    char buf[24];
    int len = 0;
    do {
        buf[len++] = static_cast<char>('0' + n % 10);
        n /= 10;
    } while (n);
    while (len) out.push_back(buf[--len]);
}

}  // namespace

std::unique_ptr<message_source> message_source::make(const message_spec& spec, std::uint64_t seed, std::string& error) {
    std::unique_ptr<message_source> m(new message_source(spec));
    char date[64];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    m->date_ = date;
    if (!spec.eml_dir.empty()) {
        std::vector<fs::path> paths;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(spec.eml_dir, ec))
            if (e.path().extension() == ".eml" && e.is_regular_file()) paths.push_back(e.path());
        if (ec) {
            error = spec.eml_dir.string() + ": " + ec.message();
            return nullptr;
        }
        if (paths.empty()) {
            error = spec.eml_dir.string() + ": no .eml files";
            return nullptr;
        }
        std::sort(paths.begin(), paths.end());  // the same order everywhere, for determinism
        std::uint64_t total = 0;
        for (const auto& p : paths) {
            std::ifstream in(p, std::ios::binary);
            std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (!in && !in.eof()) {
                error = p.string() + ": cannot read";
                return nullptr;
            }
            total += text.size();
            if (total > max_eml_total) {
                error = spec.eml_dir.string() + ": more than 256 MiB of .eml files";
                return nullptr;
            }
            eml e;
            e.raw = to_crlf(text);
            // encode_data appends ".\r\n"; the engine writes the end of data itself.
            e.stuffed = smtp::encode_data(e.raw);
            e.stuffed.resize(e.stuffed.size() - 3);
            m->files_.push_back(std::move(e));
        }
        return m;
    }
    const std::uint64_t largest = spec.distribution == size_distribution::fixed ? spec.size : spec.max;
    m->text_ = make_text(largest, stream_seed(seed, 0x7e47));
    return m;
}

std::size_t message_source::footprint() const noexcept {
    std::size_t n = text_.size();
    for (const auto& f : files_) n += f.raw.size() + f.stuffed.size();
    return n;
}

std::uint64_t message_source::draw_size(rng& r) const {
    switch (spec_.distribution) {
        case size_distribution::fixed: return spec_.size;
        case size_distribution::uniform: return r.between(spec_.min, spec_.max);
        case size_distribution::lognormal: {
            const double v = spec_.median * std::exp(spec_.sigma * r.normal());
            const double c = std::clamp(v, static_cast<double>(spec_.min), static_cast<double>(spec_.max));
            return static_cast<std::uint64_t>(std::llround(c));
        }
    }
    return spec_.size;
}

message_parts message_source::build(rng& r, std::string_view from, std::string_view to, std::uint64_t number,
                                    std::string& scratch, bool stuffed) const {
    if (!files_.empty()) {
        const auto& f = files_[r.below(files_.size())];
        return {{}, stuffed ? std::string_view(f.stuffed) : std::string_view(f.raw), {}};
    }
    const std::uint64_t size = draw_size(r);
    scratch.clear();
    scratch += "From: <";
    scratch += from;
    scratch += ">\r\nTo: <";
    scratch += to;
    scratch += ">\r\nSubject: ";
    scratch += spec_.subject;
    scratch += "\r\nDate: ";
    scratch += date_;
    scratch += "\r\nMessage-ID: <";
    append_number(scratch, number);
    scratch += '.';
    append_number(scratch, r.next() >> 16);
    scratch += "@mailload.invalid>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n";
    const std::size_t head = scratch.size();
    // The rest: q whole lines of the shared text and one last line of t octets (>= 2 for CRLF).
    std::uint64_t rest = size > head ? size - head : 2;
    if (rest < 2) rest = 2;
    std::uint64_t q = rest / generated_line_length;
    std::uint64_t t = rest % generated_line_length;
    if (t == 1) {
        // a line cannot be one octet: borrow a whole line (79 octets stays far below 998)
        if (q > 0) --q, t += generated_line_length;
        else t = 2;
    }
    if (t > 0) {
        scratch.append(t - 2, 'x');
        scratch += "\r\n";
    }
    const std::string_view s(scratch);
    return {s.substr(0, head), std::string_view(text_).substr(0, q * generated_line_length), s.substr(head)};
}

}  // namespace mailharness::load
