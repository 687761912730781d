mh_fuzz_target(mime_message LIBS mh::mime)
