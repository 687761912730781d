#include "metrics.hpp"

#include <sstream>

namespace mailharness::refmaild {

void latency_histogram::observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    sum_us.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void labelled_counter::add(const std::string& label, std::uint64_t n) {
    std::lock_guard lock(mutex_);
    values_[label] += n;
}

std::map<std::string, std::uint64_t> labelled_counter::snapshot() const {
    std::lock_guard lock(mutex_);
    return values_;
}

void render_labelled(std::string& out, const char* name, const char* help, const char* label,
                     const std::map<std::string, std::uint64_t>& values) {
    out += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [k, v] : values) out += std::string(name) + '{' + label + "=\"" + k + "\"} " + std::to_string(v) + '\n';
}

void render_counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
    out += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + " counter\n" + name + ' ' +
           std::to_string(value) + '\n';
}

void render_gauge(std::string& out, const char* name, const char* help, long long value) {
    out += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + " gauge\n" + name + ' ' +
           std::to_string(value) + '\n';
}

void render_histogram(std::string& out, const char* name, const char* help, const latency_histogram& h) {
    std::ostringstream o;
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
        cumulative += h.buckets[i];
        o << name << "_bucket{le=\"" << h.bounds[i] << "\"} " << cumulative << '\n';
    }
    cumulative += h.buckets[h.bounds.size()];
    o << name << "_bucket{le=\"+Inf\"} " << cumulative << '\n'
      << name << "_sum " << static_cast<double>(h.sum_us) / 1e6 << '\n'
      << name << "_count " << h.count << '\n';
    out += o.str();
}

}  // namespace mailharness::refmaild
