#include "auth/sasl_common.hpp"

#include <cstdint>
#include <exception>

namespace postern::auth::sasl_detail {

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > text.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(text[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Overlong forms, UTF-16 surrogates and code points beyond U+10FFFF.
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

std::string user_for_log(std::string_view name) {
    constexpr size_t kMax = 64;
    constexpr std::string_view kHex = "0123456789ABCDEF";
    std::string out;
    for (size_t i = 0; i < name.size() && i < kMax; ++i) {
        auto c = static_cast<unsigned char>(name[i]);
        if (c < 0x21 || c == 0x7F || c == '"' || c == '\\') {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        } else {
            out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
    }
    if (name.size() > kMax) out += "...";
    return out;
}

namespace {

SaslOutcome outcome(SaslOutcome::Kind kind, std::string_view reason, std::string_view attempted_user) {
    SaslOutcome out;
    out.kind = kind;
    out.log_reason = reason;
    out.user = user_for_log(attempted_user);
    return out;
}

}  // namespace

SaslOutcome malformed(std::string_view reason, std::string_view attempted_user) {
    return outcome(SaslOutcome::Kind::malformed, reason, attempted_user);
}

SaslOutcome failure(std::string_view reason, std::string_view attempted_user) {
    return outcome(SaslOutcome::Kind::failure, reason, attempted_user);
}

SaslOutcome temporary_failure(std::string_view reason, std::string_view attempted_user) {
    return outcome(SaslOutcome::Kind::temporary_failure, reason, attempted_user);
}

std::string record_app_password_use(CredentialVerifier& verifier, std::string_view user, std::string_view label) {
    try {
        verifier.app_password_used(user, label);
        return {};
    } catch (const std::exception& e) {
        return std::string("app password last use not recorded: ") + e.what();
    }
}

SaslOutcome check_password(CredentialVerifier& verifier, std::string_view user, std::string_view password) {
    VerifyResult result;
    try {
        result = verifier.verify_password(user, password);
    } catch (const std::exception& e) {
        return temporary_failure(std::string("credential store: ") + e.what(), user);
    }
    switch (result.status) {
    case VerifyResult::Status::ok: {
        SaslOutcome out;
        out.kind = SaslOutcome::Kind::success;
        out.user = result.user.empty() ? ascii_lower(user) : result.user;
        if (!result.app_password_label.empty())
            out.log_reason = record_app_password_use(verifier, out.user, result.app_password_label);
        return out;
    }
    case VerifyResult::Status::bad:
        return failure(result.reason.empty() ? "wrong password" : result.reason, user);
    case VerifyResult::Status::unavailable:
        return temporary_failure(result.reason.empty() ? "credential store unavailable" : result.reason, user);
    }
    return temporary_failure("unexpected verifier status", user);
}

}  // namespace postern::auth::sasl_detail
