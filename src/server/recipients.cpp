#include "server/recipients.hpp"

#include "observe/log.hpp"

namespace postern::server {

smtp::RecipientResult RecipientResolver::resolve(const smtp::Mailbox& address) {
    using smtp::LookupVerdict;
    auto local = smtp::ascii_lower(address.local);
    if (local == "postmaster") return {LookupVerdict::found, postmaster_};
    if (smtp::has_non_ascii(local)) return {LookupVerdict::not_found, {}};  // account names are ASCII
    try {
        if (!address.domain.empty()) {  // an extra address (alias) of some user
            if (auto owner = accounts_.user_for_address(local + "@" + address.domain))
                return {LookupVerdict::found, *owner};
        }
        if (auth::AccountStore::valid_user_name(local) && accounts_.user_exists(local))
            return {LookupVerdict::found, local};
        auto plus = local.find('+');
        if (plus != std::string::npos && plus > 0) {
            auto base = local.substr(0, plus);
            if (auth::AccountStore::valid_user_name(base) && accounts_.user_exists(base))
                return {LookupVerdict::found, base};
        }
        return {LookupVerdict::not_found, {}};
    } catch (const std::exception& e) {
        observe::error("recipient lookup failed address=<{}> error=\"{}\"", address.str(), e.what());
        return {LookupVerdict::temp_fail, {}};
    }
}

}  // namespace postern::server
