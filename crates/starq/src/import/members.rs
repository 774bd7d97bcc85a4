//! Static `member =>` lines as starq agents.
//!
//! A line is split as `reload_single_member` splits it (`interface[,penalty][,membername]
//! [,state_interface][,ringinuse][,wrapuptime][,paused]`, quotes and `\` escapes and
//! parentheses as `AST_STANDARD_APP_ARGS` reads them). Each interface is one agent, whatever
//! the number of queues it is in (interfaces compared without case, as `app_queue` does): a
//! membership per queue with its penalty, the interface as its one contact. Its id comes from
//! the member name, else the interface, made into a starq name (`Bob Johnson` → `bob-johnson`,
//! `PJSIP/1001` → `pjsip-1001`), numbered when two would be the same; the member name is the
//! agent's display name, the interface when there is none (what `app_queue` logs).

use std::collections::{BTreeMap, BTreeSet};

use starq_core::config::limits;
use toml::{Table, Value};

use super::asterisk_conf::{Line, Variable};
use super::report::Report;
use super::values::{atoi, is_false, is_true};

/// The fields of a member line.
const FIELDS: usize = 7;

/// The agents of every queue's member lines, as they are read.
#[derive(Debug, Default)]
pub(crate) struct Agents {
    drafts: Vec<Draft>,
    /// Interface without case → index in `drafts`.
    by_interface: BTreeMap<String, usize>,
    /// For each queue, its agents in the order of its member lines.
    queue_order: BTreeMap<String, Vec<(usize, Line)>>,
}

#[derive(Debug)]
struct Draft {
    interface: String,
    /// The member name, if a line gave one, and that line.
    name: Option<(String, Line)>,
    /// A member wrap-up time, and the line that gave it.
    wrapuptime: Option<(i64, Line)>,
    /// Queue → penalty and the line, in the order first listed.
    memberships: Vec<(String, i64, Line, bool)>,
}

impl Agents {
    /// Reads one `member` line of `queue`.
    pub(crate) fn member(&mut self, queue: &str, var: &Variable, report: &mut Report) {
        let at = &var.at;
        if var.value.trim().is_empty() {
            report.add(at, "an empty member line: app_queue ignores it");
            return;
        }
        let fields = separate(&var.value);
        let field = |i: usize| fields.get(i).map_or("", |f| f.trim());
        let interface = field(0);
        if !interface.contains('/') || interface.starts_with('/') {
            report.add(at, format!("{interface:?} is not TECH/resource: starq cannot dial it"));
            return;
        }
        let penalty = match field(1) {
            "" => 0,
            text => {
                let (n, clean) = atoi(text);
                if !clean {
                    report.add(at, format!("penalty {text:?} is not a number: read as {n}"));
                }
                let max = i64::from(*limits::PENALTY.end());
                if n > max {
                    report.add(at, format!("penalty {n} is above starq's {max}: {max} instead"));
                }
                n.clamp(0, max)
            }
        };
        let name = match field(2) {
            "" => None,
            name if display_ok(name) => Some(name.to_owned()),
            name => {
                report.add(
                    at,
                    format!(
                        "member name {name:?} cannot name a starq agent (at most 128 bytes, \
                         no control characters or `|`): the interface names it"
                    ),
                );
                None
            }
        };
        let state = field(3);
        if !state.is_empty() && !state.eq_ignore_ascii_case(interface) {
            report.add(
                at,
                format!(
                    "state_interface {state}: starq watches no device state yet; it knows an \
                     agent busy only with its own calls"
                ),
            );
        }
        match field(4) {
            "" => {}
            v if is_true(v) => report.add(
                at,
                "ringinuse yes: starq has no ringinuse; it never offers an agent on a starq call \
                 another one",
            ),
            v if is_false(v) => report.add(
                at,
                "ringinuse no: starq has no ringinuse yet; it does not see phones busy outside \
                 starq",
            ),
            v => report.add(at, format!("ringinuse {v:?} is neither yes nor no")),
        }
        let wrapuptime = match field(5) {
            "" => None,
            text => {
                let (n, clean) = atoi(text);
                if !clean {
                    report.add(at, format!("wrapuptime {text:?} is not a number: read as {n}"));
                }
                let max = *limits::WRAPUP_SECS.end();
                match u64::try_from(n.max(0)) {
                    Ok(0) => None,
                    Ok(s) if s <= max => Some(n),
                    _ => {
                        report
                            .add(at, format!("wrapuptime {n} is above starq's {max} s: left out"));
                        None
                    }
                }
            }
        };
        match field(6) {
            "" => {}
            v if is_false(v) => {}
            v if is_true(v) => report.add(
                at,
                "paused yes: starq keeps no pause in its configuration; agents log in and pause \
                 through the API (POST /agents/{id}/pause)",
            ),
            v => report.add(at, format!("paused {v:?} is neither yes nor no: app_queue reads no")),
        }
        self.add(queue, interface, name, penalty, wrapuptime, at, report);
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        queue: &str,
        interface: &str,
        name: Option<String>,
        penalty: i64,
        wrapuptime: Option<i64>,
        at: &Line,
        report: &mut Report,
    ) {
        let key = interface.to_lowercase();
        let index = *self.by_interface.entry(key).or_insert_with(|| {
            self.drafts.push(Draft {
                interface: interface.to_owned(),
                name: None,
                wrapuptime: None,
                memberships: Vec::new(),
            });
            self.drafts.len() - 1
        });
        let draft = &mut self.drafts[index];
        match (&draft.name, name) {
            (_, None) => {}
            (None, Some(name)) => draft.name = Some((name, at.clone())),
            (Some((kept, from)), Some(name)) if *kept != name => report.add(
                at,
                format!("starq keeps one name per agent: {kept:?}, from {from}, not {name:?}"),
            ),
            (Some(_), Some(_)) => {}
        }
        match (&draft.wrapuptime, wrapuptime) {
            (_, None) => {}
            (None, Some(secs)) => draft.wrapuptime = Some((secs, at.clone())),
            (Some((kept, from)), Some(secs)) if *kept != secs => report.add(
                at,
                format!("starq keeps one wrap-up per agent: {kept} s, from {from}, not {secs} s"),
            ),
            (Some(_), Some(_)) => {}
        }
        let order = self.queue_order.entry(queue.to_owned()).or_default();
        match draft.memberships.iter_mut().find(|(q, ..)| q == queue) {
            Some(membership) => {
                report.add(
                    &membership.2,
                    format!("{interface} is listed again in [{queue}] at {at}: app_queue keeps that line"),
                );
                *membership = (queue.to_owned(), penalty, at.clone(), wrapuptime.is_some());
                order.retain(|(i, _)| *i != index);
            }
            None => draft.memberships.push((
                queue.to_owned(),
                penalty,
                at.clone(),
                wrapuptime.is_some(),
            )),
        }
        order.push((index, at.clone()));
    }

    /// The `[[agents]]` tables, in an order that keeps the member order of each queue in
    /// `ordered` (the `linear` and `rrordered` queues) where one order can.
    pub(crate) fn finish(self, ordered: &BTreeSet<String>, report: &mut Report) -> Vec<Table> {
        let order = self.order(ordered, report);
        let mut used = BTreeSet::new();
        let mut ids = vec![String::new(); self.drafts.len()];
        for &i in &order {
            let draft = &self.drafts[i];
            let base = slug(draft.name.as_ref().map_or(&draft.interface, |(n, _)| n));
            let mut id = base.clone();
            for n in 2.. {
                if used.insert(id.clone()) {
                    break;
                }
                id = numbered(&base, n);
            }
            ids[i] = id;
        }
        order
            .into_iter()
            .map(|i| {
                let draft = &self.drafts[i];
                if let Some((_, from)) = &draft.wrapuptime {
                    let others: Vec<&str> = draft
                        .memberships
                        .iter()
                        .filter(|(.., own)| !own)
                        .map(|(q, ..)| q.as_str())
                        .collect();
                    if !others.is_empty() {
                        report.add(
                            from,
                            format!(
                                "starq's agent wrap-up applies in every queue of the agent, in \
                                 {} too (where this member had the queue's)",
                                others.join(", ")
                            ),
                        );
                    }
                }
                self.table(draft, &ids[i])
            })
            .collect()
    }

    fn table(&self, draft: &Draft, id: &str) -> Table {
        let mut t = Table::new();
        t.insert("id".into(), id.into());
        let name = draft.name.as_ref().map_or_else(
            || display_ok(&draft.interface).then(|| draft.interface.clone()),
            |(n, _)| Some(n.clone()),
        );
        if let Some(name) = name.filter(|n| n != id) {
            t.insert("name".into(), name.into());
        }
        if let Some((secs, _)) = draft.wrapuptime {
            t.insert("wrapuptime".into(), secs.into());
        }
        let queues: Table =
            draft.memberships.iter().map(|(q, p, ..)| (q.clone(), Value::from(*p))).collect();
        t.insert("queues".into(), queues.into());
        let mut contact = Table::new();
        contact.insert("endpoint".into(), draft.interface.clone().into());
        t.insert("contacts".into(), Value::Array(vec![contact.into()]));
        t
    }

    /// Agents by first appearance, moved so that each ordered queue's members come in its
    /// order (a topological order, earliest first); a queue that no one order satisfies has
    /// its first member out of place reported.
    fn order(&self, ordered: &BTreeSet<String>, report: &mut Report) -> Vec<usize> {
        let n = self.drafts.len();
        let mut after: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        let mut before = vec![0_usize; n];
        for queue in ordered {
            for pair in self.queue_order.get(queue).map_or(&[][..], Vec::as_slice).windows(2) {
                if after[pair[0].0].insert(pair[1].0) {
                    before[pair[1].0] += 1;
                }
            }
        }
        let mut ready: BTreeSet<usize> = (0..n).filter(|i| before[*i] == 0).collect();
        let mut left: BTreeSet<usize> = (0..n).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(&next) = ready.first().or(left.first()) {
            // With nothing ready the rest is a cycle: the earliest goes next.
            ready.remove(&next);
            left.remove(&next);
            order.push(next);
            for &later in &after[next] {
                before[later] = before[later].saturating_sub(1);
                if before[later] == 0 && left.contains(&later) {
                    ready.insert(later);
                }
            }
        }
        let position: BTreeMap<usize, usize> =
            order.iter().enumerate().map(|(pos, &i)| (i, pos)).collect();
        for queue in ordered {
            let members = self.queue_order.get(queue).map_or(&[][..], Vec::as_slice);
            if let Some(pair) = members.windows(2).find(|p| position[&p[0].0] > position[&p[1].0]) {
                report.add(
                    &pair[1].1,
                    format!(
                        "starq rings a queue's agents in the order of [[agents]], one order for \
                         every queue: in [{queue}] this member comes before {} there",
                        self.drafts[pair[0].0].interface
                    ),
                );
            }
        }
        order
    }
}

/// The fields of a member line as `__ast_app_separate_args(…, ',', 1, …)` makes them: `"`
/// removed and toggling quoting, `\` making the next character plain, commas inside
/// parentheses, brackets or quotes kept; the last field takes the rest as written.
fn separate(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    let (mut paren, mut bracket, mut quote) = (0_u32, 0_u32, false);
    let mut fields = Vec::new();
    let mut i = 0;
    let mut ended_on_comma = false;
    while i < chars.len() && fields.len() < FIELDS - 1 {
        let mut field = String::new();
        ended_on_comma = false;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '(' => paren += 1,
                ')' => paren = paren.saturating_sub(1),
                '[' => bracket += 1,
                ']' => bracket = bracket.saturating_sub(1),
                '"' => {
                    quote = !quote;
                    continue;
                }
                '\\' => {
                    if let Some(&next) = chars.get(i) {
                        field.push(next);
                        i += 1;
                    }
                    continue;
                }
                ',' if paren == 0 && bracket == 0 && !quote => {
                    ended_on_comma = true;
                    break;
                }
                _ => {}
            }
            field.push(c);
        }
        fields.push(field);
    }
    if i < chars.len() || ended_on_comma {
        fields.push(chars[i..].iter().collect());
    }
    fields
}

/// Whether `name` can be a starq agent's display name.
fn display_ok(name: &str) -> bool {
    name.len() <= 128 && !name.chars().any(|c| c.is_control() || c == '|')
}

/// `text` as a starq name: lower case, every run of characters a name or an HTTP path cannot
/// take (blanks, `/`, `,`, `|`, `?`, `#`, `%`, control characters) one `-`, at most 120 bytes
/// (room for a number).
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        let plain = !(c.is_whitespace() || c.is_control() || "/,|?#%\\\"'".contains(c));
        if plain {
            if out.len() + c.len_utf8() > 120 {
                break;
            }
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() { "agent".to_owned() } else { out.to_owned() }
}

fn numbered(base: &str, n: u32) -> String {
    format!("{base}-{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_fields_split_as_app_queue_splits_them() {
        assert_eq!(separate("PJSIP/1001"), ["PJSIP/1001"]);
        assert_eq!(separate("PJSIP/1001,2,Bob"), ["PJSIP/1001", "2", "Bob"]);
        assert_eq!(separate("PJSIP/1001,,\"Doe, John\""), ["PJSIP/1001", "", "Doe, John"]);
        assert_eq!(separate("Local/1@x,0,A\\,B"), ["Local/1@x", "0", "A,B"]);
        assert_eq!(separate("Local/1@x(y,z),1"), ["Local/1@x(y,z)", "1"]);
        assert_eq!(separate("PJSIP/1,"), ["PJSIP/1", ""]);
        assert_eq!(
            separate("a/1,1,n,s,no,5,yes,extra"),
            ["a/1", "1", "n", "s", "no", "5", "yes,extra"]
        );
    }

    #[test]
    fn ids_are_names_starq_takes() {
        assert_eq!(slug("Bob Johnson"), "bob-johnson");
        assert_eq!(slug("PJSIP/1001"), "pjsip-1001");
        assert_eq!(slug("Local/1001@agents/n"), "local-1001@agents-n");
        assert_eq!(slug("  / "), "agent");
        assert_eq!(slug("Zoë  O'Brien"), "zoë-o-brien");
        assert!(slug(&"x".repeat(300)).len() <= 120);
    }
}
