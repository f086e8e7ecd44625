# Third-party libraries, all from Debian's packages (tools/deps installs them).
find_package(fmt REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)

pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
pkg_check_modules(SASL2 REQUIRED IMPORTED_TARGET libsasl2)
pkg_check_modules(LDAP REQUIRED IMPORTED_TARGET ldap)
pkg_check_modules(MARIADB REQUIRED IMPORTED_TARGET libmariadb)

# Berkeley DB ships no pkg-config file on Debian.
find_path(BDB_INCLUDE_DIR db.h REQUIRED)
find_library(BDB_LIBRARY NAMES db db-5.3 REQUIRED)
add_library(bdb INTERFACE)
target_include_directories(bdb INTERFACE ${BDB_INCLUDE_DIR})
target_link_libraries(bdb INTERFACE ${BDB_LIBRARY})

if(POSTERN_TESTS)
  find_package(GTest REQUIRED)
endif()
