# The agent's client side (registration, the stream, the state dir) and the
# certbridge-agent program. Included from agent/CMakeLists.txt.

# What differs between Linux and Windows, one file per platform behind the headers in
# agent/platform/: durable files, private directories and the lock; host name and OS; the
# stop request; secrets at rest (DPAPI on Windows); the event log. Nothing else in the agent
# includes a platform header.
if(WIN32)
  set(certbridge_platform windows)
else()
  set(certbridge_platform posix)
endif()
add_library(certbridge_agent_platform STATIC
  ${CMAKE_CURRENT_LIST_DIR}/platform/durable_files_${certbridge_platform}.cc
  ${CMAKE_CURRENT_LIST_DIR}/platform/host_${certbridge_platform}.cc
  ${CMAKE_CURRENT_LIST_DIR}/platform/shutdown_signal_${certbridge_platform}.cc
  ${CMAKE_CURRENT_LIST_DIR}/platform/os_service_${certbridge_platform}.cc
  ${CMAKE_CURRENT_LIST_DIR}/platform/secret_protection_${certbridge_platform}.cc
  ${CMAKE_CURRENT_LIST_DIR}/platform/event_log_${certbridge_platform}.cc)
target_compile_options(certbridge_agent_platform PRIVATE ${CERTBRIDGE_WARNINGS})
target_link_libraries(certbridge_agent_platform PUBLIC
  certbridge_common absl::status absl::statusor absl::strings Threads::Threads)
if(WIN32)
  target_link_libraries(certbridge_agent_platform PUBLIC advapi32 crypt32)
endif()

# What the event log says (ids, types, texts): pure functions, shared by registration, the
# session and the job executor; the platform's EventLog delivers them.
add_library(certbridge_agent_events STATIC ${CMAKE_CURRENT_LIST_DIR}/events/admin_events.cc)
target_compile_options(certbridge_agent_events PRIVATE ${CERTBRIDGE_WARNINGS})
target_link_libraries(certbridge_agent_events PUBLIC
  certbridge_agent_platform certbridge_adcs certbridge_proto absl::strings absl::time)

# The state dir's files (atomic writes), shared by the client and the job journal.
add_library(certbridge_agent_state STATIC ${CMAKE_CURRENT_LIST_DIR}/client/state_dir.cc)
target_compile_options(certbridge_agent_state PRIVATE ${CERTBRIDGE_WARNINGS})
target_link_libraries(certbridge_agent_state PUBLIC
  certbridge_agent_platform certbridge_common absl::status absl::statusor absl::strings)

# Job execution: the executor, its journal, the encrypted store of generated keys and the
# agent's own policy (agent_policy: pure decisions; agent_policy_state: its files).
# Links the CaBackend seam only; main.cc picks the implementation. No OpenSSL here: the
# encrypted PKCS#8 of pending keys comes from common/pki.
add_library(certbridge_agent_jobs STATIC
  ${CMAKE_CURRENT_LIST_DIR}/jobs/agent_policy.cc
  ${CMAKE_CURRENT_LIST_DIR}/jobs/agent_policy_state.cc
  ${CMAKE_CURRENT_LIST_DIR}/jobs/job_executor.cc
  ${CMAKE_CURRENT_LIST_DIR}/jobs/job_journal.cc
  ${CMAKE_CURRENT_LIST_DIR}/jobs/pending_key_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/jobs/record_log.cc)
target_compile_options(certbridge_agent_jobs PRIVATE ${CERTBRIDGE_WARNINGS})
target_link_libraries(certbridge_agent_jobs
  PUBLIC certbridge_agent_state certbridge_agent_events certbridge_ca_backend certbridge_adcs
         certbridge_pki
         certbridge_proto certbridge_common absl::synchronization absl::strings Threads::Threads)

add_library(certbridge_agent_client STATIC
  ${CMAKE_CURRENT_LIST_DIR}/client/agent_info.cc
  ${CMAKE_CURRENT_LIST_DIR}/client/agent_session.cc
  ${CMAKE_CURRENT_LIST_DIR}/client/backoff.cc
  ${CMAKE_CURRENT_LIST_DIR}/client/broker_channel.cc
  ${CMAKE_CURRENT_LIST_DIR}/client/registration.cc
  ${CMAKE_CURRENT_LIST_DIR}/client/renewal_policy.cc)
target_compile_options(certbridge_agent_client PRIVATE ${CERTBRIDGE_WARNINGS})
target_compile_definitions(certbridge_agent_client PRIVATE
  CERTBRIDGE_VERSION="${PROJECT_VERSION}")
target_link_libraries(certbridge_agent_client PUBLIC
  certbridge_agent_state certbridge_agent_jobs certbridge_common certbridge_pki certbridge_proto
  absl::random_random absl::strings absl::time absl::synchronization
  PkgConfig::GRPCPP Threads::Threads)

# main.cc runs jobs against this platform's own CA client unless --ca-emulator is given:
# native_ca_backend_windows.cc (ComCaBackend) or native_ca_backend_posix.cc (none).
add_executable(certbridge-agent ${CMAKE_CURRENT_LIST_DIR}/main.cc
  ${CMAKE_CURRENT_LIST_DIR}/native_ca_backend_${certbridge_platform}.cc)
target_compile_options(certbridge-agent PRIVATE ${CERTBRIDGE_WARNINGS})
target_link_libraries(certbridge-agent PRIVATE certbridge_agent_client)
if(WIN32)
  target_link_libraries(certbridge-agent PRIVATE certbridge_ca_com)
  # The message table the event log source points at (platform/event_log_messages.mc),
  # linked into the exe as a resource.
  find_program(MINGW_WINDMC NAMES x86_64-w64-mingw32-windmc windmc REQUIRED)
  find_program(MINGW_WINDRES NAMES x86_64-w64-mingw32-windres windres REQUIRED)
  set(messages_dir ${CMAKE_CURRENT_BINARY_DIR}/event_log_messages)
  set(messages_mc ${CMAKE_CURRENT_LIST_DIR}/platform/event_log_messages.mc)
  add_custom_command(OUTPUT ${messages_dir}/event_log_messages.o
    COMMAND ${CMAKE_COMMAND} -E make_directory ${messages_dir}
    COMMAND ${MINGW_WINDMC} -r ${messages_dir} -h ${messages_dir} ${messages_mc}
    COMMAND ${MINGW_WINDRES} -I ${messages_dir} -i ${messages_dir}/event_log_messages.rc
            -o ${messages_dir}/event_log_messages.o
    DEPENDS ${messages_mc}
    COMMENT "windmc/windres: the event log message table"
    VERBATIM)
  target_sources(certbridge-agent PRIVATE ${messages_dir}/event_log_messages.o)
endif()

# `certbridge-agent test-ca` runs agent/ca's checks; on Linux against adcs-emulator. Wired
# only when that library is part of the tree.
if(TARGET certbridge_ca_emulator)
  target_link_libraries(certbridge-agent PRIVATE certbridge_ca_emulator)
  target_compile_definitions(certbridge-agent PRIVATE CERTBRIDGE_AGENT_HAS_TEST_CA=1)
endif()
