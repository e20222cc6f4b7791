// Delivers a message into a Maildir: written in tmp/, fsync'ed, renamed into new/, new/ fsync'ed.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "queue/agent.hpp"

namespace postern::delivery {

using queue::DeliveryResult;

// Local delivery agent: the recipient's user gets the message with a Return-Path: header in front.
class MaildirDelivery : public queue::DeliveryAgent {
public:
    // mail_root is <data_dir>/mail; a user's Maildir is <mail_root>/<user>/Maildir.
    MaildirDelivery(std::filesystem::path mail_root, std::string hostname);

    // `head` (e.g. Return-Path:) and `message` are written one after the other; the file name is unique per the
    // Maildir convention (time, microseconds, pid, counter, host).
    DeliveryResult deliver_file(std::string_view user, std::string_view head, std::string_view message);

    DeliveryResult deliver(const queue::QueuedEnvelope& envelope, const queue::QueuedRecipient& recipient,
                           std::string_view message) override;

    std::filesystem::path maildir_of(std::string_view user) const;

private:
    std::string unique_name(size_t size);

    std::filesystem::path mail_root_;
    std::string host_;  // hostname with '/' and ':' escaped as the convention asks
};

}  // namespace postern::delivery
