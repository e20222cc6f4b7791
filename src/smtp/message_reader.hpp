// Reads message content for DATA (dot-unstuffing, end at <CRLF>.<CRLF> only) and BDAT (raw chunks), and
// checks every line: a bare CR or bare LF, or a line over 1000 octets, makes the message refused.
//
// Why refuse rather than normalize: a bare LF or CR is where SMTP smuggling hides ("\n.\n" read as the end of
// data by one server and not by the next). Postern never treats them as line ends, and a message carrying them is
// refused at its real end with 554 5.6.0, so no ambiguous message is stored or relayed onward.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postern::smtp {

enum class MessageFault { none, bare_line_ending, line_too_long, too_big };

class MessageReader {
public:
    MessageReader(std::string& body, uint64_t max_size) : body_(body), max_size_(max_size) {}

    // DATA: consumes bytes up to and including the terminating <CRLF>.<CRLF>; returns how many were consumed.
    // done() turns true when the terminator was seen.
    size_t feed_dot_stuffed(std::string_view input);
    // BDAT: every octet is content.
    void feed_raw(std::string_view input);
    // BDAT LAST: closes an unterminated last line with CRLF (a pending CR is a bare CR).
    void finish_raw();

    bool done() const { return done_; }
    MessageFault fault() const { return fault_; }
    uint64_t size() const { return size_; }  // octets of content seen, kept or not

    static constexpr size_t kMaxLineOctets = 1000;  // including CRLF, RFC 5321 §4.5.3.1.6

private:
    enum class State { line_start, text, cr, dot, dot_cr };
    void emit(std::string_view s);  // line ends: count toward the size only
    void text(std::string_view s);  // line content: counts toward the line and the size
    void flag(MessageFault f);
    void text_byte(char c);  // one octet in the middle of a line
    void after_cr(char c);

    std::string& body_;
    uint64_t max_size_;
    State state_ = State::line_start;
    size_t line_octets_ = 0;  // octets on the current line, the stuffing dot not counted
    uint64_t size_ = 0;
    MessageFault fault_ = MessageFault::none;
    bool done_ = false;
};

}  // namespace postern::smtp
