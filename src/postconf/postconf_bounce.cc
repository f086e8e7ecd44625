// postconf -b / -t: the bounce templates (bounce(5)) that bounce would use,
// with $name expanded (-b) or as written (-t), from the named file, else
// bounce_template_file, else the built-in ones.
#include <cstdio>

#include "bounce/template.h"
#include "postconf/postconf.h"
#include "util/log.h"

namespace postern::postconf {

int run_bounce_templates(const Options& opts, const Config& cfg) {
  std::string path = opts.args.empty() ? cfg.get("bounce_template_file") : opts.args[0];
  bounce::BounceTemplates all = bounce::default_templates();
  std::vector<std::string> warnings;
  if (!path.empty()) {
    auto t = bounce::load_templates(path, &warnings);
    if (!t) log::fatal("{}", t.error().text);
    all = *t;
  }
  for (const auto& w : warnings) log::warn("{}", w);
  std::string out;
  bool first = true;
  for (auto kind : {bounce::TemplateKind::kFailure, bounce::TemplateKind::kDelay,
                    bounce::TemplateKind::kSuccess, bounce::TemplateKind::kVerify}) {
    const auto& t = all.get(kind);
    if (!first) out += "\n";
    first = false;
    if (opts.bounce_templates) {
      out += bounce::format_template(t);
      continue;
    }
    std::vector<std::string> expand_warnings;
    auto text = bounce::expand_text(t, cfg, &expand_warnings);
    for (const auto& w : expand_warnings) log::warn("{}", w);
    if (!text) log::fatal("{}{}", path.empty() ? "" : path + ": ", text.error().text);
    out += bounce::format_expanded(t, *text);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace postern::postconf
