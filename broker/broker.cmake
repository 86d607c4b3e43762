add_executable(certbridge-broker ${CMAKE_CURRENT_SOURCE_DIR}/main.cc)
target_compile_options(certbridge-broker PRIVATE ${CERTBRIDGE_WARNINGS})
target_compile_definitions(certbridge-broker PRIVATE CERTBRIDGE_VERSION="${PROJECT_VERSION}")
target_link_libraries(certbridge-broker PRIVATE
  certbridge_broker_service certbridge_store_postgres certbridge_broker_metrics_prometheus
  certbridge_scep_http certbridge_scep certbridge_scep_store_postgres
  prometheus-cpp::pull
  ${GRPCPP_REFLECTION_LIB} absl::flags absl::flags_parse absl::flags_usage)
