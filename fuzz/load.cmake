# mailload's parsers: thresholds and quantities, results.json, scenario YAML. Only when the
# loadgen folder is there (its model library has no Asio and builds with the fuzz preset).
if(EXISTS ${PROJECT_SOURCE_DIR}/loadgen/CMakeLists.txt)
  mh_fuzz_target(load_threshold LIBS mh::load_model)
  mh_fuzz_target(load_results LIBS mh::load_model mh::reports)
  mh_fuzz_target(load_scenario LIBS mh::load_model)
endif()
