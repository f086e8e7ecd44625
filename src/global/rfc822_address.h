// Addresses in message headers (From:, To:, Cc:, Sender:, ...), as RFC 5322
// writes them: "Name <user@domain>", "user@domain (Comment)", groups
// "list: a@b, c@d;", quoted strings, nested comments, domain literals.
//
// Parsing finds every address and the byte span it occupies in the header
// value, so a caller can rewrite addresses (canonical maps, masquerading,
// myorigin) while comments, phrases and layout stay as the sender wrote
// them. Malformed input never fails: unbalanced quotes, brackets or
// comments end at the end of the value.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace postern {

struct HeaderAddress {
  std::string address;  // internal form: unquoted local part, comments removed
  size_t begin = 0;     // span in the header value of the address text
  size_t end = 0;       // (inside <...> for an angle address)
  bool angle = false;   // written as <...>
};

// Every address in an address-list header value. An empty <> is returned
// with an empty address.
std::vector<HeaderAddress> parse_header_addresses(std::string_view value);

// Replaces each address with rewrite(address) (internal form in, internal
// form out; the result is quoted as needed). Returns the new value.
std::string rewrite_header_addresses(
    std::string_view value, const std::function<std::string(const std::string&)>& rewrite);

}  // namespace postern
