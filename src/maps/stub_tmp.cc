#include "maps/openers.h"
namespace postern::maps {
Result<MapPtr> open_ldap(const std::string&, const std::string&, unsigned) { return fail(Errc::kPermanent, "not implemented yet"); }
Result<MapPtr> open_mysql(const std::string&, const std::string&, unsigned) { return fail(Errc::kPermanent, "not implemented yet"); }
}
