#include "explain/explainer.hpp"

#include <algorithm>

#include "explain/text.hpp"

namespace postern::explain {

std::string registry_text(const smtp::ReplyEntry& e) {
    std::string out;
    std::string_view t = e.text;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '{' && i + 1 < t.size() && t[i + 1] == '}') {
            out += "…";
            ++i;
        } else {
            out.push_back(t[i]);
        }
    }
    return out;
}

Explainer::Explainer(Lang lang) : lang_(lang), kb_(Knowledge::get()) {}

std::string_view Explainer::t(std::initializer_list<std::string_view> path) const { return kb_.text(lang_, path); }

std::string_view Explainer::basic_field(int code, std::string_view field) const {
    auto key = std::to_string(code);
    return t({"basic", key, field});
}

std::string_view Explainer::enhanced_field(int subject, int detail, std::string_view field) const {
    auto key = "X." + std::to_string(subject) + "." + std::to_string(detail);
    return t({"enhanced", key, field});
}

namespace {

std::optional<EnhancedCode> enhanced_of(const smtp::ReplyEntry& e) {
    if (e.enhanced.empty()) return std::nullopt;
    return parse_enhanced(e.enhanced);
}

std::string json_strings(const std::vector<std::string>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + json_string(v[i]);
    return out + "]";
}

}  // namespace

std::vector<PosternUse> Explainer::postern_uses(int basic, const std::optional<EnhancedCode>& enhanced) const {
    std::vector<PosternUse> out;
    for (const auto& e : smtp::registry()) {
        if (basic && e.code != basic) continue;
        if (enhanced && enhanced_of(e) != enhanced) continue;
        const auto* cfg = kb_.postern_config(e.name);
        out.push_back(PosternUse{&e, t({"postern", e.name, "cause"}), cfg ? *cfg : std::vector<std::string>{}});
    }
    return out;
}

std::vector<PosternUse> Explainer::postern_uses(int subject, int detail) const {
    std::vector<PosternUse> out;
    for (const auto& e : smtp::registry()) {
        auto enh = enhanced_of(e);
        if (!enh || enh->subject != subject || enh->detail != detail) continue;
        const auto* cfg = kb_.postern_config(e.name);
        out.push_back(PosternUse{&e, t({"postern", e.name, "cause"}), cfg ? *cfg : std::vector<std::string>{}});
    }
    return out;
}

std::string Explainer::join_or(const std::vector<std::string>& items) const {
    auto ascii_alnum = [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    };
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) {
            std::string sep(i + 1 == items.size() ? ui("list_last") : ui("list_sep"));
            // A word such as 或 between two Latin words gets spaces ("RCPT 或 DATA"), as CJK typesetting does.
            bool bare = !sep.empty() && sep.front() != ' ' && static_cast<unsigned char>(sep.front()) >= 0x80 &&
                        i + 1 == items.size();
            if (bare && !out.empty() && ascii_alnum(out.back())) sep = " " + sep;
            if (bare && !items[i].empty() && ascii_alnum(items[i].front())) sep += " ";
            out += sep;
        }
        out += items[i];
    }
    return out;
}

std::string Explainer::class_line(int basic) const {
    auto d = std::to_string(basic / 100);
    return fill(ui("class_line"), {{"d", d},
                                   {"name", std::string(t({"class", d, "name"}))},
                                   {"summary", std::string(t({"class", d, "summary"}))}});
}

std::string Explainer::eclass_line(int cls) const {
    auto d = std::to_string(cls);
    return fill(ui("eclass_line"), {{"d", d},
                                    {"name", std::string(t({"eclass", d, "name"}))},
                                    {"meaning", std::string(t({"eclass", d, "meaning"}))}});
}

std::string Explainer::subject_line(int subject) const {
    auto d = std::to_string(subject);
    return fill(ui("subject_line"), {{"d", d},
                                     {"name", std::string(t({"subject", d, "name"}))},
                                     {"meaning", std::string(t({"subject", d, "meaning"}))}});
}

std::string Explainer::seen_phrase(int basic) const {
    const auto* f = kb_.basic(basic);
    if (!f) return {};
    std::vector<std::string> phrases;
    std::vector<std::string> commands;
    for (const auto& s : f->seen) {
        if (s == "connect" || s == "any" || s == "end_of_data")
            phrases.emplace_back(t({"phase", s}));
        else
            commands.push_back(s);
    }
    if (!commands.empty()) {
        auto cmd = fill(t({"phase", "command"}), {{"cmd", join_or(commands)}});
        // Commands first, unless the reply is above all a greeting.
        if (!f->seen.empty() && f->seen.front() == "connect")
            phrases.push_back(cmd);
        else
            phrases.insert(phrases.begin(), cmd);
    }
    return join_or(phrases);
}

std::string Explainer::actor_phrase(int basic) const {
    const auto* f = kb_.basic(basic);
    return f ? std::string(t({"actor", f->actor})) : std::string{};
}

std::string Explainer::title(const ReplyCode& r) const {
    std::string name;
    if (r.basic)
        name = basic_field(r.basic, "name");
    else if (r.enhanced)
        name = enhanced_field(r.enhanced->subject, r.enhanced->detail, "name");
    return r.str() + "  " + name;
}

std::string Explainer::short_explanation(int basic, std::string_view enhanced) const {
    std::string out = std::to_string(basic) + " ";
    if (kb_.basic(basic)) {
        out += std::string(basic_field(basic, "name")) + std::string(ui("colon")) +
               std::string(basic_field(basic, "summary"));
    } else {
        auto d = std::to_string(basic / 100);
        out += fill(ui("unknown_code"), {{"summary", std::string(t({"class", d, "summary"}))}});
    }
    if (auto e = parse_enhanced(enhanced); e && kb_.enhanced(e->subject, e->detail)) {
        out += "\n" + e->str() + " " + std::string(enhanced_field(e->subject, e->detail, "name")) + " (" +
               std::string(t({"eclass", std::to_string(e->cls), "name"})) + "; " +
               std::string(t({"subject", std::to_string(e->subject), "name"})) + ")";
    }
    return out;
}

std::string Explainer::summary(int basic, std::string_view enhanced) const {
    std::string out = kb_.basic(basic) ? std::string(basic_field(basic, "summary"))
                                       : std::string(t({"class", std::to_string(basic / 100), "summary"}));
    if (auto e = parse_enhanced(enhanced); e && kb_.enhanced(e->subject, e->detail))
        out += " (" + e->str() + std::string(ui("colon")) + std::string(enhanced_field(e->subject, e->detail, "name")) +
               ")";
    return out;
}

// ---------------------------------------------------------------------------------------------
// Terminal text

namespace {

void section(std::string& out, std::string_view label, std::string_view text, size_t width, std::string_view indent) {
    if (text.empty()) return;
    out += std::string(indent) + std::string(label) + "\n";
    out += wrap_block(text, width, std::string(indent) + "  ");
}

}  // namespace

std::string Explainer::text(const ReplyCode& r, size_t width) const {
    std::string out;
    out += title(r) + "\n";
    if (r.basic) {
        out += wrap_block(class_line(r.basic), width);
        out += "\n";
        for (auto [label, field] :
             {std::pair{"meaning", "meaning"}, {"when", "when"}, {"fix_user", "user"}, {"fix_admin", "admin"}})
            section(out, ui(label), basic_field(r.basic, field), width, "");
    }
    if (r.enhanced) {
        const auto& e = *r.enhanced;
        out += "\n";
        out += std::string(ui("enhanced")) + " " + e.str() + std::string(ui("colon")) +
               std::string(enhanced_field(e.subject, e.detail, "name")) + "\n";
        out += wrap_block(eclass_line(e.cls), width, "  ");
        out += wrap_block(subject_line(e.subject), width, "  ");
        for (auto [label, field] :
             {std::pair{"meaning", "meaning"}, {"when", "when"}, {"fix_user", "user"}, {"fix_admin", "admin"}})
            section(out, ui(label), enhanced_field(e.subject, e.detail, field), width, "  ");
    }
    out += "\n" + std::string(ui("postern")) + "\n";
    auto uses = postern_uses(r.basic, r.enhanced);
    if (uses.empty()) out += wrap_block(r.basic ? ui("postern_none") : ui("postern_enhanced_none"), width, "  ");
    for (const auto& u : uses) {
        std::string head = std::to_string(u.entry->code);
        if (!u.entry->enhanced.empty()) head += " " + std::string(u.entry->enhanced);
        head += " " + registry_text(*u.entry) + "  [" + std::string(u.entry->name) + "]";
        out += wrap_block(head, width, "  ");
        out += wrap_block(std::string(ui("cause")) + std::string(ui("colon")) + std::string(u.cause), width, "    ");
        if (!u.config.empty()) {
            std::vector<std::string> keys;
            for (const auto& k : u.config) keys.push_back(config_display(k));
            std::string joined;
            for (size_t i = 0; i < keys.size(); ++i) joined += (i ? ", " : "") + keys[i];
            out += wrap_block(std::string(ui("config")) + std::string(ui("colon")) + joined, width, "    ");
        }
    }
    out += "\n";
    std::string refs;
    if (r.basic) refs = kb_.basic(r.basic)->rfc;
    if (r.enhanced) {
        const auto* f = kb_.enhanced(r.enhanced->subject, r.enhanced->detail);
        refs += (refs.empty() ? "" : "; ") + r.enhanced->str() + std::string(ui("colon")) + f->rfc;
    }
    out += wrap_block(std::string(ui("reference")) + std::string(ui("colon")) + refs, width);
    return out;
}

// ---------------------------------------------------------------------------------------------
// JSON

std::string Explainer::json_object(const ReplyCode& r) const {
    std::string o = "{\"reply\":" + json_string(r.str());
    if (r.basic) {
        const auto* f = kb_.basic(r.basic);
        auto d = std::to_string(r.basic / 100);
        o += ",\"basic\":{\"code\":" + std::to_string(r.basic);
        o += ",\"class\":{\"digit\":" + d + ",\"name\":" + json_string(t({"class", d, "name"})) +
             ",\"summary\":" + json_string(t({"class", d, "summary"})) +
             ",\"meaning\":" + json_string(t({"class", d, "meaning"})) + "}";
        o += ",\"name\":" + json_string(basic_field(r.basic, "name"));
        o += ",\"summary\":" + json_string(basic_field(r.basic, "summary"));
        o += ",\"meaning\":" + json_string(basic_field(r.basic, "meaning"));
        o += ",\"when\":" + json_string(basic_field(r.basic, "when"));
        o += ",\"fix_user\":" + json_string(basic_field(r.basic, "user"));
        o += ",\"fix_admin\":" + json_string(basic_field(r.basic, "admin"));
        o += ",\"seen\":" + json_strings(f->seen);
        o += ",\"seen_text\":" + json_string(seen_phrase(r.basic));
        o += ",\"closes_connection\":" + std::string(f->closes ? "true" : "false");
        o += ",\"actor\":" + json_string(f->actor);
        o += ",\"rfc\":" + json_string(f->rfc) + "}";
    } else {
        o += ",\"basic\":null";
    }
    if (r.enhanced) {
        const auto& e = *r.enhanced;
        const auto* f = kb_.enhanced(e.subject, e.detail);
        auto c = std::to_string(e.cls);
        auto s = std::to_string(e.subject);
        o += ",\"enhanced\":{\"code\":" + json_string(e.str()) + ",\"key\":" + json_string(e.key());
        o += ",\"class\":{\"digit\":" + c + ",\"name\":" + json_string(t({"eclass", c, "name"})) +
             ",\"meaning\":" + json_string(t({"eclass", c, "meaning"})) + "}";
        o += ",\"subject\":{\"digit\":" + s + ",\"name\":" + json_string(t({"subject", s, "name"})) +
             ",\"meaning\":" + json_string(t({"subject", s, "meaning"})) + "}";
        for (auto [key, field] : {std::pair{"name", "name"},
                                  {"meaning", "meaning"},
                                  {"when", "when"},
                                  {"fix_user", "user"},
                                  {"fix_admin", "admin"}})
            o += ",\"" + std::string(key) + "\":" + json_string(enhanced_field(e.subject, e.detail, field));
        o += ",\"rfc\":" + json_string(f->rfc) + ",\"usually_with\":[";
        for (size_t i = 0; i < f->basic.size(); ++i) o += (i ? "," : "") + std::to_string(f->basic[i]);
        o += "]}";
    } else {
        o += ",\"enhanced\":null";
    }
    o += ",\"postern\":[";
    bool first = true;
    for (const auto& u : postern_uses(r.basic, r.enhanced)) {
        if (!first) o += ",";
        first = false;
        o += "{\"name\":" + json_string(u.entry->name) + ",\"code\":" + std::to_string(u.entry->code) +
             ",\"enhanced\":" + (u.entry->enhanced.empty() ? std::string("null") : json_string(u.entry->enhanced)) +
             ",\"text\":" + json_string(u.entry->text) + ",\"cause\":" + json_string(u.cause) +
             ",\"config\":" + json_strings(u.config) + "}";
    }
    o += "]}";
    return o;
}

std::string Explainer::json(const ReplyCode& r) const {
    auto o = json_object(r);
    return "{\"lang\":" + json_string(lang_code(lang_)) + "," + o.substr(1) + "\n";
}

// ---------------------------------------------------------------------------------------------
// Comparison

Comparison Explainer::compare(const ReplyCode& a, const ReplyCode& b) const {
    Comparison c{a, b, {}, {}, {}};
    const auto* fa = kb_.basic(a.basic);
    const auto* fb = kb_.basic(b.basic);
    auto sa = std::to_string(a.basic), sb = std::to_string(b.basic);
    auto da = std::to_string(a.basic / 100), db = std::to_string(b.basic / 100);
    auto csum = [&](const std::string& d) { return std::string(t({"class", d, "summary"})); };
    auto cref = [&](const std::string& d) {
        return fill(ui("class_ref"), {{"d", d}, {"name", std::string(t({"class", d, "name"}))}});
    };
    if (da == db) {
        c.differences.push_back(fill(ui("diff_class_same"), {{"class", cref(da)}, {"summary", csum(da)}}));
    } else {
        c.differences.push_back(fill(ui("diff_class"), {{"a", sa},
                                                        {"b", sb},
                                                        {"class_a", cref(da)},
                                                        {"class_b", cref(db)},
                                                        {"summary_a", csum(da)},
                                                        {"summary_b", csum(db)}}));
    }
    c.differences.push_back(fill(
        ui("diff_seen"), {{"a", sa}, {"b", sb}, {"seen_a", seen_phrase(a.basic)}, {"seen_b", seen_phrase(b.basic)}}));
    if (fa->closes && fb->closes)
        c.differences.push_back(std::string(ui("diff_closes_both")));
    else if (fa->closes)
        c.differences.push_back(fill(ui("diff_closes"), {{"a", sa}, {"b", sb}}));
    else if (fb->closes)
        c.differences.push_back(fill(ui("diff_closes"), {{"a", sb}, {"b", sa}}));
    if (fa->actor == fb->actor)
        c.differences.push_back(fill(ui("diff_actor_same"), {{"actor", actor_phrase(a.basic)}}));
    else
        c.differences.push_back(
            fill(ui("diff_actor"),
                 {{"a", sa}, {"b", sb}, {"actor_a", actor_phrase(a.basic)}, {"actor_b", actor_phrase(b.basic)}}));

    c.act.push_back(fill(ui("act_code"), {{"code", sa}, {"act", std::string(t({"class", da, "act"}))}}));
    if (a.basic != b.basic)
        c.act.push_back(fill(ui("act_code"), {{"code", sb}, {"act", std::string(t({"class", db, "act"}))}}));
    if (da == "4" && db == "5")
        c.act.push_back(fill(ui("act_first"), {{"p", sb}, {"t", sa}}));
    else if (da == "5" && db == "4")
        c.act.push_back(fill(ui("act_first"), {{"p", sa}, {"t", sb}}));
    else if (da == "5" && db == "5" && a.basic != b.basic)
        c.act.push_back(std::string(ui("act_both_permanent")));
    else if (da == "4" && db == "4" && a.basic != b.basic)
        c.act.push_back(std::string(ui("act_both_transient")));
    auto lo = std::min(a.basic, b.basic), hi = std::max(a.basic, b.basic);
    c.note = std::string(t({"pair", std::to_string(lo) + "-" + std::to_string(hi), "note"}));
    return c;
}

std::string Explainer::compare_text(const ReplyCode& a, const ReplyCode& b, size_t width) const {
    auto c = compare(a, b);
    std::string out = wrap_block(fill(ui("compare_title"), {{"a", a.str()}, {"b", b.str()}}), width);
    out += wrap_block(ui("compare_intro"), width);
    out += "\n";

    struct Row {
        std::string label, left, right;
    };
    // "421 4.7.0 (too_many_connections, ip_banned); 421 4.3.2 (maintenance)": grouped by reply code.
    auto postern_list = [&](const ReplyCode& r) {
        std::vector<std::pair<std::string, std::string>> groups;
        for (const auto& u : postern_uses(r.basic, r.enhanced)) {
            auto key =
                std::to_string(u.entry->code) + (u.entry->enhanced.empty() ? "" : " ") + std::string(u.entry->enhanced);
            auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
            if (it == groups.end())
                groups.emplace_back(key, std::string(u.entry->name));
            else
                it->second += ", " + std::string(u.entry->name);
        }
        std::string s;
        for (const auto& [key, names] : groups) s += (s.empty() ? "" : "; ") + key + " (" + names + ")";
        return s.empty() ? std::string(ui("postern_none")) : s;
    };
    auto enh = [&](const ReplyCode& r) {
        if (!r.enhanced) return std::string(ui("none"));
        return r.enhanced->str() + std::string(ui("colon")) +
               std::string(enhanced_field(r.enhanced->subject, r.enhanced->detail, "name"));
    };
    auto closes = [&](const ReplyCode& r) {
        return std::string(kb_.basic(r.basic)->closes ? ui("closes_yes") : ui("closes_no"));
    };
    std::vector<Row> rows{
        {"", a.str(), b.str()},
        {std::string(ui("name")), std::string(basic_field(a.basic, "name")), std::string(basic_field(b.basic, "name"))},
        {std::string(ui("class")), class_line(a.basic), class_line(b.basic)},
        {std::string(ui("meaning")), std::string(basic_field(a.basic, "meaning")),
         std::string(basic_field(b.basic, "meaning"))},
        {std::string(ui("seen")), seen_phrase(a.basic), seen_phrase(b.basic)},
        {std::string(ui("when")), std::string(basic_field(a.basic, "when")), std::string(basic_field(b.basic, "when"))},
        {std::string(ui("connection")), closes(a), closes(b)},
        {std::string(ui("actor")), actor_phrase(a.basic), actor_phrase(b.basic)},
        {std::string(ui("fix_user")), std::string(basic_field(a.basic, "user")),
         std::string(basic_field(b.basic, "user"))},
        {std::string(ui("fix_admin")), std::string(basic_field(a.basic, "admin")),
         std::string(basic_field(b.basic, "admin"))},
    };
    if (a.enhanced || b.enhanced) rows.push_back({std::string(ui("enhanced")), enh(a), enh(b)});
    rows.push_back({std::string(ui("postern")), postern_list(a), postern_list(b)});

    size_t label_w = 0;
    for (const auto& r : rows) label_w = std::max(label_w, display_width(r.label));
    label_w = std::min<size_t>(label_w, 16);
    size_t col_w = width > label_w + 6 + 20 ? (width - label_w - 6) / 2 : 10;
    std::string rule_left, rule_mid;
    for (size_t i = 0; i < label_w; ++i) rule_left += "─";
    for (size_t i = 0; i < col_w; ++i) rule_mid += "─";
    for (size_t i = 0; i < rows.size(); ++i) {
        auto l = wrap(rows[i].label, label_w);
        auto x = wrap(rows[i].left, col_w);
        auto y = wrap(rows[i].right, col_w);
        size_t n = std::max({l.size(), x.size(), y.size()});
        for (size_t k = 0; k < n; ++k) {
            std::string line = pad(k < l.size() ? l[k] : "", label_w) + " │ " + pad(k < x.size() ? x[k] : "", col_w) +
                               " │ " + (k < y.size() ? y[k] : "");
            while (!line.empty() && line.back() == ' ') line.pop_back();
            out += line + "\n";
        }
        out += rule_left + "─┼─" + rule_mid + "─┼─" + rule_mid + "\n";
    }
    out += "\n" + std::string(ui("differences")) + "\n";
    for (const auto& d : c.differences) {
        auto lines = wrap(d, width, "    ");
        lines[0].replace(0, 4, "  • ");
        for (auto& l : lines) out += l + "\n";
    }
    out += "\n" + std::string(ui("when_to_act")) + "\n";
    std::vector<std::string> act = c.act;
    if (!c.note.empty()) act.push_back(c.note);
    for (const auto& d : act) {
        auto lines = wrap(d, width, "    ");
        lines[0].replace(0, 4, "  • ");
        for (auto& l : lines) out += l + "\n";
    }
    return out;
}

std::string Explainer::compare_json(const ReplyCode& a, const ReplyCode& b) const {
    auto c = compare(a, b);
    std::string o = "{\"lang\":" + json_string(lang_code(lang_)) + ",\"compare\":[" + json_object(a) + "," +
                    json_object(b) + "],\"differences\":" + json_strings(c.differences) +
                    ",\"act\":" + json_strings(c.act) + ",\"note\":" + (c.note.empty() ? "null" : json_string(c.note)) +
                    "}\n";
    return o;
}

}  // namespace postern::explain
