// Password entry: silent prompts on a terminal, a plain line from a pipe.
#include "app/password_input.hpp"

#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

#include "app/cli.hpp"

namespace postern::app {

namespace {

// State the signal handler needs to give the terminal its echo back if the user presses Ctrl-C mid-prompt.
termios saved_terminal;
volatile std::sig_atomic_t echo_is_off = 0;

extern "C" void restore_echo_and_die(int sig) {
    if (echo_is_off) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

// Turns terminal echo off for its lifetime.
class EchoOff {
public:
    EchoOff() {
        if (tcgetattr(STDIN_FILENO, &saved_terminal) != 0) return;
        termios quiet = saved_terminal;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        quiet.c_lflag |= ECHONL;  // still echo the newline, so the next prompt starts on its own line
        old_int_ = std::signal(SIGINT, restore_echo_and_die);
        old_term_ = std::signal(SIGTERM, restore_echo_and_die);
        old_hup_ = std::signal(SIGHUP, restore_echo_and_die);
        handlers_set_ = true;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0) echo_is_off = 1;
    }
    ~EchoOff() {
        if (echo_is_off) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_terminal);
        echo_is_off = 0;
        if (handlers_set_) {
            std::signal(SIGINT, old_int_);
            std::signal(SIGTERM, old_term_);
            std::signal(SIGHUP, old_hup_);
        }
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

private:
    using Handler = void (*)(int);
    Handler old_int_ = nullptr;
    Handler old_term_ = nullptr;
    Handler old_hup_ = nullptr;
    bool handlers_set_ = false;
};

std::string prompt(const char* text) {
    std::cerr << text << std::flush;
    std::optional<std::string> line;
    {
        EchoOff quiet;
        line = read_line(std::cin);
    }
    if (!line) {
        std::cerr << "\n";
        throw CliError("no password given", exit_failure);
    }
    return *line;
}

}  // namespace

std::optional<std::string> read_line(std::istream& in) {
    std::string line;
    if (!std::getline(in, line) && line.empty()) return std::nullopt;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

std::string read_new_password() {
    if (!isatty(STDIN_FILENO)) {
        std::optional<std::string> line = read_line(std::cin);
        if (!line) throw CliError("no password on standard input", exit_failure);
        return *line;
    }
    std::string first = prompt("Password: ");
    std::string second = prompt("Again: ");
    if (first != second) throw CliError("passwords do not match", exit_failure);
    return first;
}

}  // namespace postern::app
