# The queue's model library (no Asio) is part of the fuzz build (reference-server/CMakeLists.txt
# stops before the programs); the target needs only its envelope parser.
mh_fuzz_target(queue_envelope LIBS mh::refmaild_queue_model)
