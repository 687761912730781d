#include "mailharness/load/results.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

namespace mailharness::load {

using json = nlohmann::json;

const char* to_string(error_class c) noexcept {
    switch (c) {
        case error_class::refused: return "refused";
        case error_class::timeout: return "timeout";
        case error_class::tls: return "tls";
        case error_class::reply_4xx: return "4xx";
        case error_class::reply_5xx: return "5xx";
        case error_class::protocol: return "protocol";
        case error_class::network: return "network";
    }
    return "?";
}

bool parse_error_class(std::string_view s, error_class& out) noexcept {
    for (auto c : {error_class::refused, error_class::timeout, error_class::tls, error_class::reply_4xx,
                   error_class::reply_5xx, error_class::protocol, error_class::network}) {
        if (s == to_string(c)) {
            out = c;
            return true;
        }
    }
    return false;
}

// ---- compact_histogram ----

compact_histogram compact_histogram::from(const stats::histogram& h) {
    compact_histogram c;
    c.total = h.count();
    c.saturated = h.saturated_count();
    c.min = h.min();
    c.max = h.max();
    h.for_each_bucket([&](const stats::bucket& b) { c.counts.emplace_back(static_cast<std::uint32_t>(b.index), b.count); });
    return c;
}

void compact_histogram::add(const compact_histogram& o) {
    if (o.total == 0) return;
    if (total == 0) {
        *this = o;
        return;
    }
    std::vector<std::pair<std::uint32_t, std::uint64_t>> m;
    m.reserve(counts.size() + o.counts.size());
    std::size_t i = 0, k = 0;
    while (i < counts.size() || k < o.counts.size()) {
        if (k == o.counts.size() || (i < counts.size() && counts[i].first < o.counts[k].first)) m.push_back(counts[i++]);
        else if (i == counts.size() || o.counts[k].first < counts[i].first) m.push_back(o.counts[k++]);
        else {
            m.emplace_back(counts[i].first, counts[i].second + o.counts[k].second);
            ++i, ++k;
        }
    }
    counts = std::move(m);
    min = std::min(min, o.min);
    max = std::max(max, o.max);
    total += o.total;
    saturated += o.saturated;
}

namespace {

json compact_json(const compact_histogram& c) {
    const stats::histogram_settings s;
    json j = {{"format", "mailharness.histogram/1"}, {"lowest", s.lowest_discernible}, {"highest", s.highest_trackable},
              {"digits", s.significant_digits}, {"total", c.total}, {"saturated", c.saturated}};
    if (c.total) {
        j["min"] = c.min;
        j["max"] = c.max;
    }
    json counts = json::array();
    for (const auto& [i, n] : c.counts) counts.push_back(json::array({i, n}));
    j["counts"] = std::move(counts);
    return j;
}

}  // namespace

stats::histogram compact_histogram::expand() const {
    stats::histogram h;
    // from_json is the one way in core/stats to set exact min and max; the JSON comes from
    // this object, so it is valid unless the object was built inconsistently.
    if (stats::from_json(compact_json(*this), h)) h.reset();
    return h;
}

// ---- counters ----

void workload_counters::add(const workload_counters& o) noexcept {
    iterations += o.iterations;
    failed += o.failed;
    interrupted += o.interrupted;
    dropped += o.dropped;
    messages += o.messages;
    recipients += o.recipients;
    connections += o.connections;
    bytes_sent += o.bytes_sent;
    bytes_received += o.bytes_received;
}

void second_counts::add(const second_counts& o) noexcept {
    iterations += o.iterations;
    failed += o.failed;
    messages += o.messages;
    active += o.active;
}

workload_counters results::total() const {
    workload_counters t;
    for (const auto& [_, c] : counters) t.add(c);
    return t;
}

std::uint64_t results::error_count() const {
    std::uint64_t n = 0;
    for (const auto& e : errors) n += e.count;
    return n;
}

stats::histogram results::aggregate(std::string_view metric, std::string_view workload) const {
    stats::histogram h;
    for (const auto& [key, hist] : latency) {
        if (key.second != metric) continue;
        if (!workload.empty() && key.first != workload) continue;
        (void)h.merge(hist);  // same default settings everywhere
    }
    return h;
}

std::vector<std::string> results::metric_names() const {
    std::set<std::string> names;
    for (const auto& [key, h] : latency)
        if (!h.empty()) names.insert(key.second);
    return {names.begin(), names.end()};
}

// ---- thresholds ----

double observe(const threshold& t, const results& r, bool& no_data) {
    no_data = false;
    const double duration = r.run.duration_s;
    auto per_second = [&](double n) {
        if (duration <= 0) {
            no_data = true;
            return 0.0;
        }
        return n / duration;
    };
    switch (t.family) {
        case metric_family::latency: {
            const auto h = r.aggregate(t.metric, t.workload);
            if (t.stat == threshold_stat::count) return static_cast<double>(h.count());
            if (t.stat == threshold_stat::rate) return per_second(static_cast<double>(h.count()));
            if (h.empty()) {
                no_data = true;
                return 0;
            }
            switch (t.stat) {
                case threshold_stat::percentile: return static_cast<double>(h.value_at_percentile(t.percentile));
                case threshold_stat::avg: return h.mean();
                case threshold_stat::min: return static_cast<double>(h.min());
                case threshold_stat::max: return static_cast<double>(h.max());
                default: return 0;
            }
        }
        case metric_family::errors: {
            std::uint64_t n = 0;
            const std::string_view cls = t.metric.size() > 7 ? std::string_view(t.metric).substr(7) : std::string_view();
            for (const auto& e : r.errors) {
                if (!t.workload.empty() && e.workload != t.workload) continue;
                if (!cls.empty()) {
                    const bool code = cls.size() == 3 && std::all_of(cls.begin(), cls.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
                    if (code ? std::to_string(e.code) != cls : cls != to_string(e.cls)) continue;
                }
                n += e.count;
            }
            if (t.stat == threshold_stat::count) return static_cast<double>(n);
            std::uint64_t iterations = 0;
            for (const auto& [w, c] : r.counters)
                if (t.workload.empty() || w == t.workload) iterations += c.iterations;
            if (iterations == 0) {
                no_data = true;
                return 0;
            }
            return static_cast<double>(n) / static_cast<double>(iterations);
        }
        case metric_family::counter: {
            std::uint64_t n = 0;
            for (const auto& [w, c] : r.counters) {
                if (!t.workload.empty() && w != t.workload) continue;
                n += t.metric == "iterations" ? c.iterations : t.metric == "messages" ? c.messages : c.dropped;
            }
            if (t.stat == threshold_stat::count) return static_cast<double>(n);
            return per_second(static_cast<double>(n));
        }
    }
    return 0;
}

std::vector<threshold_result> evaluate(const std::vector<threshold>& defs, const results& r) {
    std::vector<threshold_result> out;
    for (const auto& d : defs) {
        threshold_result x;
        x.def = d;
        x.observed = observe(d, r, x.no_data);
        x.passed = !x.no_data && compare(x.observed, d.op, d.value);
        out.push_back(std::move(x));
    }
    return out;
}

bool thresholds_passed(const results& r) noexcept {
    return std::all_of(r.thresholds.begin(), r.thresholds.end(), [](const threshold_result& t) { return t.passed; });
}

// ---- JSON ----

namespace {

json counters_json(const workload_counters& c) {
    return {{"iterations", c.iterations}, {"failed", c.failed},         {"interrupted", c.interrupted},
            {"dropped", c.dropped},       {"messages", c.messages},     {"recipients", c.recipients},
            {"connections", c.connections}, {"bytes_sent", c.bytes_sent}, {"bytes_received", c.bytes_received}};
}


struct bad_results : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Typed reads of untrusted JSON. nlohmann's get<> converts between number kinds with a plain
// cast (undefined for 1e300 into an integer): every number is checked for kind and range here.
std::uint64_t u64(const json& j, const char* what) {
    if (j.is_number_unsigned()) return j.get<std::uint64_t>();
    if (j.is_number_integer() && j.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(j.get<std::int64_t>());
    throw bad_results(std::string(what) + " is not a whole number >= 0");
}
template <class T>
T bounded(const json& j, const char* what, std::uint64_t max = std::numeric_limits<T>::max()) {
    const auto v = u64(j, what);
    if (v > max) throw bad_results(std::string(what) + " is too large");
    return static_cast<T>(v);
}
double real(const json& j, const char* what) {
    if (!j.is_number()) throw bad_results(std::string(what) + " is not a number");
    const double v = j.get<double>();
    if (!std::isfinite(v)) throw bad_results(std::string(what) + " is not finite");
    return v;
}
bool flag(const json& j, const char* what) {
    if (!j.is_boolean()) throw bad_results(std::string(what) + " is not true or false");
    return j.get<bool>();
}
std::string text(const json& j, const char* what) {
    if (!j.is_string()) throw bad_results(std::string(what) + " is not a string");
    return j.get<std::string>();
}

workload_counters counters_from(const json& j) {
    workload_counters c;
    c.iterations = u64(j.at("iterations"), "counters.iterations");
    c.failed = u64(j.at("failed"), "counters.failed");
    c.interrupted = u64(j.at("interrupted"), "counters.interrupted");
    c.dropped = u64(j.at("dropped"), "counters.dropped");
    c.messages = u64(j.at("messages"), "counters.messages");
    c.recipients = u64(j.at("recipients"), "counters.recipients");
    c.connections = u64(j.at("connections"), "counters.connections");
    c.bytes_sent = u64(j.at("bytes_sent"), "counters.bytes_sent");
    c.bytes_received = u64(j.at("bytes_received"), "counters.bytes_received");
    return c;
}

stats::histogram histogram_from(const json& j, const std::string& where) {
    stats::histogram h;
    if (auto ec = stats::from_json(j, h)) throw bad_results(where + ": " + ec.message());
    if (h.settings() != stats::histogram_settings{}) throw bad_results(where + ": histogram settings are not mailload's");
    return h;
}

}  // namespace

json to_json(const results& r) {
    json j;
    j["format"] = results_format;
    j["scenario"] = {{"name", r.scenario}, {"description", r.description}, {"file", r.scenario_file}, {"seed", r.seed}};
    j["run"] = {{"started_at", r.run.started_at},
                {"duration_s", r.run.duration_s},
                {"planned_duration_s", r.run.planned_duration_s},
                {"shard", {{"index", r.run.shard.index}, {"count", r.run.shard.count}}},
                {"shards", r.run.shards},
                {"threads", r.run.threads},
                {"aborted", r.run.aborted},
                {"abort_reason", r.run.abort_reason},
                {"version", r.run.version}};
    json w = json::array();
    for (const auto& x : r.workloads) {
        const auto it = r.counters.find(x.name);
        w.push_back({{"name", x.name},
                     {"protocol", x.protocol},
                     {"target", x.target},
                     {"executor", x.executor},
                     {"counters", counters_json(it == r.counters.end() ? workload_counters{} : it->second)}});
    }
    j["workloads"] = std::move(w);
    json lat = json::array();
    for (const auto& [key, h] : r.latency)
        lat.push_back({{"workload", key.first}, {"metric", key.second}, {"histogram", stats::to_json(h)}});
    j["latency"] = std::move(lat);
    json errs = json::array();
    for (const auto& e : r.errors)
        errs.push_back({{"workload", e.workload}, {"action", e.action}, {"class", to_string(e.cls)}, {"code", e.code},
                        {"count", e.count}, {"example", e.example}});
    j["errors"] = std::move(errs);
    json series = json::array();
    for (const auto& s : r.series) {
        json ws = json::object();
        for (const auto& [name, c] : s.workloads)
            ws[name] = {{"iterations", c.iterations}, {"failed", c.failed}, {"messages", c.messages}, {"active", c.active}};
        json ls = json::object();
        for (const auto& [name, h] : s.latency) ls[name] = compact_json(h);
        series.push_back({{"t", s.second}, {"workloads", std::move(ws)}, {"latency", std::move(ls)}});
    }
    j["series"] = std::move(series);
    json th = json::array();
    for (const auto& t : r.thresholds)
        th.push_back({{"expression", t.def.expression},
                      {"workload", t.def.workload},
                      {"abort_on_fail", t.def.abort_on_fail},
                      {"delay_ms", t.def.abort_delay.count() / 1000},
                      {"passed", t.passed},
                      {"no_data", t.no_data},
                      {"observed", t.observed},
                      {"observed_text", t.no_data ? std::string("no data") : format_threshold_value(t.def, t.observed)}});
    j["thresholds"] = std::move(th);
    return j;
}

std::string to_json_string(const results& r) { return to_json(r).dump(1) + "\n"; }

bool from_json(const json& j, results& out, std::string& error) {
    try {
        results r;
        if (!j.is_object() || !j.contains("format") || j.at("format") != results_format)
            throw bad_results(std::string("not mailload results (format ") + std::string(results_format) + ")");
        const auto& sc = j.at("scenario");
        r.scenario = text(sc.at("name"), "scenario.name");
        r.description = text(sc.at("description"), "scenario.description");
        r.scenario_file = text(sc.at("file"), "scenario.file");
        r.seed = u64(sc.at("seed"), "scenario.seed");
        const auto& run = j.at("run");
        r.run.started_at = text(run.at("started_at"), "run.started_at");
        r.run.duration_s = real(run.at("duration_s"), "run.duration_s");
        r.run.planned_duration_s = real(run.at("planned_duration_s"), "run.planned_duration_s");
        r.run.shard.index = bounded<std::uint32_t>(run.at("shard").at("index"), "run.shard.index");
        r.run.shard.count = bounded<std::uint32_t>(run.at("shard").at("count"), "run.shard.count", 100000);
        for (const auto& x : run.at("shards")) r.run.shards.push_back(bounded<std::uint32_t>(x, "run.shards"));
        r.run.threads = bounded<unsigned>(run.at("threads"), "run.threads");
        r.run.aborted = flag(run.at("aborted"), "run.aborted");
        r.run.abort_reason = text(run.at("abort_reason"), "run.abort_reason");
        r.run.version = text(run.at("version"), "run.version");
        if (!std::isfinite(r.run.duration_s) || r.run.duration_s < 0) throw bad_results("run.duration_s is not a duration");
        if (r.run.shard.count == 0 || r.run.shard.index >= r.run.shard.count) throw bad_results("run.shard is out of range");
        if (r.run.shards.empty()) throw bad_results("run.shards is empty");
        for (auto s : r.run.shards)
            if (s >= r.run.shard.count) throw bad_results("run.shards lists a shard beyond the count");
        for (const auto& w : j.at("workloads")) {
            workload_info x;
            x.name = text(w.at("name"), "workloads.name");
            x.protocol = text(w.at("protocol"), "workloads.protocol");
            x.target = text(w.at("target"), "workloads.target");
            x.executor = text(w.at("executor"), "workloads.executor");
            r.counters[x.name] = counters_from(w.at("counters"));
            r.workloads.push_back(std::move(x));
        }
        for (const auto& l : j.at("latency")) {
            const auto key = std::make_pair(text(l.at("workload"), "latency.workload"), text(l.at("metric"), "latency.metric"));
            if (r.latency.count(key)) throw bad_results("latency " + key.first + "/" + key.second + " given twice");
            r.latency.emplace(key, histogram_from(l.at("histogram"), "latency " + key.first + "/" + key.second));
        }
        for (const auto& e : j.at("errors")) {
            error_entry x;
            x.workload = text(e.at("workload"), "errors.workload");
            x.action = text(e.at("action"), "errors.action");
            if (!parse_error_class(text(e.at("class"), "errors.class"), x.cls)) throw bad_results("unknown error class");
            x.code = bounded<int>(e.at("code"), "errors.code", 999);
            x.count = u64(e.at("count"), "errors.count");
            x.example = text(e.at("example"), "errors.example");
            r.errors.push_back(std::move(x));
        }
        std::int64_t last = -1;
        for (const auto& s : j.at("series")) {
            second_sample x;
            x.second = bounded<std::uint32_t>(s.at("t"), "series.t");
            if (static_cast<std::int64_t>(x.second) <= last) throw bad_results("series seconds are not increasing");
            last = x.second;
            for (const auto& [name, c] : s.at("workloads").items()) {
                second_counts k;
                k.iterations = u64(c.at("iterations"), "series.iterations");
                k.failed = u64(c.at("failed"), "series.failed");
                k.messages = u64(c.at("messages"), "series.messages");
                k.active = u64(c.at("active"), "series.active");
                x.workloads[name] = k;
            }
            for (const auto& [name, h] : s.at("latency").items())
                x.latency[name] = compact_histogram::from(histogram_from(h, "series t=" + std::to_string(x.second) + " " + name));
            r.series.push_back(std::move(x));
        }
        for (const auto& t : j.at("thresholds")) {
            threshold_result x;
            x.def.abort_on_fail = flag(t.at("abort_on_fail"), "thresholds.abort_on_fail");
            x.def.abort_delay = usec(bounded<std::int64_t>(t.at("delay_ms"), "thresholds.delay_ms", 8640000000ull) * 1000);
            std::string why;
            if (!parse_threshold(text(t.at("expression"), "thresholds.expression"), x.def, why)) throw bad_results("threshold: " + why);
            const auto w = text(t.at("workload"), "thresholds.workload");
            if (!w.empty()) x.def.workload = w;
            x.passed = flag(t.at("passed"), "thresholds.passed");
            x.no_data = flag(t.at("no_data"), "thresholds.no_data");
            x.observed = real(t.at("observed"), "thresholds.observed");
            r.thresholds.push_back(std::move(x));
        }
        out = std::move(r);
        return true;
    } catch (const bad_results& e) {
        error = e.what();
    } catch (const json::exception& e) {
        error = std::string("results JSON: ") + e.what();
    }
    return false;
}

bool from_json_string(std::string_view text, results& out, std::string& error) {
    const json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) {
        error = "not JSON";
        return false;
    }
    return from_json(j, out, error);
}

// ---- merge ----

bool merge(const std::vector<results>& parts, results& out, std::string& error) {
    if (parts.empty()) {
        error = "nothing to merge";
        return false;
    }
    const auto& first = parts.front();
    std::set<std::uint32_t> shards;
    for (const auto& p : parts) {
        if (p.scenario != first.scenario || p.seed != first.seed) {
            error = "results of different scenarios (" + first.scenario + " seed " + std::to_string(first.seed) + ", " +
                    p.scenario + " seed " + std::to_string(p.seed) + ")";
            return false;
        }
        if (p.run.shard.count != first.run.shard.count) {
            error = "results split into different numbers of shards";
            return false;
        }
        for (auto s : p.run.shards) {
            if (!shards.insert(s).second) {
                error = "shard " + std::to_string(s) + " is given twice";
                return false;
            }
        }
    }
    if (shards.empty()) {
        error = "the results hold no shard";
        return false;
    }
    results r;
    r.scenario = first.scenario;
    r.description = first.description;
    r.scenario_file = first.scenario_file;
    r.seed = first.seed;
    r.workloads = first.workloads;
    r.run = first.run;
    r.run.shards.assign(shards.begin(), shards.end());
    r.run.shard = {*shards.begin(), first.run.shard.count};
    r.run.aborted = false;
    std::map<std::tuple<std::string, std::string, int, int>, std::size_t> error_index;
    std::map<std::uint32_t, second_sample> series;
    for (const auto& p : parts) {
        r.run.duration_s = std::max(r.run.duration_s, p.run.duration_s);
        r.run.planned_duration_s = std::max(r.run.planned_duration_s, p.run.planned_duration_s);
        r.run.started_at = std::min(r.run.started_at, p.run.started_at);
        r.run.threads = std::max(r.run.threads, p.run.threads);
        if (p.run.aborted) {
            r.run.aborted = true;
            if (r.run.abort_reason.empty()) r.run.abort_reason = p.run.abort_reason;
        }
        for (const auto& w : p.workloads) {
            if (std::none_of(r.workloads.begin(), r.workloads.end(), [&](const workload_info& x) { return x.name == w.name; }))
                r.workloads.push_back(w);
        }
        for (const auto& [w, c] : p.counters) r.counters[w].add(c);
        for (const auto& [key, h] : p.latency) {
            auto [it, fresh] = r.latency.try_emplace(key, h);
            if (!fresh) {
                if (auto ec = it->second.merge(h)) {
                    error = "latency " + key.first + "/" + key.second + ": " + ec.message();
                    return false;
                }
            }
        }
        for (const auto& e : p.errors) {
            const auto k = std::make_tuple(e.workload, e.action, static_cast<int>(e.cls), e.code);
            auto [it, fresh] = error_index.try_emplace(k, r.errors.size());
            if (fresh) r.errors.push_back(e);
            else r.errors[it->second].count += e.count;
        }
        for (const auto& s : p.series) {
            auto& m = series[s.second];
            m.second = s.second;
            for (const auto& [w, c] : s.workloads) m.workloads[w].add(c);
            for (const auto& [name, h] : s.latency) m.latency[name].add(h);
        }
    }
    for (auto& [_, s] : series) r.series.push_back(std::move(s));
    std::vector<threshold> defs;
    for (const auto& t : first.thresholds) defs.push_back(t.def);
    r.thresholds = evaluate(defs, r);
    out = std::move(r);
    return true;
}

}  // namespace mailharness::load
