// Where server mechanisms get secrets from. The SASL layer keeps no user store: the caller
// (refmaild's passwd-file, a test fixture) implements credential_lookup.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailharness::sasl {

/// What a SCRAM-SHA-256 server stores instead of a password (RFC 5802 section 3, RFC 7677).
/// All keys are raw octets, not base64.
struct scram_credentials {
    std::string salt;              ///< random salt, sent to the client as s=
    std::uint32_t iterations = 0;  ///< PBKDF2 iteration count, sent as i=
    std::string stored_key;        ///< H(ClientKey), 32 octets
    std::string server_key;        ///< HMAC(SaltedPassword, "Server Key"), 32 octets
};

/// Derives SCRAM-SHA-256 stored credentials from a password:
/// SaltedPassword = Hi(password, salt, iterations), ClientKey = HMAC(SaltedPassword, "Client Key"),
/// StoredKey = SHA-256(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key").
/// The password is used as given: no SASLprep (RFC 4013) normalisation, which changes nothing for
/// printable ASCII passwords. `iterations` must be at least 1 (RFC 7677 asks for 4096 or more).
/// Throws std::system_error(errc::internal_error) only if OpenSSL fails.
scram_credentials make_scram_credentials(std::string_view password, std::string_view salt,
                                         std::uint32_t iterations = 4096);

/// Same with a fresh random 16-octet salt.
scram_credentials make_scram_credentials(std::string_view password, std::uint32_t iterations = 4096);

/// Caller-provided access to user secrets. Server mechanisms hold a reference to it: it must
/// outlive them. Calls are synchronous and made from inside start()/step().
///
/// Which functions each mechanism calls:
///  - PLAIN, LOGIN: verify_plain().
///  - CRAM-MD5: plaintext_secret() (the HMAC key is the password itself).
///  - SCRAM-SHA-256: scram_sha256_credentials(), and if that has none, plaintext_secret() (the
///    server then derives SaltedPassword with PBKDF2 on every exchange).
///  - all: authorize() when the client asks for an authorization identity.
class credential_lookup {
public:
    virtual ~credential_lookup() = default;

    /// Result of a lookup or check. Mechanisms map every value but `ok` to a failed exchange;
    /// the distinction only reaches the error_code, for the server's log.
    enum class result {
        ok,              ///< secret produced, or password right
        wrong_password,  ///< verify_plain only: the user exists, the password is wrong
        no_user,         ///< no such user
        no_secret,       ///< the user exists but no secret of the requested kind is stored
    };

    /// Checks `password` for `authcid`. The default implementation compares against
    /// plaintext_secret() in constant time; override it to check a hash.
    virtual result verify_plain(std::string_view authcid, std::string_view password);

    /// Puts the plaintext password of `authcid` in `secret`. Default: result::no_secret.
    virtual result plaintext_secret(std::string_view authcid, std::string& secret);

    /// Puts the stored SCRAM-SHA-256 credentials of `authcid` in `out`. Default: result::no_secret.
    /// Credentials with an empty salt, zero iterations or keys not 32 octets long are treated as
    /// no_secret.
    virtual result scram_sha256_credentials(std::string_view authcid, scram_credentials& out);

    /// True when `authcid` may act as `authzid` (RFC 4422 section 3.4.1). Only called with a
    /// non-empty authzid different from authcid. Default: false (no proxy authorization).
    virtual bool authorize(std::string_view authcid, std::string_view authzid);
};

}  // namespace mailharness::sasl
