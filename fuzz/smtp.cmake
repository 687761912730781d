mh_fuzz_target(smtp_command LIBS mh::smtp)
mh_fuzz_target(smtp_path LIBS mh::smtp)
mh_fuzz_target(smtp_reply LIBS mh::smtp)
mh_fuzz_target(smtp_data LIBS mh::smtp)
