mh_fuzz_target(pop3_command LIBS mh::pop3)
mh_fuzz_target(pop3_response LIBS mh::pop3)
mh_fuzz_target(pop3_session LIBS mh::pop3_server)
