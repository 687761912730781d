// SCRAM messages (RFC 5802 section 7) and the SCRAM-SHA-256 computations (RFC 5802 section 3,
// RFC 7677). The server and client mechanisms in server.hpp / client.hpp use these; they are
// public so that conformance tests can build and take apart messages of their own.
//
// Parsers take a whole decoded message (SASL delivers each one whole) and either fill the output
// struct or return an error; the output is unspecified after an error. Attribute order is the
// fixed order of the ABNF; extension attributes are accepted and ignored where the ABNF allows
// them, except 'm' (reserved-mext), which fails with errc::extensions_not_supported as section
// 5.1 requires. Every message must be valid UTF-8 without NUL (errc::invalid_utf8 /
// errc::malformed_message); every other syntax error is errc::malformed_message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "mailharness/sasl/credentials.hpp"
#include "mailharness/sasl/error.hpp"

namespace mailharness::sasl::scram {

/// gs2-cbind-flag (RFC 5802 section 7).
enum class cbind_flag {
    none,             ///< "n": the client does not support channel binding
    client_supports,  ///< "y": the client supports it but thinks the server does not
    used,             ///< "p=<type>": the client requires channel binding of that type
};

/// client-first-message = gs2-header client-first-message-bare.
struct client_first_message {
    cbind_flag flag = cbind_flag::none;
    std::string cbind_type;  ///< binding type after "p=", empty otherwise
    std::string authzid;     ///< decoded "a=" saslname, empty when absent
    std::string username;    ///< decoded "n=" saslname
    std::string nonce;       ///< c-nonce after "r="
    std::string gs2_header;  ///< the gs2-header as sent, e.g. "n,,"; the client echoes it in c=
    std::string bare;        ///< client-first-message-bare as sent, the first part of AuthMessage
};

/// server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions].
struct server_first_message {
    std::string nonce;            ///< client nonce followed by server nonce
    std::string salt;             ///< decoded salt (non-empty)
    std::uint32_t iterations = 0; ///< posit-number, no leading zeros, fits 32 bits
};

/// client-final-message = client-final-message-without-proof "," proof.
struct client_final_message {
    std::string channel_binding;  ///< decoded "c=": gs2-header followed by any binding data
    std::string nonce;            ///< "r=" nonce
    std::string proof;            ///< decoded "p=" ClientProof
    std::string without_proof;    ///< client-final-message-without-proof as sent (for AuthMessage)
};

/// server-final-message = (server-error / verifier) ["," extensions].
struct server_final_message {
    std::string verifier;  ///< decoded "v=" ServerSignature; empty when `error` is set
    std::string error;     ///< server-error-value after "e=", empty when a verifier was sent
};

std::error_code parse_client_first(std::string_view message, client_first_message& out);
std::error_code parse_server_first(std::string_view message, server_first_message& out);
std::error_code parse_client_final(std::string_view message, client_final_message& out);
std::error_code parse_server_final(std::string_view message, server_final_message& out);

/// Decodes a saslname (RFC 5802 section 5.1): "=2C" is ',' and "=3D" is '='; any other '=', a
/// raw ',' or NUL, an empty name or invalid UTF-8 is an error (errc::malformed_message or
/// errc::invalid_utf8). `out` is replaced.
std::error_code decode_saslname(std::string_view name, std::string& out);

/// Encodes a name as a saslname: ',' becomes "=2C" and '=' becomes "=3D".
std::string encode_saslname(std::string_view name);

/// True when `nonce` is a valid SCRAM nonce: one or more printable ASCII characters, no ','.
bool valid_nonce(std::string_view nonce) noexcept;

/// SaltedPassword = Hi(password, salt, iterations) with HMAC-SHA-256 (RFC 5802 section 3).
std::string salted_password(std::string_view password, std::string_view salt, std::uint32_t iterations);

/// AuthMessage = client-first-message-bare "," server-first-message ","
///               client-final-message-without-proof.
std::string auth_message(std::string_view client_first_bare, std::string_view server_first,
                         std::string_view client_final_without_proof);

/// ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage), from the SaltedPassword.
std::string client_proof(std::string_view salted_password, std::string_view auth_message);

/// ServerSignature = HMAC(ServerKey, AuthMessage).
std::string server_signature(std::string_view server_key, std::string_view auth_message);

/// The server's check: recovers ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage) and
/// compares SHA-256(ClientKey) with StoredKey in constant time. False for a proof of the wrong size.
bool verify_client_proof(const scram_credentials& credentials, std::string_view auth_message,
                         std::string_view proof);

/// server-error-value (RFC 5802 section 7) for a failure of the server mechanism. Failures that
/// concern the secret (unknown user, wrong proof, no secret) all map to "invalid-proof" so that
/// the client cannot tell them apart.
std::string_view server_error_value(std::error_code ec) noexcept;

}  // namespace mailharness::sasl::scram
