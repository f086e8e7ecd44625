// Expansion of $name references in parameter values, as main.cf defines it:
//   $name ${name} $(name)         the value of name, itself expanded
//   ${name?text} ${name?{text}}   text when name is set and non-empty
//   ${name:text} ${name:{text}}   text when name is unset or empty
//   ${name?{a}:{b}}               a or b
//   ${{x} OP {y} ? {a} : {b}}     OP: == != < <= > >= and <level <=level
//                                 >level >=level (compatibility levels)
//   $$                            a literal $
// Undefined names expand to nothing (and are reported to the caller).
// Nesting deeper than 100 levels (a recursive definition) is an error
// naming the parameter, never a crash.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern {

// Raw (unexpanded) value of a parameter, or nullopt when it is not defined.
using ParamLookup = std::function<std::optional<std::string>(std::string_view name)>;

struct ExpandOptions {
  bool recursive = true;                      // expand values of $name again
  std::vector<std::string>* undefined = nullptr;  // names that had no value
};

Result<std::string> expand_value(std::string_view text, const ParamLookup& lookup,
                                 const ExpandOptions& options = {});

// Every parameter name that `text` references with $name, ${name...} or
// $(name) (including names inside conditional texts). Malformed references
// are skipped.
std::vector<std::string> referenced_names(std::string_view text);

// Compares two compatibility levels ("3.6" < "3.10"); -1, 0 or 1.
int compare_compatibility_levels(std::string_view a, std::string_view b);

}  // namespace postern
