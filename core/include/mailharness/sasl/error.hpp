// Error codes of the SASL layer (RFC 4422): base64, message syntax, credential checks, SCRAM.
//
// No function in mailharness::sasl throws on bad input; every failure is one of these values.
// Values that tell why an authentication failed (unknown_user, authentication_failed, ...) are for
// the server's log. A protocol layer must not echo them to the client: it replies with one
// generic failure (SMTP 535, IMAP NO, POP3 -ERR) whatever the reason.
#pragma once

#include <system_error>

namespace mailharness::sasl {

enum class errc {
    /// A character outside the base64 alphabet (RFC 4648 section 4), or a length that no
    /// padded encoding can have (1 mod 4).
    bad_base64 = 1,
    /// '=' padding missing, misplaced or more than two.
    bad_base64_padding,
    /// The unused bits of the last character are not zero (RFC 4648 section 3.5), so the text is
    /// not the canonical encoding of any octets.
    base64_noncanonical,
    /// Decoding would produce more octets than the caller's limit.
    base64_too_large,
    /// A client response (server side) or server challenge (client side) is larger than the
    /// mechanism's limits.
    message_too_large,
    /// An identity, password or other field is longer than limits allow.
    field_too_long,
    /// A message does not follow its mechanism's syntax.
    malformed_message,
    /// An identity or password that must be UTF-8 (RFC 4616, RFC 5802) is not.
    invalid_utf8,
    /// A server-first mechanism (CRAM-MD5) was given an initial response (RFC 4422 section 3.3).
    unexpected_initial_response,
    /// start()/step()/finish() called in the wrong order, or after the exchange ended.
    out_of_sequence,
    /// The client cancelled the exchange with "*" (RFC 4954 section 4, RFC 3501 6.2.2).
    cancelled,
    /// The proof of identity (password, digest, ClientProof) is wrong.
    authentication_failed,
    /// The credential lookup does not know the authentication identity.
    unknown_user,
    /// The user exists but the lookup has no secret this mechanism can use (e.g. only a
    /// one-way hash for CRAM-MD5).
    secret_unavailable,
    /// The authentication identity may not act as the requested authorization identity.
    authorization_failed,
    /// SCRAM: the client asked for channel binding ('p=') that this server or mechanism does not
    /// offer (RFC 5802 section 6).
    channel_binding_not_supported,
    /// SCRAM: the channel binding data ('c=') does not match the gs2 header and binding data.
    channel_binding_mismatch,
    /// SCRAM: the client said 'y' (it thinks the server lacks channel binding) but this server
    /// advertises SCRAM-SHA-256-PLUS: a downgrade (RFC 5802 section 6).
    channel_binding_downgrade,
    /// SCRAM: a mandatory extension ('m=') was sent; none is supported (RFC 5802 section 5.1).
    extensions_not_supported,
    /// SCRAM: the nonce does not continue the one sent before.
    nonce_mismatch,
    /// SCRAM client: the server's iteration count is outside client_limits.
    bad_iteration_count,
    /// SCRAM client: the server's ServerSignature ('v=') is wrong: the server does not know the
    /// password.
    server_signature_mismatch,
    /// SCRAM client: the server reported success without sending its ServerSignature.
    server_signature_missing,
    /// SCRAM client: the server sent a server-error ('e=') in its final message.
    server_error,
    /// The mechanism name is not one this library implements.
    unsupported_mechanism,
    /// OpenSSL failed (allocation, provider missing) or a test seam gave unusable output.
    internal_error,
};

const std::error_category& sasl_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace mailharness::sasl

template <>
struct std::is_error_code_enum<mailharness::sasl::errc> : std::true_type {};
