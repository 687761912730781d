mh_fuzz_target(imap_command LIBS mh::imap)
mh_fuzz_target(imap_response LIBS mh::imap)
