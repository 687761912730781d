# mailconform's case files (YAML, with ${var} expansion) and target files.
if(TARGET mh::conform)
  mh_fuzz_target(conform_case LIBS mh::conform yaml-cpp)
  mh_fuzz_target(conform_target LIBS mh::conform yaml-cpp)
endif()
