// The shared page style and the SVG chart code (moved here from mailload's report).
#include "mailharness/reports/html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "mailharness/load/units.hpp"

namespace mailharness::reports {

std::string xml_escape(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            case '\'': o += "&#39;"; break;
            default:
                // XML 1.0 has no place for most control characters.
                if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') o += '?';
                else o += c;
        }
    }
    return o;
}

std::string fixed(double v, int digits) {
    char b[48];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

std::string format_micros(double us) { return load::format_micros(us); }

namespace {

constexpr std::string_view palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
                                        "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a"};

std::string num(double v) { return fixed(v, 1); }

// 1, 2, 5 x 10^k at or above v.
double nice_ceiling(double v) {
    if (v <= 0) return 1;
    const double p = std::pow(10.0, std::floor(std::log10(v)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * p >= v) return m * p;
    return 10 * p;
}

std::string count_label(double v) {
    char b[32];
    if (v >= 1e6) std::snprintf(b, sizeof b, "%gM", v / 1e6);
    else if (v >= 1e3) std::snprintf(b, sizeof b, "%gk", v / 1e3);
    else std::snprintf(b, sizeof b, "%g", v);
    return b;
}

constexpr const char* style = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:1em;margin:18px 0 4px}
.meta{color:#555}.aborted{background:#fde2e1;border:1px solid #d62728;padding:8px 12px;border-radius:4px}
.verdict{padding:8px 12px;border-radius:4px;font-weight:bold}.verdict.pass{background:#e3f4e3}.verdict.fail{background:#fde2e1}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;vertical-align:top}
th:first-child,td:first-child,td.text{text-align:left}th{background:#f6f6f6}
.pass{color:#2ca02c;font-weight:bold}.fail{color:#d62728;font-weight:bold}.skip{color:#7f7f7f}.warn{color:#ff7f0e;font-weight:bold}.same{color:#555}
pre.transcript{background:#f6f6f6;border-left:3px solid #d62728;margin:4px 0;padding:4px 8px;font-size:.85em;white-space:pre-wrap;text-align:left}
details summary{cursor:pointer;color:#555}
figure{margin:10px 0}svg.chart{font-size:11px;background:#fff}svg .title{font-size:13px;font-weight:600}
svg .grid{stroke:#e5e5e5;stroke-width:1}svg .frame{fill:none;stroke:#999}svg .axis text{fill:#555}
svg path.series{fill:none;stroke-width:1.6;stroke-linejoin:round}svg .legend line{stroke-width:3}svg .nodata{fill:#d62728;font-size:16px}
)";

// Measures each series as the browser drew it: the sum of path lengths goes into data-drawn.
constexpr const char* self_check = R"(
for (const svg of document.querySelectorAll('svg.chart')) {
  let total = 0;
  for (const p of svg.querySelectorAll('path.series')) total += p.getTotalLength();
  svg.setAttribute('data-drawn', total.toFixed(1));
}
document.body.setAttribute('data-charts-checked', document.querySelectorAll('svg.chart').length);
)";

}  // namespace

std::string_view palette_color(std::size_t i) noexcept { return palette[i % std::size(palette)]; }

double percentile_x(double p) { return std::log10(1.0 / std::max(1e-7, 1.0 - p / 100.0)); }

std::vector<std::pair<double, double>> downsample(const std::vector<std::pair<double, double>>& points, std::size_t max_points) {
    max_points = std::max<std::size_t>(max_points, 4);
    if (points.size() <= max_points) return points;
    std::vector<std::pair<double, double>> out;
    out.reserve(max_points);
    out.push_back(points.front());
    const std::size_t inner = points.size() - 2, buckets = (max_points - 2) / 2;
    for (std::size_t b = 0; b < buckets; ++b) {
        const std::size_t from = 1 + inner * b / buckets, to = 1 + inner * (b + 1) / buckets;
        if (from >= to) continue;
        std::size_t lo = from, hi = from;
        for (std::size_t i = from; i < to; ++i) {
            if (points[i].second < points[lo].second) lo = i;
            if (points[i].second > points[hi].second) hi = i;
        }
        out.push_back(points[std::min(lo, hi)]);
        if (lo != hi) out.push_back(points[std::max(lo, hi)]);
    }
    out.push_back(points.back());
    return out;
}

void chart(std::ostream& o, std::string_view id, std::string_view title, std::vector<series> all, x_axis xa, y_axis ya) {
    constexpr double W = 860, H = 300, L = 70, R = 170, T = 30, B = 40;
    const double pw = W - L - R, ph = H - T - B;
    std::erase_if(all, [](const series& s) { return s.points.empty(); });
    for (auto& s : all) s.points = downsample(s.points);
    double xmin = 0, xmax = 1, ymin = 0, ymax = 1;
    bool first = true;
    for (const auto& s : all)
        for (auto [x, y] : s.points) {
            if (first) xmin = xmax = x, ymin = ymax = y, first = false;
            xmin = std::min(xmin, x), xmax = std::max(xmax, x);
            ymin = std::min(ymin, y), ymax = std::max(ymax, y);
        }
    if (xa == x_axis::seconds) xmin = 0;
    if (xa == x_axis::percentile) xmin = 0, xmax = std::max(xmax, 2.0);
    if (xa == x_axis::index) xmin = 1, xmax = std::max(xmax, 2.0);
    if (xmax <= xmin) xmax = xmin + 1;
    // y range: counts from 0 to a round number; latency on decades (log scale).
    double lo = 0, hi = nice_ceiling(ymax);
    if (ya == y_axis::micros_log) {
        lo = std::pow(10.0, std::floor(std::log10(std::max(1.0, ymin))));
        hi = std::pow(10.0, std::ceil(std::log10(std::max(lo * 10, ymax * 1.0001))));
    }
    auto sx = [&](double x) { return L + (x - xmin) / (xmax - xmin) * pw; };
    auto sy = [&](double y) {
        double f = ya == y_axis::micros_log ? (std::log10(std::max(y, lo)) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                                            : (y - lo) / (hi - lo);
        return T + ph - std::clamp(f, 0.0, 1.0) * ph;
    };

    o << "<figure><svg class=\"chart\" data-chart=\"" << xml_escape(id) << "\" data-series=\"" << all.size()
      << "\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " << W << ' ' << H << "\" width=\"" << W << "\" height=\"" << H
      << "\" role=\"img\" aria-label=\"" << xml_escape(title) << "\">\n<title>" << xml_escape(title) << "</title>\n";
    o << "<text x=\"" << L << "\" y=\"18\" class=\"title\">" << xml_escape(title) << "</text>\n";
    // grid and axes
    o << "<g class=\"axis\">";
    if (ya == y_axis::micros_log) {
        for (double v = lo; v <= hi * 1.0001; v *= 10)
            o << "<line x1=\"" << L << "\" x2=\"" << L + pw << "\" y1=\"" << num(sy(v)) << "\" y2=\"" << num(sy(v))
              << "\" class=\"grid\"/><text x=\"" << L - 6 << "\" y=\"" << num(sy(v) + 4) << "\" text-anchor=\"end\">"
              << format_micros(v) << "</text>";
    } else {
        for (int i = 0; i <= 4; ++i) {
            const double v = lo + (hi - lo) * i / 4;
            o << "<line x1=\"" << L << "\" x2=\"" << L + pw << "\" y1=\"" << num(sy(v)) << "\" y2=\"" << num(sy(v))
              << "\" class=\"grid\"/><text x=\"" << L - 6 << "\" y=\"" << num(sy(v) + 4) << "\" text-anchor=\"end\">"
              << count_label(v) << (ya == y_axis::percent ? "%" : "") << "</text>";
        }
    }
    if (xa == x_axis::percentile) {
        for (double p : {0.0, 90.0, 99.0, 99.9, 99.99, 99.999, 99.9999}) {
            const double x = percentile_x(p);
            if (x > xmax + 1e-9) break;
            char label[16];
            std::snprintf(label, sizeof label, "%g%%", p);
            o << "<line x1=\"" << num(sx(x)) << "\" x2=\"" << num(sx(x)) << "\" y1=\"" << T << "\" y2=\"" << T + ph
              << "\" class=\"grid\"/><text x=\"" << num(sx(x)) << "\" y=\"" << T + ph + 16 << "\" text-anchor=\"middle\">" << label
              << "</text>";
        }
    } else {
        const double step = std::max(1.0, nice_ceiling((xmax - xmin) / 8));
        for (double x = xa == x_axis::index ? 1 : 0; x <= xmax + 1e-9; x += step)
            o << "<line x1=\"" << num(sx(x)) << "\" x2=\"" << num(sx(x)) << "\" y1=\"" << T << "\" y2=\"" << T + ph
              << "\" class=\"grid\"/><text x=\"" << num(sx(x)) << "\" y=\"" << T + ph + 16 << "\" text-anchor=\"middle\">"
              << (xa == x_axis::index ? "#" + count_label(x) : count_label(x) + "s") << "</text>";
    }
    o << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << pw << "\" height=\"" << ph << "\" class=\"frame\"/></g>\n";
    if (all.empty())
        o << "<text x=\"" << L + pw / 2 << "\" y=\"" << T + ph / 2 << "\" text-anchor=\"middle\" class=\"nodata\">no data</text>\n";
    // series: one path each; a single point is drawn as a short dash so that it has a length
    int legend = 0;
    for (const auto& s : all) {
        o << "<path class=\"series\" data-name=\"" << xml_escape(s.name) << "\" data-points=\"" << s.points.size()
          << "\" stroke=\"" << s.color << "\" d=\"";
        for (std::size_t i = 0; i < s.points.size(); ++i)
            o << (i ? " L" : "M") << num(sx(s.points[i].first)) << ' ' << num(sy(s.points[i].second));
        if (s.points.size() == 1) o << " h4";
        o << "\"/>\n";
        const double ly = T + 10 + 18 * legend++;
        o << "<g class=\"legend\"><line x1=\"" << L + pw + 12 << "\" x2=\"" << L + pw + 32 << "\" y1=\"" << ly << "\" y2=\"" << ly
          << "\" stroke=\"" << s.color << "\"/><text x=\"" << L + pw + 38 << "\" y=\"" << ly + 4 << "\">" << xml_escape(s.name)
          << "</text></g>\n";
    }
    o << "</svg></figure>\n";
}

void page_begin(std::ostream& o, std::string_view title, std::string_view meta_html) {
    o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" << xml_escape(title)
      << "</title>\n<style>" << style << "</style></head>\n<body>\n";
    o << "<h1>" << xml_escape(title) << "</h1>\n";
    if (!meta_html.empty()) o << "<p class=\"meta\">" << meta_html << "</p>\n";
}

void page_end(std::ostream& o) { o << "<script>" << self_check << "</script>\n</body></html>\n"; }

std::string verdict_cell(std::string_view kind, std::string_view text) {
    return "<td class=\"" + std::string(kind) + "\">" + xml_escape(text) + "</td>";
}

}  // namespace mailharness::reports
