// The non-terminal path of password entry: one line, line ending stripped.
#include <gtest/gtest.h>

#include <sstream>

#include "app/password_input.hpp"

using postern::app::read_line;

TEST(PasswordInput, StripsLineEndings) {
    std::istringstream lf("secret\nnext\n");
    EXPECT_EQ(read_line(lf), "secret");
    std::istringstream crlf("secret\r\n");
    EXPECT_EQ(read_line(crlf), "secret");
}

TEST(PasswordInput, KeepsInnerSpaces) {
    std::istringstream in("  two words \n");
    EXPECT_EQ(read_line(in), "  two words ");
}

TEST(PasswordInput, LastLineWithoutNewline) {
    std::istringstream in("secret");
    EXPECT_EQ(read_line(in), "secret");
}

TEST(PasswordInput, EmptyLineIsEmptyPassword) {
    std::istringstream in("\n");
    EXPECT_EQ(read_line(in), "");
}

TEST(PasswordInput, NothingAtAll) {
    std::istringstream in("");
    EXPECT_EQ(read_line(in), std::nullopt);
}
