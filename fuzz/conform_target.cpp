// Fuzz target: mailconform's target file (conformance target.hpp parse_target). Bad input is a
// std::runtime_error naming the file, never a yaml-cpp exception or anything else;
// what loads is in range, gives the case variables, and loads the same way again.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "mailharness/conform/target.hpp"

namespace conform = mailharness::conform;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    conform::target t;
    t.tls_name = "kept.example";
    try {
        conform::parse_target(text, "fuzz.yaml", t);
    } catch (const YAML::Exception&) {
        __builtin_trap();  // must have become a runtime_error with the file name
    } catch (const std::runtime_error& e) {
        if (!std::string_view(e.what()).starts_with("fuzz.yaml")) __builtin_trap();
        return 0;
    }
    if (t.cert_warn_days < 1 || t.cert_warn_days > 3650 || t.timeout.count() < 0 || t.quiet_time.count() < 0) __builtin_trap();
    const auto vars = t.vars();
    if (vars.at("host") != t.host || vars.at("port") != std::to_string(t.port)) __builtin_trap();

    conform::target again;
    again.tls_name = "kept.example";
    conform::parse_target(text, "fuzz.yaml", again);
    if (again.host != t.host || again.port != t.port || again.tls != t.tls || again.timeout != t.timeout ||
        again.password != t.password) {
        __builtin_trap();
    }
    return 0;
}
