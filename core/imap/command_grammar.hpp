// Command grammar over the tokens of one command (RFC 3501 section 9). Private to core/imap.
#pragma once

#include <vector>

#include "detail/wire.hpp"
#include "mailharness/imap/command.hpp"

namespace mailharness::imap::detail {

struct grammar_result {
    errc error = ok;
    /// Partial mode: the pending literal at the end is the APPEND message.
    bool message_literal = false;
};

/// Parses `toks` (views into `base`) into `out`. In partial mode the last token is the literal
/// being announced; running into it is not an error (the command is incomplete), and when it is
/// the APPEND message, message_literal is set and out's append_args are filled.
grammar_result parse_command_tokens(const std::vector<token>& toks, const char* base, bool partial,
                                    const command_limits& limits, command& out);

}  // namespace mailharness::imap::detail
