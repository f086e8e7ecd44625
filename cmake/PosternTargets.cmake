# Helpers that keep each program's CMakeLists.txt to a couple of lines.

# postern_program(NAME name [COMMAND] SOURCES ... [LIBS ...])
# One executable per Postfix program name (smtpd, postconf, ...). COMMAND
# programs (what administrators run) install into the command directory,
# the others (daemons master runs) into the daemon directory.
function(postern_program)
  cmake_parse_arguments(P "COMMAND" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${P_NAME} ${P_SOURCES})
  target_link_libraries(${P_NAME} PRIVATE postern_global ${P_LIBS})
  if(P_COMMAND)
    install(TARGETS ${P_NAME} RUNTIME DESTINATION ${POSTERN_COMMAND_DIR})
  else()
    install(TARGETS ${P_NAME} RUNTIME DESTINATION ${POSTERN_DAEMON_DIR})
  endif()
endfunction()

# postern_unit_test(NAME name SOURCES ... [LIBS ...])
# A GoogleTest binary; its tests are discovered when ctest runs.
function(postern_unit_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  set_target_properties(${T_NAME} PROPERTIES
                        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${T_NAME} PRIVATE
      POSTERN_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
      POSTERN_BINARY_DIR="${CMAKE_BINARY_DIR}")
  include(GoogleTest)
  gtest_discover_tests(${T_NAME} DISCOVERY_MODE PRE_TEST
                       TEST_PREFIX "unit." PROPERTIES LABELS unit)
endfunction()

# postern_system_test(FILE test_x.py [LABELS ...] [TIMEOUT s])
# A pytest module run against real instances built from this tree.
function(postern_system_test)
  cmake_parse_arguments(S "" "FILE;TIMEOUT" "LABELS" ${ARGN})
  get_filename_component(stem ${S_FILE} NAME_WE)
  if(NOT S_TIMEOUT)
    set(S_TIMEOUT 600)
  endif()
  add_test(NAME system.${stem}
           COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/${S_FILE}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(system.${stem} PROPERTIES
      LABELS "system;${S_LABELS}" TIMEOUT ${S_TIMEOUT}
      ENVIRONMENT "POSTERN_BIN=${CMAKE_BINARY_DIR}/bin;POSTERN_SOURCE=${CMAKE_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
endfunction()

# postern_install_setgid(name)
# Installed by root, the command runs set-gid "postdrop" (setgid_group), as
# Postfix's postdrop and postqueue do, so any user can reach maildrop/ and
# public/. Without that group the command is installed normally, with a warning.
function(postern_install_setgid name)
  install(CODE "
    execute_process(COMMAND id -u OUTPUT_VARIABLE _uid OUTPUT_STRIP_TRAILING_WHITESPACE)
    set(_path \"\$ENV{DESTDIR}${POSTERN_COMMAND_DIR}/${name}\")
    if(_uid STREQUAL \"0\")
      execute_process(COMMAND getent group postdrop RESULT_VARIABLE _nogroup OUTPUT_QUIET)
      if(_nogroup EQUAL 0)
        execute_process(COMMAND chgrp postdrop \${_path})
        execute_process(COMMAND chmod 2755 \${_path})
      else()
        message(WARNING \"group postdrop does not exist: \${_path} is not set-gid\")
      endif()
    endif()
  ")
endfunction()
