//! A `queues.conf` section's settings as a starq `[queues.<name>]` table, and `[general]`.
//!
//! Settings are read as `queue_set_param` reads them: the last line of a name wins (a queue's
//! own line over its template's), except `joinempty` and `leavewhenempty`, whose lines add up.
//! A setting starq holds is written under its starq key; `app_queue`'s defaults that starq's
//! differ from are written too (`autofill`, `servicelevel`, the position and hold-time
//! announcements), so a queue behaves as it did. Anything else goes to the report.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use starq_core::config::limits;
use toml::{Table, Value};

use super::asterisk_conf::{Category, Variable};
use super::report::Report;
use super::rules::Rules;
use super::values::{boolean, is_true, number};

/// `[general]` settings that reach the queues.
#[derive(Debug, Default)]
pub(crate) struct General {
    /// `autofill`: the queues' default.
    pub(crate) autofill: bool,
}

/// Reads `[general]`, reporting what starq has no place for.
pub(crate) fn general(section: &Category, report: &mut Report) -> General {
    let mut general = General::default();
    for var in last_of_each(section) {
        let name = var.name.to_ascii_lowercase();
        let reason = match name.as_str() {
            "autofill" => {
                general.autofill = boolean(var, report);
                continue;
            }
            "shared_lastcall" if is_true(&var.value) => continue,
            "shared_lastcall" => {
                "starq always shares wrap-up across queues: an agent resting after a call is \
                 offered no call from any queue (shared_lastcall=yes)"
            }
            "persistentmembers" if !is_true(&var.value) => continue,
            "persistentmembers" => {
                "starq has no dynamic members: agents are configured, and their logins and \
                 pauses persist through the reports database ([report] sql_url)"
            }
            "negative_penalty_invalid" if !is_true(&var.value) => continue,
            "negative_penalty_invalid" => "starq penalties are never negative",
            "log_membername_as_agent" if !is_true(&var.value) => continue,
            "log_membername_as_agent" => "starq's queue_log names agents by id",
            "force_longest_waiting_caller" if super::values::is_false(&var.value) => continue,
            "force_longest_waiting_caller" => {
                "starq orders callers across queues by queue weight, then by wait"
            }
            "log_unpause_on_reason_change" | "log-caller-id-name" | "enable_cidname_logging"
                if !is_true(&var.value) =>
            {
                continue;
            }
            "log_unpause_on_reason_change" | "log-caller-id-name" | "enable_cidname_logging" => {
                "starq's queue_log has no such option"
            }
            "monitor-type" => "starq does not record calls: record with MixMonitor in the dialplan",
            "member" => "a member of no queue: app_queue reads members only in queue sections",
            _ => "not an app_queue [general] setting in Asterisk 22: app_queue ignores it",
        };
        report.add(&var.at, reason);
    }
    general
}

/// The section's variables with only the last of each name (without case) kept, in order;
/// `member` lines and the adding-up settings are read elsewhere.
fn last_of_each(section: &Category) -> impl Iterator<Item = &Variable> {
    let mut last = BTreeMap::new();
    for (i, var) in section.variables.iter().enumerate() {
        last.insert(var.name.to_ascii_lowercase(), i);
    }
    section.variables.iter().enumerate().filter_map(move |(i, var)| {
        let name = var.name.to_ascii_lowercase();
        let cumulative = matches!(name.as_str(), "member" | "joinempty" | "leavewhenempty");
        (!cumulative && last.get(&name) == Some(&i)).then_some(var)
    })
}

/// Settings whose value, when set at all, starq cannot hold: `(name, off, reason)`, `off`
/// telling the values that ask for nothing (those are starq's behaviour already).
const UNSUPPORTED: &[(&str, Off, &str)] = &[
    ("setinterfacevar", Off::No, "starq sets no MEMBER* variables on channels"),
    ("setqueuevar", Off::No, "starq sets no QUEUE* variables on channels"),
    ("setqueueentryvar", Off::No, "starq sets no QEHOLDTIME/QEORIGINALPOS variables"),
    ("reportholdtime", Off::No, "starq does not tell the agent the caller's hold time"),
    ("announce-position-only-up", Off::No, "starq says the position at every announcement"),
    ("relative-periodic-announce", Off::No, "starq times periodic announcements from their start"),
    ("timeoutrestart", Off::No, "starq does not restart the ring timeout on busy or congestion"),
    ("memberdelay", Off::Zero, "starq bridges the agent at once"),
    ("autopausedelay", Off::Zero, "starq has no delay before auto-pause (see autopause_after)"),
    (
        "timeoutpriority",
        Off::App,
        "starq has no timeoutpriority: a ring ends at the queue's \
                                   timeout or when the caller's max_wait ends",
    ),
    ("log-restricted-caller-id", Off::Yes, "starq's queue_log keeps restricted caller ids"),
    ("monitor-format", Off::Empty, "starq does not record calls: use MixMonitor in the dialplan"),
    ("monitor-type", Off::Empty, "starq does not record calls: use MixMonitor in the dialplan"),
    ("membergosub", Off::Empty, "starq runs no gosub on the agent's channel"),
    ("announce", Off::Empty, "starq plays no announcement to the agent"),
    ("queue-callerannounce", Off::Empty, "starq plays no announcement to the caller at bridging"),
];

/// The sound settings: starq plays Asterisk's default prompts.
const SOUNDS: &[&str] = &[
    "queue-youarenext",
    "queue-thereare",
    "queue-callswaiting",
    "queue-quantity1",
    "queue-quantity2",
    "queue-holdtime",
    "queue-minutes",
    "queue-minute",
    "queue-seconds",
    "queue-thankyou",
    "queue-reporthold",
];

/// Which values of an unsupported setting ask for nothing.
#[derive(Clone, Copy)]
enum Off {
    No,
    Yes,
    Zero,
    App,
    Empty,
}

impl Off {
    fn holds(self, value: &str) -> bool {
        match self {
            Off::No => !is_true(value),
            Off::Yes => is_true(value),
            Off::Zero => super::values::atoi(value).0 == 0,
            Off::App => !value.trim().eq_ignore_ascii_case("conf"),
            Off::Empty => value.trim().is_empty(),
        }
    }
}

/// `app_queue`'s strategy names (`strategies[]`), with starq's name for each.
const STRATEGIES: &[(&str, &str)] = &[
    ("ringall", "ringall"),
    ("leastrecent", "leastrecent"),
    ("fewestcalls", "fewestcalls"),
    ("random", "random"),
    ("rrmemory", "rrmemory"),
    ("roundrobin", "rrmemory"),
    ("linear", "linear"),
    ("wrandom", "wrandom"),
    ("rrordered", "rrordered"),
];

/// starq's strategy name for the section's `strategy` (ringall when none, as in `app_queue`).
pub(crate) fn strategy(section: &Category) -> &'static str {
    let value = section.variables.iter().rev().find(|v| v.name.eq_ignore_ascii_case("strategy"));
    value
        .and_then(|v| STRATEGIES.iter().find(|(a, _)| a.eq_ignore_ascii_case(v.value.trim())))
        .map_or("ringall", |(_, starq)| starq)
}

/// The `[queues.<name>]` table of `section`.
pub(crate) fn queue(
    section: &Category,
    general: &General,
    rules: Option<&Rules>,
    report: &mut Report,
) -> Table {
    let mut q = Draft { table: Table::new(), announce: Table::new() };
    q.set("strategy", strategy(section));
    for var in last_of_each(section) {
        setting(&mut q, var, rules, report);
    }
    for key in ["joinempty", "leavewhenempty"] {
        if let Some(conditions) = empty_conditions(section, key, report) {
            q.set(key, conditions);
        }
    }
    // app_queue's defaults where starq's differ.
    if !q.table.contains_key("autofill") {
        q.set("autofill", general.autofill);
    }
    if !q.table.contains_key("servicelevel") {
        q.set("servicelevel", 0);
    }
    if q.announce.contains_key("frequency") {
        for key in ["position", "holdtime"] {
            q.announce.entry(key).or_insert_with(|| "yes".into());
        }
    }
    let Draft { mut table, announce } = q;
    if !announce.is_empty() {
        table.insert("announce".into(), Value::Table(announce));
    }
    table
}

struct Draft {
    table: Table,
    announce: Table,
}

impl Draft {
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.table.insert(key.into(), value.into());
    }

    fn announce(&mut self, key: &str, value: impl Into<Value>) {
        self.announce.insert(key.into(), value.into());
    }
}

/// A number of `var` within `range`, as starq takes it; reported and left out otherwise.
fn within(
    var: &Variable,
    value: i64,
    range: RangeInclusive<u64>,
    report: &mut Report,
) -> Option<i64> {
    match u64::try_from(value) {
        Ok(v) if range.contains(&v) => Some(value),
        _ => {
            report.add(
                &var.at,
                format!(
                    "{value} is outside starq's range {}..={}: left at starq's default",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }
}

fn count_range(range: RangeInclusive<u32>) -> RangeInclusive<u64> {
    u64::from(*range.start())..=u64::from(*range.end())
}

/// The settings that are a number and nothing more: starq's range, and whether `app_queue`
/// reads a negative value as 0.
fn plain_number(name: &str) -> Option<(RangeInclusive<u64>, bool)> {
    Some(match name {
        "wrapuptime" => (limits::WRAPUP_SECS, true),
        "weight" => (count_range(limits::WEIGHT), false),
        "maxlen" => (count_range(limits::CALLERS_OR_MEMBERS), true),
        "penaltymemberslimit" => (count_range(limits::CALLERS_OR_MEMBERS), false),
        "servicelevel" => (limits::SERVICE_LEVEL_SECS, false),
        _ => return None,
    })
}

/// `autopause` as `autopause2int` reads it: `no`, `yes` (any true value) or `all`.
fn autopause(var: &Variable, report: &mut Report) -> &'static str {
    let value = var.value.trim();
    if value.is_empty() {
        return "no";
    }
    if is_true(value) {
        return "yes";
    }
    match ["no", "yes", "all"].into_iter().find(|m| m.eq_ignore_ascii_case(value)) {
        Some(mode) => mode,
        None => {
            report.add(&var.at, format!("{value:?} is not no, yes or all: app_queue reads no"));
            "no"
        }
    }
}

/// One setting (the last line of its name) into the draft, or into the report.
fn setting(q: &mut Draft, var: &Variable, rules: Option<&Rules>, report: &mut Report) {
    let name = var.name.to_ascii_lowercase();
    let value = var.value.trim();
    if let Some((range, negative_is_zero)) = plain_number(&name) {
        let n = number(var, report);
        let n = if negative_is_zero { n.max(0) } else { n };
        if let Some(n) = within(var, n, range, report) {
            q.set(&name, n);
        }
        return;
    }
    match name.as_str() {
        "strategy" => {
            if !STRATEGIES.iter().any(|(a, _)| a.eq_ignore_ascii_case(value)) {
                report
                    .add(&var.at, "not an app_queue strategy: app_queue rings all, so does starq");
            }
        }
        "timeout" => match number(var, report) {
            // app_queue's default for a negative timeout.
            n if n < 0 => q.set("timeout", 15),
            0 => report.add(
                &var.at,
                "0 rings until the caller's own timeout in app_queue; starq rings each agent \
                 for a bounded time (1..=3600 s): left at starq's 15 s",
            ),
            n => {
                if let Some(n) = within(var, n, limits::RING_TIMEOUT_SECS, report) {
                    q.set("timeout", n);
                }
            }
        },
        "retry" => match number(var, report) {
            n if n <= 0 => q.set("retry", 5),
            n => {
                if let Some(n) = within(var, n, limits::RETRY_SECS, report) {
                    q.set("retry", n);
                }
            }
        },
        "autofill" | "autopausebusy" | "autopauseunavail" => {
            let yes = boolean(var, report);
            q.set(&name, yes);
        }
        "autopause" => {
            let mode = autopause(var, report);
            q.set("autopause", mode);
        }
        "context" if !value.is_empty() => q.set("context", value),
        "musicclass" | "music" | "musiconhold" if !value.is_empty() => q.set("musicclass", value),
        "context" | "musicclass" | "music" | "musiconhold" => {}
        "defaultrule" => default_rule(q, var, rules, report),
        "ringinuse" => report.add(
            &var.at,
            if is_true(value) {
                "starq has no ringinuse: it never offers an agent on a starq call another one"
            } else {
                "starq has no ringinuse yet: it does not see phones busy outside starq"
            },
        ),
        "member" | "joinempty" | "leavewhenempty" => {}
        "announce-frequency"
        | "min-announce-frequency"
        | "announce-position"
        | "announce-position-limit"
        | "announce-holdtime"
        | "announce-round-seconds"
        | "announce-to-first-user"
        | "periodic-announce"
        | "periodic-announce-frequency"
        | "periodic-announce-startdelay"
        | "random-periodic-announce" => announcement(q, &name, var, report),
        _ if SOUNDS.contains(&name.as_str()) => {
            if !value.eq_ignore_ascii_case(&name) {
                report.add(
                    &var.at,
                    "starq plays Asterisk's default prompts: they cannot be changed yet",
                );
            }
        }
        _ => match UNSUPPORTED.iter().find(|(n, _, _)| *n == name) {
            Some((_, off, _)) if off.holds(value) => {}
            Some((_, _, reason)) => report.add(&var.at, *reason),
            None => report.add(&var.at, "not an app_queue queue setting: app_queue ignores it"),
        },
    }
}

/// The `announce-*` and `periodic-announce*` settings, into `[queues.<name>.announce]`.
fn announcement(q: &mut Draft, name: &str, var: &Variable, report: &mut Report) {
    let value = var.value.trim();
    let secs = |report: &mut Report| {
        let n = number(var, report);
        within(var, n, limits::ANNOUNCE_SECS, report)
    };
    match name {
        "announce-frequency" => {
            if let Some(n) = secs(report).filter(|n| *n > 0) {
                q.announce("frequency", n);
            }
        }
        "min-announce-frequency" => {
            if let Some(n) = secs(report) {
                q.announce("min_frequency", n);
            }
        }
        "periodic-announce-frequency" => {
            if let Some(n) = secs(report).filter(|n| *n > 0) {
                q.announce("periodic_frequency", n);
            }
        }
        "periodic-announce-startdelay" => {
            // Negative is app_queue's "not set".
            let n = number(var, report);
            if n >= 0
                && let Some(n) = within(var, n, limits::ANNOUNCE_SECS, report)
            {
                q.announce("periodic_start_delay", n);
            }
        }
        "announce-position" => {
            let mode = match value.to_ascii_lowercase().as_str() {
                "limit" => "limit",
                "more" => "more",
                _ if is_true(value) => "yes",
                _ => "no",
            };
            q.announce("position", mode);
        }
        "announce-holdtime" => {
            let mode = match value {
                _ if value.eq_ignore_ascii_case("once") => "once",
                _ if is_true(value) => "yes",
                _ => "no",
            };
            q.announce("holdtime", mode);
        }
        "announce-position-limit" => {
            let n = number(var, report);
            if let Some(n) = within(var, n, count_range(limits::CALLERS_OR_MEMBERS), report) {
                q.announce("position_limit", n);
            }
        }
        "announce-round-seconds" => {
            let n = number(var, report);
            if [0, 5, 10, 15, 20, 30].contains(&n) {
                q.announce("round_seconds", n);
            } else {
                report.add(&var.at, "app_queue takes 0, 5, 10, 15, 20 or 30 and reads 0 instead");
            }
        }
        "announce-to-first-user" => {
            let yes = boolean(var, report);
            q.announce("to_first_user", yes);
        }
        "random-periodic-announce" => {
            let yes = boolean(var, report);
            q.announce("random_periodic", yes);
        }
        "periodic-announce" => {
            // app_queue splits on `,` and `|` only when there is a comma, and keeps ten.
            let sounds: Vec<&str> =
                if value.contains(',') { value.split([',', '|']).collect() } else { vec![value] };
            if sounds.len() > 10 {
                report.add(&var.at, "app_queue plays the first 10 periodic announcements only");
            }
            let sounds: Vec<&str> = sounds.into_iter().take(10).collect();
            if sounds.iter().any(|s| s.is_empty()) {
                report.add(&var.at, "an empty sound name: left out");
            }
            let sounds: Vec<Value> =
                sounds.into_iter().filter(|s| !s.is_empty()).map(Value::from).collect();
            q.announce("periodic", sounds);
        }
        // `setting` sends only the names above.
        _ => report.add(&var.at, "not an app_queue queue setting: app_queue ignores it"),
    }
}

/// `defaultrule`: the rule's steps as the queue's `penaltychange`.
fn default_rule(q: &mut Draft, var: &Variable, rules: Option<&Rules>, report: &mut Report) {
    let name = var.value.trim();
    if name.is_empty() {
        return;
    }
    match rules.map(|r| r.get(name)) {
        None => report
            .add(&var.at, "no queuerules.conf given: name it after queues.conf to import the rule"),
        Some(None) => report
            .add(&var.at, format!("queuerules.conf has no rule [{name}]: app_queue applies none")),
        Some(Some(steps)) => {
            let steps: Vec<Value> = steps.iter().cloned().map(Value::from).collect();
            q.set("penaltychange", steps);
        }
    }
}

/// The member conditions of `joinempty`/`leavewhenempty` (`key`), every line of it added up
/// as `parse_empty_options` does; `None` when no condition is left.
fn empty_conditions(section: &Category, key: &str, report: &mut Report) -> Option<String> {
    const ORDER: [&str; 8] =
        ["paused", "penalty", "inuse", "ringing", "unavailable", "invalid", "unknown", "wrapup"];
    let join = key == "joinempty";
    let legacy = ["penalty", "invalid", "paused"];
    let mut set: Vec<&str> = Vec::new();
    for var in section.variables.iter().filter(|v| v.name.eq_ignore_ascii_case(key)) {
        // No trimming: app_queue compares each comma-separated word as written.
        for word in var.value.split(',') {
            let lower = word.to_ascii_lowercase();
            if let Some(c) = ORDER.iter().find(|c| **c == lower) {
                set.push(c);
            } else if lower == "loose" {
                set = vec!["penalty", "invalid"];
            } else if lower == "strict" {
                set = vec!["penalty", "invalid", "paused", "unavailable"];
            } else if (super::values::is_false(word) && join) || (is_true(word) && !join) {
                set = legacy.to_vec();
            } else if super::values::is_false(word) || is_true(word) {
                set.clear();
            } else {
                report.add(
                    &var.at,
                    format!("{word:?} is not a member condition: app_queue ignores it"),
                );
            }
        }
    }
    let words: Vec<&str> = ORDER.iter().copied().filter(|c| set.contains(c)).collect();
    (!words.is_empty()).then(|| words.join(","))
}
