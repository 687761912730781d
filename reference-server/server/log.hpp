// refmaild's log: one line per session event on stderr, "refmaild: <level> key=value ...".
// One logger per server (its level is the server's, not a global); thread-safe.
#pragma once

#include <mutex>
#include <string>

#include "mailharness/refmaild/settings.hpp"

namespace mailharness::refmaild {

class logger {
public:
    explicit logger(config::log_level threshold) : threshold_(threshold) {}
    bool enabled(config::log_level level) const noexcept { return level >= threshold_; }
    void log(config::log_level level, const std::string& line) const;
    void info(const std::string& line) const { log(config::log_level::info, line); }
    void warn(const std::string& line) const { log(config::log_level::warn, line); }
    void error(const std::string& line) const { log(config::log_level::error, line); }
    void debug(const std::string& line) const { log(config::log_level::debug, line); }

private:
    config::log_level threshold_;
    mutable std::mutex mutex_;
};

/// `text` quoted for a log value: "..." with \" and \\ escaped and control characters as \xNN,
/// so a client cannot forge log lines with CR/LF in what it sends.
std::string log_quote(std::string_view text);

}  // namespace mailharness::refmaild
