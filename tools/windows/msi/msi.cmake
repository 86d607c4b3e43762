# certbridge-agent-<version>-x64.msi, built with wixl (Debian package wixl, from msitools)
# from certbridge-agent.wxs on every build, and its test under Wine (label "windows").
# Included from tools/windows/CMakeLists.txt after the agent and the tests are defined.
find_program(WIXL wixl)
if(NOT WIXL)
  message(WARNING "wixl not found (Debian: wixl, tools/install-deps.sh): no MSI")
  return()
endif()

set(CERTBRIDGE_AGENT_MSI ${CMAKE_BINARY_DIR}/certbridge-agent-${PROJECT_VERSION}-x64.msi)
set(agent_wxs ${CMAKE_CURRENT_LIST_DIR}/certbridge-agent.wxs)
# wixl looks up File/@Source relative to its working directory (absolute paths are refused).
add_custom_command(OUTPUT ${CERTBRIDGE_AGENT_MSI}
  COMMAND ${WIXL} -a x64 -D Version=${PROJECT_VERSION}
          -D AgentExe=$<TARGET_FILE_NAME:certbridge-agent> -o ${CERTBRIDGE_AGENT_MSI} ${agent_wxs}
  WORKING_DIRECTORY $<TARGET_FILE_DIR:certbridge-agent>
  DEPENDS certbridge-agent ${agent_wxs}
  COMMENT "wixl: certbridge-agent-${PROJECT_VERSION}-x64.msi"
  VERBATIM)
add_custom_target(certbridge-agent-msi ALL DEPENDS ${CERTBRIDGE_AGENT_MSI})

if(COMMAND windows_agent_test)  # GoogleTest found: the Windows tests are defined
  # Install, run the service, uninstall, in a fresh Wine prefix under wine-msi/ (~40 s).
  add_test(NAME agent_msi_test
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/msi-test.sh ${CMAKE_BINARY_DIR}/wine-msi
            ${CERTBRIDGE_AGENT_MSI} $<TARGET_FILE:certbridge-agent>)
  set_tests_properties(agent_msi_test PROPERTIES LABELS windows TIMEOUT 300)
endif()
