// `postern explain CODE [ENHANCED] [CODE [ENHANCED]]`, `postern explain --html DIR`, and the registration of
// `postern probe` (cli_probe.cpp): reply codes explained to people, in English, Vietnamese or Chinese.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "app/cli.hpp"
#include "explain/codes.hpp"
#include "explain/explainer.hpp"
#include "explain/html.hpp"
#include "explain/knowledge.hpp"
#include "explain/text.hpp"

namespace postern::app {

void add_probe_command(CLI::App& app, Action& action);  // cli_probe.cpp

// --lang, or the environment's locale. Unknown names are a usage error (exit 2), told in the environment's language.
explain::Lang choose_lang(const std::string& option) {
    if (option.empty()) return explain::lang_from_environment();
    if (auto l = explain::parse_lang(option)) return *l;
    auto env = explain::lang_from_environment();
    throw CliError(explain::fill(explain::Knowledge::get().text(env, {"error", "lang"}), {{"lang", option}}),
                   exit_usage);
}

// Columns for wrapped text: the terminal's width, else $COLUMNS, else 100; kept within 60-120.
size_t output_width() {
    size_t w = 0;
    winsize ws{};
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) w = ws.ws_col;
    if (!w) {
        if (const char* c = std::getenv("COLUMNS")) w = std::strtoul(c, nullptr, 10);
    }
    if (!w) w = 100;
    return std::clamp<size_t>(w, 60, 120);
}

namespace {

struct ExplainOptions {
    std::vector<std::string> codes;
    std::string lang;
    bool json = false;
    std::string html_dir;
};

int run_explain(const ExplainOptions& o) {
    auto lang = choose_lang(o.lang);
    const auto& kb = explain::Knowledge::get();
    if (!o.html_dir.empty()) {
        if (!o.codes.empty()) throw CliError("--html takes no codes: it writes the whole reference", exit_usage);
        auto pages = explain::write_site(o.html_dir);
        std::cout << explain::fill(kb.text(lang, {"ui", "site_written"}),
                                   {{"n", std::to_string(pages)},
                                    {"path", (std::filesystem::path(o.html_dir) / "index.html").string()}})
                  << "\n";
        return exit_ok;
    }
    if (o.codes.empty()) throw CliError(std::string(kb.text(lang, {"error", "count"})), exit_usage);
    std::vector<explain::ReplyCode> replies;
    try {
        replies = explain::parse_reply_codes(o.codes, lang);
    } catch (const explain::CodeError& e) {
        throw CliError(e.what(), exit_usage);
    }
    explain::Explainer ex(lang);
    if (replies.size() == 1)
        std::cout << (o.json ? ex.json(replies[0]) : ex.text(replies[0], output_width()));
    else
        std::cout << (o.json ? ex.compare_json(replies[0], replies[1])
                             : ex.compare_text(replies[0], replies[1], output_width()));
    return exit_ok;
}

}  // namespace

void add_explain_commands(CLI::App& app, Action& action) {
    auto o = std::make_shared<ExplainOptions>();
    auto* cmd = app.add_subcommand(
        "explain",
        "Explain SMTP reply codes: `explain 535`, `explain 535 5.7.8`, compare two with `explain 421 535`, "
        "or write the reference site with `explain --html DIR`");
    cmd->add_option("codes", o->codes,
                    "A reply code (535), optionally with its enhanced code (535 5.7.8); two to compare")
        ->type_name("CODE");
    cmd->add_option("--lang", o->lang, "Language: en, vi or zh (default: from LC_ALL / LC_MESSAGES / LANG)")
        ->type_name("LANG");
    cmd->add_flag("--json", o->json, "Print JSON for tools");
    cmd->add_option("--html", o->html_dir, "Write the static reference site (all languages) into DIR")
        ->type_name("DIR");
    cmd->callback([&action, o] { action = [o] { return run_explain(*o); }; });
    add_probe_command(app, action);
}

}  // namespace postern::app
