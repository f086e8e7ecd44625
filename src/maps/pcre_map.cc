// pcre: tables with PCRE2 (JIT-compiled where the CPU allows).
// Flags after the pattern: i (toggle case-insensitive, on by default),
// m (multi-line), s (dot matches newline), x (extended), A (anchored),
// E (dollar matches only at the end), U (ungreedy), X (accepted, no effect).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "maps/openers.h"
#include "maps/pattern_table.h"

namespace postern::maps {
namespace {

class PcreMatcher final : public Matcher {
 public:
  ~PcreMatcher() override {
    if (data_) pcre2_match_data_free(data_);
    if (code_) pcre2_code_free(code_);
  }
  bool match(std::string_view subject, std::vector<std::pair<int, int>>* groups) override {
    int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                         0, data_, nullptr);
    if (rc < 0) return false;
    if (groups) {
      groups->clear();
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data_);
      uint32_t pairs = pcre2_get_ovector_count(data_);
      for (uint32_t i = 0; i < pairs; ++i) {
        if (int(i) >= rc || ov[2 * i] == PCRE2_UNSET)
          groups->emplace_back(-1, -1);
        else
          groups->emplace_back(int(ov[2 * i]), int(ov[2 * i + 1]));
      }
    }
    return true;
  }
  int group_count() const override { return groups_; }

  pcre2_code* code_ = nullptr;
  pcre2_match_data* data_ = nullptr;
  int groups_ = 0;
};

std::unique_ptr<Matcher> compile(const std::string& pattern, std::string_view flags,
                                 bool need_groups, std::string& error) {
  uint32_t options = PCRE2_CASELESS;
  for (char f : flags) {
    switch (f) {
      case 'i': options ^= PCRE2_CASELESS; break;
      case 'm': options ^= PCRE2_MULTILINE; break;
      case 's': options ^= PCRE2_DOTALL; break;
      case 'x': options ^= PCRE2_EXTENDED; break;
      case 'A': options ^= PCRE2_ANCHORED; break;
      case 'E': options ^= PCRE2_DOLLAR_ENDONLY; break;
      case 'U': options ^= PCRE2_UNGREEDY; break;
      case 'X': break;
      default:
        error = std::string("unknown regexp option \"") + f + "\": skipping this rule";
        return nullptr;
    }
  }
  int errcode = 0;
  PCRE2_SIZE offset = 0;
  auto m = std::make_unique<PcreMatcher>();
  m->code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                           &errcode, &offset, nullptr);
  if (!m->code_) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(errcode, buf, sizeof buf);
    error = "error in regex at offset " + std::to_string(offset) + ": " +
            reinterpret_cast<const char*>(buf);
    return nullptr;
  }
  pcre2_jit_compile(m->code_, PCRE2_JIT_COMPLETE);
  uint32_t count = 0;
  pcre2_pattern_info(m->code_, PCRE2_INFO_CAPTURECOUNT, &count);
  m->groups_ = int(count);
  m->data_ = pcre2_match_data_create_from_pattern(m->code_, nullptr);
  (void)need_groups;
  return m;
}

const Flavour kPcre{"pcre", "ignoring this rule", "out of range", compile};

}  // namespace

Result<MapPtr> open_pcre(const std::string& type, const std::string& name, unsigned flags) {
  return open_pattern_table(kPcre, type, name, flags);
}

}  // namespace postern::maps
