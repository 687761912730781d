// Fuzz target: a stream of POP3 responses through response_parser. Checks that streamed body
// chunks add up to the body and that every response re-serializes and parses back the same.
// Byte 0: chunk size; byte 1: bit 0 reject bare LF, bit 1 drop body, bits 2-7 which responses
// are expected to be multi-line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/pop3/response.hpp"

namespace pop3 = mailharness::pop3;

namespace {

pop3::expect expectation(std::uint8_t flags, std::size_t index) {
    return (flags >> (2 + index % 6)) & 1 ? pop3::expect::multi_line : pop3::expect::single_line;
}

// Serializes a parsed response with the server-side writer and parses it again.
void round_trip(const pop3::response& r, pop3::expect e) {
    std::string wire;
    if (pop3::write_status(wire, r.status, r.text, r.resp_code)) __builtin_trap();
    if (r.multi_line) pop3::write_body(wire, r.body);

    pop3::response_parser p({.reject_bare_lf = true});
    p.start(e);
    std::string_view in = wire;
    while (!in.empty() && !p.done()) {
        std::error_code ec;
        std::size_t n = p.put(in, ec);
        if (ec || n == 0) __builtin_trap();
        in.remove_prefix(n);
    }
    const auto& g = p.get();
    if (!p.done() || !in.empty()) __builtin_trap();
    if (g.status != r.status || g.resp_code != r.resp_code || g.text != r.text || g.body != r.body) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    std::size_t chunk = 1 + data[0] % 17;
    std::uint8_t flags = data[1];
    pop3::response_limits limits{.max_line_length = 96,
                                 .max_body_size = 512,
                                 .reject_bare_lf = (flags & 1) != 0,
                                 .keep_body = (flags & 2) == 0};
    std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

    pop3::response_parser p(limits);
    std::size_t index = 0;
    p.start(expectation(flags, index));
    std::string streamed;
    while (!in.empty()) {
        std::string_view piece = in.substr(0, chunk);
        in.remove_prefix(piece.size());
        while (!piece.empty()) {
            std::error_code ec;
            std::size_t n = p.put(piece, ec);
            if (n > piece.size()) __builtin_trap();
            piece.remove_prefix(n);
            if (ec) {
                if (ec.category() != pop3::pop3_category()) __builtin_trap();
                std::error_code again;
                if (p.put("+OK\r\n", again) != 0 || again != ec) __builtin_trap();
                return 0;
            }
            if (n == 0) __builtin_trap();
            streamed.append(p.body_chunk());
            if (!p.done()) continue;

            const auto& r = p.get();
            if (r.status == pop3::status::none || r.body_size != streamed.size()) __builtin_trap();
            if (r.body_size > limits.max_body_size) __builtin_trap();
            if (limits.keep_body && r.body != streamed) __builtin_trap();
            if (!limits.keep_body && !r.body.empty()) __builtin_trap();
            if (r.multi_line && r.status != pop3::status::ok) __builtin_trap();
            if (r.status != pop3::status::continuation && r.text.size() > limits.max_status_line_length) {
                __builtin_trap();
            }
            // The writer turns bare LFs into CRLF, so only bodies without them come back unchanged.
            if (limits.keep_body && !r.bare_lf) round_trip(r, expectation(flags, index));
            std::error_code idle;
            if (p.put("+OK\r\n", idle) != 0 || idle) __builtin_trap();
            streamed.clear();
            p.start(expectation(flags, ++index));
        }
    }
    return 0;
}
