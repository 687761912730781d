// Constructors of the concrete mechanisms, one per source file (not part of the public API:
// callers go through make_server() / make_client()).
#pragma once

#include <memory>

#include "mailharness/sasl/client.hpp"
#include "mailharness/sasl/server.hpp"

namespace mailharness::sasl::detail {

std::unique_ptr<server_mechanism> make_plain_server(credential_lookup& lookup, server_options options);
std::unique_ptr<server_mechanism> make_login_server(credential_lookup& lookup, server_options options);
std::unique_ptr<server_mechanism> make_cram_md5_server(credential_lookup& lookup, server_options options);
std::unique_ptr<server_mechanism> make_scram_server(credential_lookup& lookup, server_options options, bool plus);

std::unique_ptr<client_mechanism> make_plain_client(client_credentials credentials, client_options options);
std::unique_ptr<client_mechanism> make_login_client(client_credentials credentials, client_options options);
std::unique_ptr<client_mechanism> make_cram_md5_client(client_credentials credentials, client_options options);
std::unique_ptr<client_mechanism> make_scram_client(client_credentials credentials, client_options options, bool plus);

/// Maps a failed lookup to the error for the log.
std::error_code lookup_error(credential_lookup::result r) noexcept;

/// Random part of a nonce: 18 octets from OpenSSL in base64 (24 characters, no ',').
std::string random_nonce();

}  // namespace mailharness::sasl::detail
