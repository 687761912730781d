# reports/: the conformance results JSON that mailreport reads from files other machines wrote.
if(TARGET mh_reports)
  mh_fuzz_target(reports_conformance LIBS mh::reports)
endif()
