# Latency statistics: the histogram JSON deserializer.
mh_fuzz_target(stats_json LIBS mh::stats)
