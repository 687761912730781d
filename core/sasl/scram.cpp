#include "mailharness/sasl/scram.hpp"

#include <cstring>

#include "detail/text.hpp"
#include "mailharness/sasl/base64.hpp"
#include "mailharness/sasl/crypto.hpp"

namespace mailharness::sasl::scram {

namespace {

// Splits "x=value" attributes off a comma-separated message, one at a time.
struct attr_reader {
    std::string_view rest;
    bool at_end = false;  // no attribute left (the message ended after the previous one)

    // Reads the next attribute. Fails on an empty message part, a name that is not one ASCII
    // letter, a missing '=', or an empty value.
    bool next(char& name, std::string_view& value) {
        if (at_end) return false;
        std::size_t comma = rest.find(',');
        std::string_view part = rest.substr(0, comma);
        if (comma == std::string_view::npos) {
            at_end = true;
            rest = {};
        } else {
            rest.remove_prefix(comma + 1);
        }
        if (part.size() < 3 || part[1] != '=') return false;
        char c = part[0];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
        name = c;
        value = part.substr(2);
        return true;
    }
};

// Checks every message for the RFC 5802 character set: UTF-8, no NUL.
std::error_code check_text(std::string_view message) {
    if (std::memchr(message.data(), '\0', message.size()) != nullptr) return errc::malformed_message;
    if (!detail::valid_utf8(message)) return errc::invalid_utf8;
    return {};
}

// The first attribute of a message; reserved 'm' there means a mandatory extension (section 5.1).
std::error_code first_attribute(attr_reader& r, char& name, std::string_view& value) {
    if (!r.next(name, value)) return errc::malformed_message;
    if (name == 'm') return errc::extensions_not_supported;
    return {};
}

// Extensions after the fixed attributes: ignored, except reserved 'm' (section 5.1).
std::error_code skip_extensions(attr_reader& r, char stop = '\0') {
    char name;
    std::string_view value;
    while (!r.at_end) {
        if (stop != '\0' && r.rest.size() >= 2 && r.rest[0] == stop && r.rest[1] == '=') return {};
        if (!r.next(name, value)) return errc::malformed_message;
        if (name == 'm') return errc::extensions_not_supported;
    }
    return {};
}

std::error_code decode_b64(std::string_view value, std::string& out) {
    if (base64_decode(value, out, value.size())) return errc::malformed_message;
    return {};
}

bool valid_cb_name(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

bool valid_nonce(std::string_view nonce) noexcept {
    if (nonce.empty()) return false;
    for (char c : nonce) {
        if (c < 0x21 || c > 0x7e || c == ',') return false;
    }
    return true;
}

std::error_code decode_saslname(std::string_view name, std::string& out) {
    out.clear();
    if (name.empty()) return errc::malformed_message;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        if (c == ',' || c == '\0') return errc::malformed_message;
        if (c != '=') {
            out.push_back(c);
            continue;
        }
        std::string_view esc = name.substr(i + 1, 2);
        if (esc == "2C") {
            out.push_back(',');
        } else if (esc == "3D") {
            out.push_back('=');
        } else {
            return errc::malformed_message;  // section 5.1: the server MUST fail
        }
        i += 2;
    }
    if (!detail::valid_utf8(out)) return errc::invalid_utf8;
    return {};
}

std::string encode_saslname(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (char c : name) {
        if (c == ',') out += "=2C";
        else if (c == '=') out += "=3D";
        else out.push_back(c);
    }
    return out;
}

std::error_code parse_client_first(std::string_view message, client_first_message& out) {
    if (auto ec = check_text(message)) return ec;
    out = {};
    // gs2-cbind-flag ","
    std::size_t comma = message.find(',');
    if (comma == std::string_view::npos) return errc::malformed_message;
    std::string_view flag = message.substr(0, comma);
    if (flag == "n") {
        out.flag = cbind_flag::none;
    } else if (flag == "y") {
        out.flag = cbind_flag::client_supports;
    } else if (flag.starts_with("p=") && valid_cb_name(flag.substr(2))) {
        out.flag = cbind_flag::used;
        out.cbind_type = std::string(flag.substr(2));
    } else {
        return errc::malformed_message;
    }
    // [ authzid ] ","
    std::size_t comma2 = message.find(',', comma + 1);
    if (comma2 == std::string_view::npos) return errc::malformed_message;
    std::string_view authz = message.substr(comma + 1, comma2 - comma - 1);
    if (!authz.empty()) {
        if (!authz.starts_with("a=")) return errc::malformed_message;
        if (auto ec = decode_saslname(authz.substr(2), out.authzid)) return ec;
    }
    out.gs2_header = std::string(message.substr(0, comma2 + 1));
    out.bare = std::string(message.substr(comma2 + 1));

    attr_reader r{message.substr(comma2 + 1)};
    char name;
    std::string_view value;
    if (auto ec = first_attribute(r, name, value)) return ec;
    if (name != 'n') return errc::malformed_message;
    if (auto ec = decode_saslname(value, out.username)) return ec;
    if (!r.next(name, value) || name != 'r' || !valid_nonce(value)) return errc::malformed_message;
    out.nonce = std::string(value);
    return skip_extensions(r);
}

std::error_code parse_server_first(std::string_view message, server_first_message& out) {
    if (auto ec = check_text(message)) return ec;
    out = {};
    attr_reader r{message};
    char name;
    std::string_view value;
    if (auto ec = first_attribute(r, name, value)) return ec;
    if (name != 'r' || !valid_nonce(value)) return errc::malformed_message;
    out.nonce = std::string(value);
    if (!r.next(name, value) || name != 's') return errc::malformed_message;
    if (auto ec = decode_b64(value, out.salt)) return ec;
    if (!r.next(name, value) || name != 'i') return errc::malformed_message;
    // posit-number = %x31-39 *DIGIT, and it must fit 32 bits.
    if (value[0] < '1' || value[0] > '9' || value.size() > 10) return errc::malformed_message;
    std::uint64_t n = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return errc::malformed_message;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n > 0xffffffffu) return errc::malformed_message;
    out.iterations = static_cast<std::uint32_t>(n);
    return skip_extensions(r);
}

std::error_code parse_client_final(std::string_view message, client_final_message& out) {
    if (auto ec = check_text(message)) return ec;
    out = {};
    attr_reader r{message};
    char name;
    std::string_view value;
    if (auto ec = first_attribute(r, name, value)) return ec;
    if (name != 'c') return errc::malformed_message;
    if (auto ec = decode_b64(value, out.channel_binding)) return ec;
    if (!r.next(name, value) || name != 'r' || !valid_nonce(value)) return errc::malformed_message;
    out.nonce = std::string(value);
    // [ "," extensions ] "," proof: the proof is the last attribute.
    if (auto ec = skip_extensions(r, 'p')) return ec;
    if (r.at_end) return errc::malformed_message;  // no proof
    std::size_t proof_start = message.size() - r.rest.size();
    if (!r.next(name, value) || name != 'p' || !r.at_end) return errc::malformed_message;
    if (auto ec = decode_b64(value, out.proof)) return ec;
    out.without_proof = std::string(message.substr(0, proof_start - 1));
    return {};
}

std::error_code parse_server_final(std::string_view message, server_final_message& out) {
    if (auto ec = check_text(message)) return ec;
    out = {};
    attr_reader r{message};
    char name;
    std::string_view value;
    if (!r.next(name, value)) return errc::malformed_message;
    if (name == 'e') {
        // server-error-value = 1*value-safe-char: no '=' in it.
        if (value.find('=') != std::string_view::npos) return errc::malformed_message;
        out.error = std::string(value);
    } else if (name == 'v') {
        if (auto ec = decode_b64(value, out.verifier)) return ec;
    } else if (name == 'm') {
        return errc::extensions_not_supported;
    } else {
        return errc::malformed_message;
    }
    return skip_extensions(r);
}

std::string salted_password(std::string_view password, std::string_view salt, std::uint32_t iterations) {
    return pbkdf2_hmac_sha256(password, salt, iterations);
}

std::string auth_message(std::string_view client_first_bare, std::string_view server_first,
                         std::string_view client_final_without_proof) {
    std::string m;
    m.reserve(client_first_bare.size() + server_first.size() + client_final_without_proof.size() + 2);
    m.append(client_first_bare).append(",").append(server_first).append(",").append(client_final_without_proof);
    return m;
}

namespace {
std::string xor_bytes(std::string a, std::string_view b) {
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) a[i] = static_cast<char>(a[i] ^ b[i]);
    return a;
}
}  // namespace

std::string client_proof(std::string_view salted, std::string_view auth) {
    std::string client_key = hmac_sha256(salted, "Client Key");
    std::string stored_key = sha256(client_key);
    return xor_bytes(std::move(client_key), hmac_sha256(stored_key, auth));
}

std::string server_signature(std::string_view server_key, std::string_view auth) {
    return hmac_sha256(server_key, auth);
}

bool verify_client_proof(const scram_credentials& credentials, std::string_view auth, std::string_view proof) {
    if (proof.size() != 32 || credentials.stored_key.size() != 32) return false;
    std::string client_key = xor_bytes(std::string(proof), hmac_sha256(credentials.stored_key, auth));
    return constant_time_equal(sha256(client_key), credentials.stored_key);
}

std::string_view server_error_value(std::error_code ec) noexcept {
    if (ec.category() != sasl_category()) return "other-error";
    switch (static_cast<errc>(ec.value())) {
        case errc::malformed_message:
        case errc::nonce_mismatch:
        case errc::bad_base64:
        case errc::bad_base64_padding:
        case errc::base64_noncanonical: return "invalid-encoding";
        case errc::invalid_utf8: return "invalid-username-encoding";
        case errc::extensions_not_supported: return "extensions-not-supported";
        case errc::authentication_failed:
        case errc::unknown_user:
        case errc::secret_unavailable: return "invalid-proof";
        case errc::channel_binding_mismatch: return "channel-bindings-dont-match";
        case errc::channel_binding_downgrade: return "server-does-support-channel-binding";
        case errc::channel_binding_not_supported: return "channel-binding-not-supported";
        default: return "other-error";
    }
}

}  // namespace mailharness::sasl::scram
