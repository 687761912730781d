# refmaild's parsers of operator-supplied files and attacker text (reference-server/policy, users,
# config, rules). The libraries have no Asio, so the fuzz preset builds them (see the top-level
# CMakeLists.txt).
if(TARGET mh::refmaild_config)
  mh_fuzz_target(refmaild_access_list LIBS mh::refmaild_policy)
  mh_fuzz_target(refmaild_ban_list LIBS mh::refmaild_policy)
  mh_fuzz_target(refmaild_passwd LIBS mh::refmaild_users)
  mh_fuzz_target(refmaild_config LIBS mh::refmaild_config)
  mh_fuzz_target(refmaild_rules LIBS mh::refmaild_rules)
endif()
if(TARGET mh::refmaild_store)
  mh_fuzz_target(refmaild_uid_list LIBS mh::refmaild_store)
endif()
if(TARGET mh::refmaild_imap)
  # Whole IMAP sessions (parser + session core) on a real Maildir in a temporary directory.
  mh_fuzz_target(imap_session LIBS mh::refmaild_imap mh::imap)
endif()
