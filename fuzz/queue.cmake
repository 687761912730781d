# The queue envelope parser lives in reference-server/queue/, which the fuzz preset does not build
# (it needs Asio); its sans-I/O source is compiled here on its own.
add_library(mh_fuzz_queue_envelope STATIC ${PROJECT_SOURCE_DIR}/reference-server/queue/envelope.cpp)
target_include_directories(mh_fuzz_queue_envelope PUBLIC ${PROJECT_SOURCE_DIR}/reference-server/queue/include)
mh_fuzz_target(queue_envelope LIBS mh_fuzz_queue_envelope)
