# SASL mechanisms (server and client side) and strict base64.
mh_fuzz_target(sasl_server LIBS mh::sasl)
mh_fuzz_target(base64 LIBS mh::sasl)
