// Client side of SASL (RFC 4422) for mailload, mailconform and mailprobe: PLAIN (RFC 4616),
// LOGIN (draft-murchison-sasl-login-00), CRAM-MD5 (RFC 2195), SCRAM-SHA-256[-PLUS] (RFC 5802,
// RFC 7677). Sans-I/O: the caller decodes each server challenge (base64_decode), passes the raw
// octets to step(), and base64-encodes the response it gets back.
//
// A typical SMTP exchange:
//   auto m = make_client("SCRAM-SHA-256", {.authcid = "user", .password = "pencil"});
//   send "AUTH SCRAM-SHA-256 " + encode_initial_response(m->initial_response());
//   on "334 <b64>":  r = m->step(decoded); send base64(r.response) (or "*" on failure)
//   on "235":        ec = m->finish(); a non-empty ec means the server did not prove itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "mailharness/sasl/error.hpp"
#include "mailharness/sasl/server.hpp"  // channel_binding

namespace mailharness::sasl {

struct client_credentials {
    std::string authcid;   ///< authentication identity (user name)
    std::string password;  ///< used as given, no SASLprep (identical for printable ASCII)
    std::string authzid;   ///< authorization identity; empty for none (PLAIN, SCRAM only)
};

struct client_limits {
    /// Largest decoded server challenge accepted by step(), in octets.
    std::size_t max_challenge_size = 4096;
    /// SCRAM: smallest iteration count accepted (RFC 7677 section 4 asks servers for 4096 or
    /// more; a lower count makes an intercepted exchange cheap to brute-force).
    std::uint32_t min_iterations = 4096;
    /// SCRAM: largest iteration count accepted, so that a hostile server cannot make the client
    /// spend unbounded CPU.
    std::uint32_t max_iterations = 1'000'000;
};

struct client_options {
    client_limits limits;
    /// The connection's channel binding, when the TLS layer provides one. Required for
    /// SCRAM-SHA-256-PLUS. With plain SCRAM-SHA-256 its presence makes the client send 'y' (it could
    /// bind but the server did not offer PLUS), which lets a server detect a downgrade.
    std::optional<channel_binding> binding;
    /// Test seam: returns the SCRAM client nonce (printable ASCII without ','). Empty: 18 random
    /// octets in base64. Bad seam output makes initial_response() empty and the exchange fail.
    std::function<std::string()> nonce;
};

enum class client_status {
    response,  ///< send `response` to the server
    failure,   ///< stop: send "*" to cancel (RFC 4954 section 4); `ec` says why
};

struct client_step_result {
    client_status status = client_status::failure;
    std::string response;  ///< raw octets; the caller base64-encodes them
    std::error_code ec;
};

/// One authentication exchange on the client side. Not copyable; one object per attempt.
class client_mechanism {
public:
    client_mechanism(const client_mechanism&) = delete;
    client_mechanism& operator=(const client_mechanism&) = delete;
    virtual ~client_mechanism() = default;

    /// Mechanism name in upper case.
    virtual std::string_view name() const noexcept = 0;

    /// True for client-first mechanisms (PLAIN, SCRAM), which have an initial response.
    virtual bool has_initial_response() const noexcept = 0;

    /// The initial response (RFC 4422 section 5 (2a)), to send with the AUTH command. Only for
    /// client-first mechanisms and only before any step(); otherwise returns an empty string and
    /// the exchange is failed. A caller that does not send an initial response instead answers the
    /// server's first (empty) challenge with step(""), which returns the same message.
    std::string initial_response();

    /// Answers a decoded server challenge. Challenges over limits.max_challenge_size fail with
    /// errc::message_too_large; after a failure every call fails with errc::out_of_sequence.
    client_step_result step(std::string_view challenge);

    /// Called when the server reports success, with the additional data that came with it (empty
    /// if none). Returns an error when the exchange is not complete from the client's side: for
    /// SCRAM, when the server never sent a valid ServerSignature (errc::server_signature_missing /
    /// server_signature_mismatch), for the others when the password was never sent
    /// (errc::out_of_sequence).
    std::error_code finish(std::string_view additional_data = {});

    /// True once finish() returned no error.
    bool complete() const noexcept { return complete_; }

protected:
    client_mechanism(client_credentials credentials, client_options options)
        : credentials_(std::move(credentials)), options_(std::move(options)) {}

    // The mechanism's state machine, called after sequence and size checks. on_first() makes the
    // initial response of a client-first mechanism.
    virtual client_step_result on_first() = 0;
    virtual client_step_result on_step(std::string_view challenge) = 0;
    virtual std::error_code on_finish(std::string_view additional_data) = 0;

    static client_step_result respond(std::string data) { return {client_status::response, std::move(data), {}}; }
    static client_step_result fail(std::error_code ec) { return {client_status::failure, {}, ec}; }

    client_credentials credentials_;
    client_options options_;

private:
    bool started_ = false;
    bool failed_ = false;
    bool complete_ = false;
};

/// Creates a client mechanism for `name` (matched case-insensitively): PLAIN, LOGIN, CRAM-MD5,
/// SCRAM-SHA-256, and SCRAM-SHA-256-PLUS when options.binding is set. Returns nullptr otherwise.
std::unique_ptr<client_mechanism> make_client(std::string_view name, client_credentials credentials,
                                              client_options options = {});

/// Encodes an initial response for AUTH / AUTHENTICATE: "=" when empty (RFC 4954 section 4),
/// base64 otherwise.
std::string encode_initial_response(std::string_view data);

}  // namespace mailharness::sasl
