// Real tables behind the TableLookup callback that code in src/global
// (match lists) and programs use: each "type:name" is opened on first use
// and kept open for the life of the callback.
#pragma once

#include "global/match_list.h"
#include "maps/map.h"

#include <string>
#include <vector>

namespace postern::maps {

// A TableLookup over real tables opened with `flags`. A table that cannot
// be opened answers kTemporary with the reason (and is retried next time),
// so the caller defers instead of rejecting. Pattern tables answer
// kNotFound to partial keys.
TableLookup make_table_lookup(unsigned flags = kDefaultReadFlags);

// Opens `specs` now through `lookup` (made by make_table_lookup), so that
// a daemon has its tables before it drops privileges or enters a chroot.
// Returns the first error; tables that failed are retried on use.
Status preopen_tables(const TableLookup& lookup, const std::vector<std::string>& specs);

}  // namespace postern::maps
