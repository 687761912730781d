add_executable(core_bench core_bench.cpp)
target_link_libraries(core_bench PRIVATE mh::smtp mh::pop3 benchmark::benchmark)

add_executable(stats_bench stats_bench.cpp)
target_link_libraries(stats_bench PRIVATE mh::stats benchmark::benchmark)

add_executable(imap_bench imap_bench.cpp)
target_link_libraries(imap_bench PRIVATE mh::imap benchmark::benchmark)
