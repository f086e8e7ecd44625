// Base64 as SMTP AUTH uses it (RFC 4648 alphabet, padded, no line breaks).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postern::sasl {

std::string base64_encode(std::string_view data);
// Strict decoding: only the alphabet and correct "=" padding; white space,
// TAB or newline (protocol injection) make it fail.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace postern::sasl
