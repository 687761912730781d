// The user database seen as SASL credentials (sasl::credential_lookup), for every protocol.
#pragma once

#include <memory>

#include "mailharness/refmaild/passwd_file.hpp"
#include "mailharness/sasl/credentials.hpp"

namespace mailharness::refmaild::auth {

class credentials_adapter final : public sasl::credential_lookup {
public:
    explicit credentials_adapter(std::shared_ptr<const users::user_db> db) : db_(std::move(db)) {}
    result verify_plain(std::string_view authcid, std::string_view password) override;
    result plaintext_secret(std::string_view authcid, std::string& secret) override;
    /// True when `authcid` has a plaintext-equivalent secret (APOP and CRAM-MD5 can work).
    bool has_plaintext_secret(std::string_view authcid) const;
    /// True when any user has one (the POP3 greeting offers APOP only then).
    bool any_plaintext_secret() const;
    const users::user_db& db() const noexcept { return *db_; }

private:
    std::shared_ptr<const users::user_db> db_;
};

}  // namespace mailharness::refmaild::auth
