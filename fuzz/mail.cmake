mh_fuzz_target(mail_header LIBS mh::mail)
