// Fuzz target: RFC 5322 header section parser. Fed whole and in two pieces, it must agree.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mailharness/mail/header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace mailharness::mail;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    const header_limits limits{.max_size = 4096, .max_fields = 64};
    header_parser whole(limits);
    std::error_code ec1;
    std::size_t n = whole.put(in, ec1);
    if (n > in.size()) __builtin_trap();
    if (!ec1 && !whole.done()) whole.finish(ec1);

    header_parser split(limits);
    std::error_code ec2;
    std::size_t cut = size ? data[0] % (size + 1) : 0;
    split.put(in.substr(0, cut), ec2);
    if (!ec2 && !split.done()) split.put(in.substr(cut), ec2);
    if (!ec2 && !split.done()) split.finish(ec2);

    if (ec1 != ec2 || whole.done() != split.done()) __builtin_trap();
    if (whole.done()) {
        if (whole.fields().size() != split.fields().size() || whole.header_size() != split.header_size()) __builtin_trap();
        if (whole.header_size() > in.size() || whole.fields().size() > limits.max_fields) __builtin_trap();
        for (const auto& f : whole.fields()) {
            if (!is_field_name(f.name)) __builtin_trap();
            (void)unfold(f.value);
        }
    }
    return 0;
}
