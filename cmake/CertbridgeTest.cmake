# certbridge_add_test(NAME name SOURCES a_test.cc ... LIBS lib ... [LABELS l ...])
# Builds one gtest binary and registers it with CTest. Integration tests take the
# label "integration" so `ctest -L unit` stays quick.
function(certbridge_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_compile_options(${T_NAME} PRIVATE ${CERTBRIDGE_WARNINGS})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES
    LABELS "${T_LABELS}"
    ENVIRONMENT "CERTBRIDGE_BUILD_DIR=${CMAKE_BINARY_DIR};CERTBRIDGE_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    TIMEOUT 600)
endfunction()
