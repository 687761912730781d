// Quantities written in scenario files and on the command line: durations ("200ms", "1m30s"),
// sizes ("4KiB", "1MB") and rates ("100/s", "6000/m"). Parsers never throw; they return false
// on bad input and leave the output unchanged. Inputs are bounded (max_quantity_length).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailharness::load {

/// Durations in the scenario model; microseconds are the unit of every latency sample too.
using usec = std::chrono::microseconds;

/// Longest text accepted by the parsers below (anything longer is refused).
inline constexpr std::size_t max_quantity_length = 64;

/// A duration: one or more <number><unit> terms, units us, ms, s, m, h ("1m30s", "1.5s",
/// "250ms", "0"). A bare number is refused except 0 (units must be explicit). Negative values,
/// values above 100 days and overflow are refused.
bool parse_duration(std::string_view text, usec& out) noexcept;

/// An octet count: <number>[unit], units B, KB (1000), KiB (1024), MB, MiB, GB, GiB; a bare
/// integer means octets. Fractions are allowed with a unit ("1.5KiB" = 1536). At most 2^40.
bool parse_size(std::string_view text, std::uint64_t& out) noexcept;

/// An event rate in events per second: "<number>/s", "<number>/m", "<number>/h", or a bare
/// number (per second). Finite and >= 0, at most 10^7 per second.
bool parse_rate(std::string_view text, double& out) noexcept;

/// Human forms for reports: "1.25s", "830us", "12.4ms", "2m03s"; "4.0KiB".
std::string format_duration(usec d);
std::string format_micros(double us);
std::string format_size(std::uint64_t octets);

}  // namespace mailharness::load
