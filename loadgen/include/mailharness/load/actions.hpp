// The action registry: every action a flow can name, per protocol, with the latency metrics it
// records. The scenario loader looks names up here; the engine asks each protocol's session
// driver to run the actions of its protocol. Adding POP3 or IMAP means new action_kind values,
// rows in this table, a parameter struct and a driver; the flow interpreter (think times,
// probabilities, groups) and the metrics, reports and thresholds stay as they are.
//
// Metric names are "<protocol>.<phase>", plus protocol-neutral ones:
//   iteration      one run of the flow (closed model: from its start; open model: from the time
//                  it was due, so queueing behind a slow server counts: coordinated omission)
//   schedule_lag   open model: how late an iteration started after the time it was due
#pragma once

#include <span>
#include <string_view>

#include "mailharness/load/scenario.hpp"

namespace mailharness::load {

struct action_info {
    action_kind kind;
    /// The protocol; nullopt-like `neutral` for think and group.
    protocol proto;
    bool neutral;
    /// Name in the flow ("ehlo", "send", "think", "repeat").
    std::string_view name;
    /// Latency metrics the action records, first the action's own.
    std::span<const std::string_view> metrics;
    /// One line for `mailload actions` and the README.
    std::string_view summary;
};

/// All actions, protocol-neutral first.
std::span<const action_info> all_actions() noexcept;

/// The action called `name` for `p` (protocol-neutral actions match every protocol), or nullptr.
const action_info* find_action(protocol p, std::string_view name) noexcept;

/// The row of `k` (every kind has one).
const action_info& info(action_kind k) noexcept;

/// Protocol-neutral metric names.
inline constexpr std::string_view metric_iteration = "iteration";
inline constexpr std::string_view metric_schedule_lag = "schedule_lag";

}  // namespace mailharness::load
