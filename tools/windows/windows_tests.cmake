# The agent's unit tests that need no broker, built for Windows and run under Wine by ctest
# (label "windows"). The same test sources as the Linux build; included from
# tools/windows/CMakeLists.txt. tests/windows/ runs this ctest from the Linux build's ctest.

# Every test runs as `wine-run.sh <build>/wine TEST.exe`.
set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_SOURCE_DIR}/wine-run.sh ${CMAKE_BINARY_DIR}/wine)

set(agent_tests ${CERTBRIDGE_ROOT}/tests/agent)

# windows_agent_test(NAME name SOURCES a_test.cc ... LIBS lib ... [GTEST_FILTER filter])
function(windows_agent_test)
  cmake_parse_arguments(T "" "NAME;GTEST_FILTER" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_compile_options(${T_NAME} PRIVATE ${CERTBRIDGE_WARNINGS})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gmock GTest::gtest_main)
  set(args)
  if(T_GTEST_FILTER)
    set(args --gtest_filter=${T_GTEST_FILTER})
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${args})
  set_tests_properties(${T_NAME} PROPERTIES LABELS windows TIMEOUT 300)
endfunction()

windows_agent_test(NAME agent_backoff_test
  SOURCES ${agent_tests}/client/backoff_test.cc
  LIBS certbridge_agent_client)
windows_agent_test(NAME agent_renewal_policy_test
  SOURCES ${agent_tests}/client/renewal_policy_test.cc
  LIBS certbridge_agent_client)
windows_agent_test(NAME ca_backend_test
  SOURCES ${agent_tests}/ca/fake_ca_backend_test.cc ${agent_tests}/ca/com_ca_backend_test.cc
          ${agent_tests}/ca/test_ca_test.cc
  LIBS certbridge_ca_fake certbridge_ca_com certbridge_ca_backend certbridge_pki)

windows_agent_test(NAME agent_admin_events_test
  SOURCES ${agent_tests}/events/admin_events_test.cc
  LIBS certbridge_agent_events)

# The state dir, the job journal and the pending-key store on Windows files and ACLs.
add_subdirectory(${agent_tests}/support tests/agent/support)
windows_agent_test(NAME agent_state_dir_test
  SOURCES ${agent_tests}/client/state_dir_test.cc
  LIBS certbridge_agent_client agent_platform_test_support)
windows_agent_test(NAME agent_job_executor_test
  SOURCES ${agent_tests}/jobs/job_executor_test.cc
  LIBS certbridge_agent_jobs certbridge_ca_fake certbridge_pki agent_platform_test_support)
windows_agent_test(NAME agent_job_journal_test
  SOURCES ${agent_tests}/jobs/job_journal_test.cc
  LIBS certbridge_agent_jobs agent_platform_test_support)
windows_agent_test(NAME agent_policy_test
  SOURCES ${agent_tests}/jobs/agent_policy_test.cc
  LIBS certbridge_agent_jobs certbridge_pki agent_platform_test_support)

# The session and registration against an in-process fake broker over TLS on 127.0.0.1:
# gRPC, the TLS handshake with client certificates and the renewal, all inside Wine.
add_library(agent_client_test_support STATIC ${agent_tests}/client/fake_agent_service.cc)
target_compile_options(agent_client_test_support PRIVATE ${CERTBRIDGE_WARNINGS})
target_link_libraries(agent_client_test_support PUBLIC
  certbridge_agent_client certbridge_pki certbridge_proto PkgConfig::GRPCPP)
windows_agent_test(NAME agent_session_test
  SOURCES ${agent_tests}/client/agent_session_test.cc
  LIBS agent_client_test_support certbridge_ca_fake agent_platform_test_support)
windows_agent_test(NAME agent_registration_test
  SOURCES ${agent_tests}/client/registration_test.cc
  LIBS agent_client_test_support agent_platform_test_support)

# certbridge-agent.exe under Wine's Service Control Manager: install, start, graceful stop
# (exit code 0), uninstall.
add_test(NAME agent_windows_service_test
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/service-test.sh ${CMAKE_BINARY_DIR}/wine
          $<TARGET_FILE:certbridge-agent>)
set_tests_properties(agent_windows_service_test PROPERTIES LABELS windows TIMEOUT 300
  RUN_SERIAL TRUE)
