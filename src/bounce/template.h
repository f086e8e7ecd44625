// Bounce templates (bounce(5)): the headers and text of the notices bounce
// sends, built in or read from bounce_template_file, and their $name
// expansion. The file format and the template and variable names are
// Postfix's, so an existing bounce.cf works unchanged:
//
//   # comment
//   failure_template = <<EOF
//   Charset: us-ascii
//   From: Mail Delivery System <MAILER-DAEMON>
//   Subject: Undelivered Mail Returned to Sender
//   Postmaster-Subject: Postmaster Copy: Undelivered Mail
//
//   This is the mail system at host $myhostname.
//   ...
//   EOF
//
// Templates: failure_template, delay_template, success_template,
// verify_template. Text may use main.cf parameters and
// delay_warning_time_<unit> / maximal_queue_lifetime_<unit> with unit
// seconds, minutes, hours, days or weeks; $$ is a dollar sign.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "global/config.h"
#include "util/error.h"

namespace postern::bounce {

enum class TemplateKind { kFailure, kDelay, kSuccess, kVerify };

struct BounceTemplate {
  std::string name;                // "failure_template"
  std::string charset;             // Charset:
  std::string from;                // From:
  std::string subject;             // Subject:
  std::string postmaster_subject;  // Postmaster-Subject: (failure, delay only)
  std::vector<std::string> text;   // the message text, not yet expanded
};

struct BounceTemplates {
  BounceTemplate failure, delay, success, verify;
  const BounceTemplate& get(TemplateKind k) const;
};

// The built-in templates.
BounceTemplates default_templates();

// Reads a template file over the built-in templates. Templates with an
// unknown name, an unknown header or no text are ignored with a warning
// (added to `warnings`); a missing end marker is an error.
Result<BounceTemplates> parse_templates(std::string_view text, const std::string& path,
                                        std::vector<std::string>* warnings);
Result<BounceTemplates> load_templates(const std::string& path, std::vector<std::string>* warnings);

// The templates bounce uses: bounce_template_file when set (falling back
// to the built-in ones, with a warning, when it cannot be read).
BounceTemplates templates_from_config(const Config& cfg);

// Expands $name, ${name} and $(name) in the template text. An undefined
// name is an error; a time that converts to zero in the requested unit
// adds a warning.
Result<std::vector<std::string>> expand_text(const BounceTemplate& t, const Config& cfg,
                                             std::vector<std::string>* warnings);

// "failure_template = <<EOF" ... "EOF" (postconf -t), and
// "expanded_failure_text = <<EOF" ... "EOF" (postconf -b).
std::string format_template(const BounceTemplate& t);
std::string format_expanded(const BounceTemplate& t, const std::vector<std::string>& lines);

}  // namespace postern::bounce
