// Server side of SASL (RFC 4422) as sans-I/O state machines: PLAIN (RFC 4616), LOGIN
// (draft-murchison-sasl-login-00), CRAM-MD5 (RFC 2195) and SCRAM-SHA-256[-PLUS] (RFC 5802,
// RFC 7677).
//
// A mechanism object never sees the wire. The protocol layer (SMTP AUTH, IMAP AUTHENTICATE,
// POP3 AUTH) decodes each client line with decode_initial_response() / decode_response(), passes
// the raw octets to start() / step(), and base64-encodes the returned challenge for its 334 / "+"
// continuation. Outcome data and error values are described on step_result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "mailharness/sasl/credentials.hpp"
#include "mailharness/sasl/error.hpp"

namespace mailharness::sasl {

/// Channel binding of the connection (RFC 5056), supplied by the TLS layer. Only SCRAM uses it.
struct channel_binding {
    /// Binding type as the client names it after "p=": "tls-exporter" (RFC 9266) or
    /// "tls-server-end-point" (RFC 5929).
    std::string type;
    /// Binding data for this connection (raw octets, e.g. the 32-octet exporter value).
    std::string data;
};

struct server_limits {
    /// Largest decoded client message accepted by step(), in octets. Larger ones fail with
    /// errc::message_too_large. Also the decode bound of decode_response().
    std::size_t max_response_size = 4096;
    /// Longest authcid, authzid or password, in octets. RFC 4616 section 2 requires accepting
    /// 255; longer fields fail with errc::field_too_long.
    std::size_t max_field_size = 1024;
};

struct server_options {
    /// Domain part of the CRAM-MD5 challenge "<random.timestamp@hostname>" (RFC 2195 section 2).
    /// Used as given: a configuration checker should make sure it is a domain name.
    std::string hostname = "localhost";
    /// Input bounds.
    server_limits limits;
    /// SCRAM iteration count announced for users whose lookup gives a plaintext password, and
    /// for unknown users (RFC 7677 section 4: at least 4096).
    std::uint32_t scram_iterations = 4096;
    /// The connection's channel binding, when the TLS layer provides one. When set,
    /// SCRAM-SHA-256-PLUS is offered and a SCRAM-SHA-256 client saying 'y' is refused as a
    /// downgrade. When empty, 'p=' is refused with errc::channel_binding_not_supported.
    std::optional<channel_binding> binding;
    /// Key for the salts of users without stored SCRAM credentials (plaintext or unknown): the salt
    /// is a keyed hash of the user name, so it is stable per user and unknown users cannot be told
    /// from known ones by the messages. (Timing differs: a plaintext secret costs one PBKDF2 run
    /// per exchange, stored credentials and unknown users none.) Empty: a random key made once per
    /// process, so salts change on restart; set it to keep them stable.
    std::string salt_key;
    /// Test seam: returns the server's nonce part. For SCRAM it is appended to the client nonce and
    /// must be printable ASCII without ',' (RFC 5802 section 7); for CRAM-MD5 it is the random part
    /// of the challenge and must be a dot-atom (RFC 5322). Output that breaks these rules fails
    /// the exchange with errc::internal_error. Empty: 18 random octets, base64 for SCRAM and
    /// decimal digits for CRAM-MD5.
    std::function<std::string()> nonce;
    /// Test seam: seconds since the epoch for the CRAM-MD5 timestamp. Empty: the system clock.
    std::function<std::int64_t()> clock;
};

/// What the server does after a step.
enum class step_status {
    challenge,  ///< send `data` as a challenge and wait for the client's response
    success,    ///< authenticated; `data` is additional data with success (may be empty)
    failure,    ///< failed; `ec` says why, `data` may hold a mechanism error message
};

struct step_result {
    step_status status = step_status::failure;
    /// Raw octets (the caller base64-encodes them):
    ///  - challenge: the challenge, possibly empty ("334 " / "+ ").
    ///  - success: SCRAM's server-final-message "v=..." (RFC 4422 section 3.6 "additional data
    ///    with success"). A protocol whose success reply cannot carry data (SMTP 235, see
    ///    RFC 4954 section 4) sends it as one more challenge, expects an empty response, then
    ///    replies success.
    ///  - failure: for SCRAM, a server-error "e=..." (RFC 5802 section 7) that the server may send
    ///    as a last challenge before the failure reply, or drop. Empty for the others.
    std::string data;
    /// errc value on failure (for the log; see error.hpp), clear otherwise.
    std::error_code ec;
};

/// One authentication exchange on the server side. Not copyable; one object per attempt.
/// Holds a reference to the credential_lookup given to make_server().
class server_mechanism {
public:
    server_mechanism(const server_mechanism&) = delete;
    server_mechanism& operator=(const server_mechanism&) = delete;
    virtual ~server_mechanism() = default;

    /// Mechanism name in upper case, e.g. "SCRAM-SHA-256".
    virtual std::string_view name() const noexcept = 0;

    /// Begins the exchange. `initial_response` holds the decoded initial response when the client
    /// sent one (RFC 4422 section 5 (2a); an empty one is "=" on the wire), nullopt otherwise.
    /// Client-first mechanisms (PLAIN, SCRAM) answer nullopt with an empty challenge; CRAM-MD5
    /// refuses an initial response (errc::unexpected_initial_response); LOGIN takes it as the
    /// user name. Must be called exactly once, before step().
    step_result start(std::optional<std::string_view> initial_response = std::nullopt);

    /// Feeds the client's decoded response to the last challenge. Responses over
    /// limits.max_response_size fail with errc::message_too_large. After success or failure every
    /// call fails with errc::out_of_sequence.
    step_result step(std::string_view response);

    /// True after success or failure.
    bool done() const noexcept { return state_ == phase::done; }
    /// True after success.
    bool authenticated() const noexcept { return authenticated_; }

    /// Authentication identity (the user who proved it knows the secret). Set on success, and
    /// available after a failure once the mechanism had parsed it (for the log); empty otherwise.
    const std::string& authcid() const noexcept { return authcid_; }
    /// Requested authorization identity, empty when the client asked for none.
    const std::string& authzid() const noexcept { return authzid_; }
    /// The identity the session acts as after success: authzid if given, else authcid.
    const std::string& identity() const noexcept { return authzid_.empty() ? authcid_ : authzid_; }

protected:
    server_mechanism(credential_lookup& lookup, server_options options)
        : lookup_(lookup), options_(std::move(options)) {}

    // The mechanism's state machine. Called by start()/step() after sequence and size checks.
    virtual step_result on_start(std::optional<std::string_view> initial_response) = 0;
    virtual step_result on_step(std::string_view response) = 0;

    static step_result challenge(std::string data) { return {step_status::challenge, std::move(data), {}}; }
    static step_result failure(std::error_code ec, std::string data = {}) {
        return {step_status::failure, std::move(data), ec};
    }
    // True when no authzid was asked for, it equals authcid, or the lookup allows it.
    bool authorized();
    // Ends the exchange: success if authorized(), else failure with errc::authorization_failed.
    step_result succeed(std::string data = {});

    credential_lookup& lookup_;
    server_options options_;
    std::string authcid_;
    std::string authzid_;

private:
    enum class phase { not_started, running, done };
    step_result finish(step_result r);

    phase state_ = phase::not_started;
    bool authenticated_ = false;
};

/// Names make_server() accepts for these options, in order of preference (strongest first):
/// SCRAM-SHA-256-PLUS (only with options.binding), SCRAM-SHA-256, CRAM-MD5, PLAIN, LOGIN.
/// The protocol layer decides which to advertise (e.g. PLAIN and LOGIN only over TLS, see
/// is_plaintext_mechanism()).
std::vector<std::string> supported_server_mechanisms(const server_options& options = {});

/// True for mechanisms that send the password in clear (PLAIN, LOGIN); RFC 4954 section 4 and
/// RFC 3501 7.2.1 LOGINDISABLED: offer them only over TLS.
bool is_plaintext_mechanism(std::string_view name) noexcept;

/// Creates a server mechanism for `name` (matched case-insensitively). Returns nullptr when the
/// name is not supported for these options (SCRAM-SHA-256-PLUS needs options.binding). `lookup`
/// must outlive the returned object.
std::unique_ptr<server_mechanism> make_server(std::string_view name, credential_lookup& lookup,
                                              server_options options = {});

/// Decodes the initial-response argument of AUTH / AUTHENTICATE (RFC 4954 section 4,
/// RFC 4959 section 3, RFC 5034 section 4): "=" is an empty response, anything else is base64.
/// Returns errc values of base64_decode(); a decoded size over limits.max_response_size is
/// errc::base64_too_large. `out` is replaced.
std::error_code decode_initial_response(std::string_view arg, std::string& out, const server_limits& limits = {});

/// Decodes a client continuation line: "*" is errc::cancelled, an empty line an empty response,
/// anything else base64 as for decode_initial_response. `out` is replaced.
std::error_code decode_response(std::string_view line, std::string& out, const server_limits& limits = {});

/// Encodes a challenge for the wire: base64, empty for an empty challenge (the caller sends
/// "334 " / "+ ").
std::string encode_challenge(std::string_view challenge);

}  // namespace mailharness::sasl
