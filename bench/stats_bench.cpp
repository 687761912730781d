// Benchmarks for the latency histogram mailload records into on every action:
//  - record() of log-normal latencies (the hot path: once per command per connection),
//  - record_corrected() with a stall every 100 samples,
//  - value_at_percentile() and the percentile spectrum on a filled histogram (report time),
//  - merge() of two shards.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "mailharness/stats/histogram.hpp"

namespace {

using mailharness::stats::histogram;

// Log-normal latencies around 2 ms in microseconds; the table is a power of two for cheap wrap.
std::vector<std::uint64_t> latencies() {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(std::log(2000.0), 1.2);
    std::vector<std::uint64_t> v(1 << 16);
    for (auto& x : v) x = static_cast<std::uint64_t>(dist(rng));
    return v;
}

void bm_record(benchmark::State& state) {
    const auto values = latencies();
    histogram h;
    std::size_t i = 0;
    for (auto _ : state) {
        h.record(values[i++ & (values.size() - 1)]);
    }
    benchmark::DoNotOptimize(h.count());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_record);

void bm_record_corrected(benchmark::State& state) {
    const auto values = latencies();
    histogram h;
    std::size_t i = 0;
    for (auto _ : state) {
        // Every 100th sample is a 250 ms stall against a 1 ms expected interval.
        const std::uint64_t v = (i % 100 == 99) ? 250'000 : values[i & (values.size() - 1)];
        h.record_corrected(v, 1000);
        ++i;
    }
    benchmark::DoNotOptimize(h.count());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_record_corrected);

histogram filled() {
    histogram h;
    for (auto v : latencies()) h.record(v);
    return h;
}

void bm_value_at_percentile(benchmark::State& state) {
    const histogram h = filled();
    const double p = static_cast<double>(state.range(0)) / 10.0;
    for (auto _ : state) benchmark::DoNotOptimize(h.value_at_percentile(p));
}
BENCHMARK(bm_value_at_percentile)->Arg(500)->Arg(990)->Arg(999);

void bm_percentile_spectrum(benchmark::State& state) {
    const histogram h = filled();
    for (auto _ : state) benchmark::DoNotOptimize(h.percentile_spectrum(5));
}
BENCHMARK(bm_percentile_spectrum);

void bm_merge(benchmark::State& state) {
    const histogram shard = filled();
    histogram total;
    for (auto _ : state) {
        benchmark::DoNotOptimize(total.merge(shard));
    }
}
BENCHMARK(bm_merge);

}  // namespace

BENCHMARK_MAIN();
