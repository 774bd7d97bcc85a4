//! `queuerules.conf`: penalty rules, by name, as the steps of starq's `penaltychange`.
//!
//! Each `[rule]` section's `penaltychange => seconds,max[,min[,raise]]` lines are read as
//! `insert_penaltychange` reads them: an empty `max` leaves the highest penalty as it is (`+0`),
//! an empty or missing `min` leaves the lowest; `+`/`-` make a change relative. starq has no
//! raise penalty: that field is reported and the step keeps its other changes. Two sections
//! of one name make one rule, as in `app_queue` (which adds to the first list of that name).

use std::collections::BTreeMap;

use starq_core::config::PenaltyStep;

use super::asterisk_conf::Conf;
use super::report::Report;
use super::values::atoi;

/// The rules of a `queuerules.conf`, by name without case.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    rules: BTreeMap<String, Vec<String>>,
}

impl Rules {
    /// The steps of the rule `name` (compared without case, as `app_queue` does).
    pub(crate) fn get(&self, name: &str) -> Option<&[String]> {
        self.rules.get(&name.to_lowercase()).map(Vec::as_slice)
    }
}

/// Reads the rules of `conf`, reporting what starq cannot hold.
pub(crate) fn rules(conf: &Conf, report: &mut Report) -> Rules {
    let mut rules = Rules::default();
    for section in conf.sections() {
        if section.name.eq_ignore_ascii_case("general") {
            for var in &section.variables {
                let reason = if var.name.eq_ignore_ascii_case("realtime_rules") {
                    "starq reads no rules from Asterisk's realtime tables: import them as \
                     queuerules.conf sections"
                } else {
                    "not a queuerules.conf [general] setting: app_queue ignores it"
                };
                report.add(&var.at, reason);
            }
            continue;
        }
        let steps = rules.rules.entry(section.name.to_lowercase()).or_default();
        for var in &section.variables {
            if !var.name.eq_ignore_ascii_case("penaltychange") {
                report.add(&var.at, "only penaltychange lines make a rule: app_queue ignores it");
                continue;
            }
            match step(&var.value) {
                Ok((step, notes)) => {
                    for note in notes {
                        report.add(&var.at, note);
                    }
                    steps.extend(step);
                }
                Err(reason) => report.add(&var.at, reason),
            }
        }
    }
    rules
}

/// One `penaltychange` value as starq's step (`None` when nothing is left of it), with notes
/// on what was read differently or dropped; an error when `app_queue` ignores the line too.
fn step(value: &str) -> Result<(Option<String>, Vec<String>), String> {
    let mut notes = Vec::new();
    let Some((time, rest)) = value.split_once(',') else {
        return Err("no `,`: app_queue ignores this penaltychange".into());
    };
    let (max, rest) = rest.split_once(',').map_or((rest, None), |(m, r)| (m, Some(r)));
    let (min, raise) = match rest {
        Some(rest) => rest.split_once(',').map_or((Some(rest), None), |(m, r)| (Some(m), Some(r))),
        None => (None, None),
    };
    let mut number = |field: &str, what: &str| {
        let (n, clean) = atoi(field);
        if !clean && !field.is_empty() {
            notes.push(format!("{what} {field:?} is not a number: app_queue reads {n}"));
        }
        n
    };
    let seconds = number(time, "the time");
    if seconds < 0 {
        return Err("a negative time: app_queue ignores this penaltychange".into());
    }
    let change = |field: &str, n: i64| {
        if field.is_empty() || field.starts_with(['+', '-']) {
            format!("{n:+}")
        } else {
            n.to_string()
        }
    };
    let max = change(max, number(max, "the maximum"));
    let min = min.filter(|m| !m.is_empty()).map(|m| change(m, number(m, "the minimum")));
    if raise.is_some_and(|r| !r.is_empty()) {
        notes.push(
            "starq has no raise penalty (QUEUE_RAISE_PENALTY): the step keeps its maximum and \
             minimum changes only"
                .into(),
        );
    }
    let step = match min {
        Some(min) => format!("{seconds},{max},{min}"),
        None if max == "+0" => return Ok((None, notes)),
        None => format!("{seconds},{max}"),
    };
    // starq's own reading decides: its ranges (a day at most) are checked here, not later.
    step.parse::<PenaltyStep>().map_err(|e| e.to_string())?;
    Ok((Some(step), notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_as_insert_penaltychange_does() {
        let ok = |v: &str| step(v).unwrap();
        assert_eq!(ok("30,+3"), (Some("30,+3".into()), vec![]));
        assert_eq!(ok("60,10,5"), (Some("60,10,5".into()), vec![]));
        assert_eq!(ok("75,,7"), (Some("75,+0,7".into()), vec![]));
        assert_eq!(ok("80,-1,+2"), (Some("80,-1,+2".into()), vec![]));
        let (raise_only, notes) = ok("90,,,20");
        assert_eq!(raise_only, None);
        assert!(notes[0].contains("raise"), "{notes:?}");
        let (with_raise, notes) = ok("95,4,,r5");
        assert_eq!(with_raise, Some("95,4".into()));
        assert_eq!(notes.len(), 1);
        let (odd, notes) = ok("20s,x");
        assert_eq!(odd, Some("20,0".into()));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(step("30").unwrap_err().contains("no `,`"));
        assert!(step("-5,+1").unwrap_err().contains("negative"));
        assert!(step("90000,+1").unwrap_err().contains("86400"));
    }
}
