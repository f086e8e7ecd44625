#include "global/map_types.h"

namespace postern {

// Filled in as src/maps implements each type (see docs/architecture.md).
std::span<const std::string_view> supported_map_types() {
  return {};
}

}  // namespace postern
