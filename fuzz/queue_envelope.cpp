// Fuzz target: queue envelope parser (reference-server/queue/envelope.hpp). Any input either
// fails with an envelope_errc or gives an envelope that serializes and parses back identically;
// feeding it in two chunks gives the same result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mailharness/refmaild/queue/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace mailharness::refmaild::queue;
    std::string_view in(reinterpret_cast<const char*>(data), size);
    const envelope_limits limits{.max_size = 1 << 16, .max_line = 1024, .max_recipients = 64, .max_field = 256};
    envelope whole;
    std::error_code ec = parse_envelope(in, whole, limits);
    if (ec && ec.category() != envelope_category()) __builtin_trap();

    envelope_parser split(limits);
    std::error_code sec;
    std::size_t half = size / 2;
    split.put(in.substr(0, half), sec);
    if (!sec) split.put(in.substr(half), sec);
    if (!sec) split.finish(sec);
    if (sec != ec) __builtin_trap();
    if (ec) return 0;
    if (!(split.get() == whole)) __builtin_trap();

    envelope again;
    if (parse_envelope(serialize(whole), again, {}) || !(again == whole)) __builtin_trap();
    return 0;
}
