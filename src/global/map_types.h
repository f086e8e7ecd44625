// The lookup table types this build supports, as postconf -m lists them.
// src/maps registers each type's opener; this list must name exactly those.
#pragma once

#include <span>
#include <string_view>

namespace postern {

std::span<const std::string_view> supported_map_types();

}  // namespace postern
