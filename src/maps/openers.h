// The opener of each map type (internal to src/maps; map.cc dispatches).
#pragma once

#include <string>

#include "maps/map.h"

namespace postern::maps {

using Opener = Result<MapPtr> (*)(const std::string& type, const std::string& name,
                                  unsigned flags);

Result<MapPtr> open_db(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_lmdb(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_texthash(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_inline(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_internal(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_static(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_fail(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_environ(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_unix(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_regexp(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_pcre(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_cidr(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_ldap(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_unionmap(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_pipemap(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_randmap(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_socketmap(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_tcp(const std::string& type, const std::string& name, unsigned flags);
Result<MapPtr> open_mysql(const std::string& type, const std::string& name, unsigned flags);

}  // namespace postern::maps
