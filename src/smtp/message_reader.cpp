#include "smtp/message_reader.hpp"

namespace postern::smtp {

void MessageReader::flag(MessageFault f) {
    if (fault_ == MessageFault::none) fault_ = f;
    body_.clear();  // a refused message is not kept: bounded memory whatever the client sends
}

void MessageReader::emit(std::string_view s) {
    size_ += s.size();
    if (size_ > max_size_) flag(MessageFault::too_big);
    if (fault_ == MessageFault::none) body_.append(s);
}

// Octets of line content. The first fault in octet order wins, so the verdict never depends on how the
// input was split into reads: at each octet the line length is checked before the size.
void MessageReader::text(std::string_view s) {
    if (fault_ == MessageFault::none) {
        constexpr uint64_t max_line = kMaxLineOctets - 2;
        uint64_t line_room = line_octets_ < max_line ? max_line - line_octets_ : 0;
        uint64_t size_room = size_ < max_size_ ? max_size_ - size_ : 0;
        bool line_over = s.size() > line_room, size_over = s.size() > size_room;
        if (line_over && (!size_over || line_room <= size_room)) flag(MessageFault::line_too_long);
        else if (size_over) flag(MessageFault::too_big);
    }
    line_octets_ += s.size();
    size_ += s.size();
    if (fault_ == MessageFault::none) body_.append(s);
}

void MessageReader::text_byte(char c) {
    if (c == '\r') {
        state_ = State::cr;
        return;
    }
    if (c == '\n') flag(MessageFault::bare_line_ending);  // never a line end, so never a start of "."
    text(std::string_view(&c, 1));
    state_ = State::text;
}

// The octet after a CR: LF ends the line; anything else makes the CR a bare one.
void MessageReader::after_cr(char c) {
    if (c == '\n') {
        emit("\r\n");
        line_octets_ = 0;
        state_ = State::line_start;
        return;
    }
    flag(MessageFault::bare_line_ending);
    emit("\r");
    text_byte(c);
}

size_t MessageReader::feed_dot_stuffed(std::string_view input) {
    size_t i = 0;
    while (i < input.size() && !done_) {
        char c = input[i];
        switch (state_) {
        case State::text: {
            // Fast path: copy the run of ordinary octets up to the next CR or LF at once.
            size_t j = i;
            while (j < input.size() && input[j] != '\r' && input[j] != '\n') ++j;
            if (j > i) {
                text(input.substr(i, j - i));
                i = j;
                continue;
            }
            text_byte(c);
            break;
        }
        case State::line_start:
            if (c == '.') {
                line_octets_ = 0;  // RFC 5321 §4.5.3.1.6: the stuffing dot does not count toward the limit
                state_ = State::dot;
            } else {
                line_octets_ = 0;
                text_byte(c);
            }
            break;
        case State::cr:
            after_cr(c);
            break;
        case State::dot:
            if (c == '\r') {
                state_ = State::dot_cr;
            } else {
                text_byte(c);  // the leading dot was stuffing: dropped
            }
            break;
        case State::dot_cr:
            if (c == '\n') {
                done_ = true;
            } else {
                flag(MessageFault::bare_line_ending);  // ".\rX": the dot was stuffing, the CR is bare
                emit("\r");
                text_byte(c);
            }
            break;
        }
        ++i;
    }
    return i;
}

void MessageReader::feed_raw(std::string_view input) {
    size_t i = 0;
    while (i < input.size()) {
        char c = input[i];
        if (state_ == State::cr) {
            after_cr(c);
            ++i;
            continue;
        }
        size_t j = i;
        while (j < input.size() && input[j] != '\r' && input[j] != '\n') ++j;
        if (j > i) {
            text(input.substr(i, j - i));
            state_ = State::text;
            i = j;
            continue;
        }
        text_byte(c);
        ++i;
    }
}

void MessageReader::finish_raw() {
    if (state_ == State::cr) {
        flag(MessageFault::bare_line_ending);
    } else if (state_ == State::text) {
        emit("\r\n");
    }
    state_ = State::line_start;
    done_ = true;
}

}  // namespace postern::smtp
