// The one visual style of every HTML page mailharness writes (mailload's report, mailconform's
// page and matrix, mailreport's compare and trend pages): the same header, tables, colours and
// chart code. Pages are self-contained: inline CSS and SVG, a few lines of inline script,
// nothing fetched.
//
// Charts: every chart is an <svg class="chart" data-chart="ID"> whose data series are
// <path class="series" data-points="N"> elements; a chart without data says "no data" and has
// none. The page's script stores the drawn length of each chart's series in its data-drawn
// attribute and the number of charts on <body data-charts-checked>, which the headless
// Chromium test reads to find empty charts. A series is downsampled to at most
// max_chart_points points before drawing (a 24-hour soak has 86,400 seconds).
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailharness::reports {

/// XML/HTML escaping of text and attribute values. Control characters other than TAB, LF and
/// CR, which XML 1.0 does not allow, become '?'.
std::string xml_escape(std::string_view s);

/// "%.*f".
std::string fixed(double v, int digits);

/// Series colours, in order, and the colour of errors and failures.
std::string_view palette_color(std::size_t i) noexcept;
inline constexpr std::string_view error_color = "#d62728";

/// Most points drawn per series; longer series are downsampled (see downsample()).
inline constexpr std::size_t max_chart_points = 600;

struct series {
    std::string name;
    std::string color;
    std::vector<std::pair<double, double>> points;  ///< (x, y), x increasing
};

/// At most `max_points` points of `points` (x increasing): the first and last points, and for
/// each of (max_points - 2) / 2 equal runs of the rest its lowest and highest y in x order, so
/// spikes survive. Returns the input when it is short enough. `max_points` below 4 counts as 4.
std::vector<std::pair<double, double>> downsample(const std::vector<std::pair<double, double>>& points,
                                                  std::size_t max_points = max_chart_points);

enum class x_axis {
    seconds,     ///< seconds since the start of a run; labels "10s"
    percentile,  ///< x = percentile_x(p); labels "90%", "99%", ...
    index,       ///< run number 1..N (trend pages); labels "#3"
};
enum class y_axis {
    count,       ///< linear from 0, labels 1k / 1M
    micros_log,  ///< latency in microseconds, log scale, labels "1.5ms"
    percent,     ///< linear from 0, labels "20%"
};

/// The HdrHistogram percentile axis: x = log10(1 / (1 - p/100)), so 90, 99, 99.9 are evenly spaced.
double percentile_x(double p);

/// One chart, as described at the top of this file.
void chart(std::ostream& o, std::string_view id, std::string_view title, std::vector<series> all, x_axis xa, y_axis ya);

/// The page head (<!DOCTYPE> to <body>), the common header (<h1>, a meta line) and the
/// closing part with the self-check script. `meta` is HTML (escape what goes in it).
void page_begin(std::ostream& o, std::string_view title, std::string_view meta_html);
void page_end(std::ostream& o);

/// "<td class=\"pass\">pass</td>" style verdict cells: kind is pass, fail, skip, warn or same.
std::string verdict_cell(std::string_view kind, std::string_view text);

/// Latency in microseconds for people: "830us", "12.4ms", "1.25s".
std::string format_micros(double us);

}  // namespace mailharness::reports
