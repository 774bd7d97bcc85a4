//! The renderer's tests: every event field for field, and each rule app_queue follows.

use super::*;
use starq_core::config::Contact;
use starq_core::{NodeId, ReservationId};

/// 1_700_000_123.456 s: a time with a fraction, as every real one has.
const T: Time = Time(1_700_000_123_456);

fn call(step: u32) -> CallId {
    CallId::of_channel(&NodeId::new("pbx1"), "1700000000.42", step)
}

fn entry(event: JournalEvent) -> JournalEntry {
    JournalEntry { seq: 7, time: T, event }
}

fn q() -> QueueId {
    QueueId::new("support")
}

fn a() -> AgentId {
    AgentId::new("a1")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn renderer() -> QueueLogRenderer {
    let mut alice = AgentConfig::new("a1");
    alice.name = "Alice".into();
    alice.contacts = vec![Contact { endpoint: "PJSIP/1001".into(), nodes: vec![] }];
    QueueLogRenderer::with_agents(&[alice])
}

fn text(renderer: &QueueLogRenderer, event: JournalEvent) -> Vec<String> {
    renderer.render(&entry(event)).iter().map(ToString::to_string).collect()
}

fn left(outcome: Outcome) -> JournalEvent {
    JournalEvent::Left {
        call: call(0),
        queue: q(),
        outcome,
        position: 2,
        original_position: 5,
        hold: secs(31),
    }
}

fn cancelled(cause: CancelCause) -> JournalEvent {
    let rang = Duration::from_millis(3_400);
    JournalEvent::OfferCancelled { call: call(0), queue: q(), agent: a(), rang, cause }
}

fn paused(queue: Option<QueueId>, members: &[&str]) -> JournalEvent {
    let members = members.iter().map(|m| QueueId::new(*m)).collect();
    JournalEvent::Paused { agent: a(), queue, reason: "lunch".into(), auto: false, members }
}

fn unpaused(queue: Option<QueueId>, members: &[&str]) -> JournalEvent {
    let members = members.iter().map(|m| QueueId::new(*m)).collect();
    JournalEvent::Unpaused { agent: a(), queue, members }
}

/// One row per event: the record, the lines in file form, and the data field count of the
/// last line (app_queue's count for that event).
#[test]
fn every_event_has_app_queue_fields_and_units() {
    let cases: Vec<(JournalEvent, Vec<&str>, usize)> = vec![
        (
            JournalEvent::Entered {
                call: call(0),
                queue: q(),
                node: NodeId::new("pbx1"),
                caller_id: "5551234".into(),
                position: 3,
                resumed: None,
            },
            vec!["1700000123|pbx1~1700000000.42|support|NONE|ENTERQUEUE||5551234|3"],
            3,
        ),
        (
            JournalEvent::Entered {
                call: call(2),
                queue: q(),
                node: NodeId::new("pbx1"),
                caller_id: "5551234".into(),
                position: 1,
                resumed: None,
            },
            vec![
                "1700000123|pbx1~1700000000.42|support|NONE|STARQ_FAILOVER|2",
                "1700000123|pbx1~1700000000.42|support|NONE|ENTERQUEUE||5551234|1",
            ],
            3,
        ),
        (
            JournalEvent::Connected {
                call: call(0),
                queue: q(),
                agent: a(),
                reservation: ReservationId(9),
                hold: secs(12),
                rang: secs(4),
            },
            vec![
                "1700000123|pbx1~1700000000.42|support|Alice|CONNECT|12|pbx1~1700000000.42-r9-leg|4",
            ],
            3,
        ),
        (
            JournalEvent::Completed {
                call: call(1),
                queue: q(),
                agent: a(),
                by: Party::Caller,
                hold: secs(12),
                talk: secs(95),
                original_position: 3,
            },
            vec!["1700000123|pbx1~1700000000.42|support|Alice|COMPLETECALLER|12|95|3"],
            3,
        ),
        (
            JournalEvent::Completed {
                call: call(0),
                queue: q(),
                agent: a(),
                by: Party::Agent,
                hold: secs(0),
                talk: secs(7),
                original_position: 1,
            },
            vec!["1700000123|pbx1~1700000000.42|support|Alice|COMPLETEAGENT|0|7|1"],
            3,
        ),
        (
            left(Outcome::Abandoned),
            vec!["1700000123|pbx1~1700000000.42|support|NONE|ABANDON|2|5|31"],
            3,
        ),
        (
            left(Outcome::Timeout),
            vec!["1700000123|pbx1~1700000000.42|support|NONE|EXITWITHTIMEOUT|2|5|31"],
            3,
        ),
        (
            left(Outcome::LeaveEmpty),
            vec!["1700000123|pbx1~1700000000.42|support|NONE|EXITEMPTY|2|5|31"],
            3,
        ),
        (
            left(Outcome::LeaveUnavail),
            vec!["1700000123|pbx1~1700000000.42|support|NONE|EXITEMPTY|2|5|31"],
            3,
        ),
        (
            left(Outcome::ExitWithKey('5')),
            vec!["1700000123|pbx1~1700000000.42|support|NONE|EXITWITHKEY|5|2|5|31"],
            4,
        ),
        (
            left(Outcome::Withdrawn),
            vec!["1700000123|pbx1~1700000000.42|support|NONE|WITHDRAW|2|5|31|"],
            4,
        ),
        (
            left(Outcome::NodeLost),
            vec![
                "1700000123|pbx1~1700000000.42|support|NONE|STARQ_NODELOST|pbx1",
                "1700000123|pbx1~1700000000.42|support|NONE|ABANDON|2|5|31",
            ],
            3,
        ),
        (
            left(Outcome::Drained),
            vec![
                "1700000123|pbx1~1700000000.42|support|NONE|STARQ_DRAINED|",
                "1700000123|pbx1~1700000000.42|support|NONE|EXITEMPTY|2|5|31",
            ],
            3,
        ),
        (
            JournalEvent::Refused {
                call: call(0),
                queue: q(),
                node: NodeId::new("pbx1"),
                caller_id: "5551234".into(),
                outcome: Outcome::Full,
            },
            vec!["1700000123|pbx1~1700000000.42|support|NONE|STARQ_FULL|5551234"],
            1,
        ),
        (
            JournalEvent::Refused {
                call: call(0),
                queue: q(),
                node: NodeId::new("pbx1"),
                caller_id: "".into(),
                outcome: Outcome::JoinEmpty,
            },
            vec!["1700000123|pbx1~1700000000.42|support|NONE|STARQ_JOINEMPTY|"],
            1,
        ),
        (
            JournalEvent::Missed {
                call: call(0),
                queue: q(),
                agent: a(),
                miss: Miss::NoAnswer,
                rang: Duration::from_millis(15_250),
            },
            vec!["1700000123|pbx1~1700000000.42|support|Alice|RINGNOANSWER|15250"],
            1,
        ),
        (
            JournalEvent::Missed {
                call: call(0),
                queue: q(),
                agent: a(),
                miss: Miss::Busy,
                rang: Duration::from_millis(80),
            },
            vec!["1700000123|pbx1~1700000000.42|support|Alice|RINGNOANSWER|80"],
            1,
        ),
        (
            cancelled(CancelCause::CallerLeft),
            vec!["1700000123|pbx1~1700000000.42|support|Alice|RINGCANCELED|3400"],
            1,
        ),
        (cancelled(CancelCause::AnsweredElsewhere), vec![], 0),
        (JournalEvent::MemberAdded { agent: a(), queue: q(), penalty: 2 }, vec![], 0),
        (JournalEvent::MemberRemoved { agent: a(), queue: q() }, vec![], 0),
        (paused(Some(q()), &[]), vec!["1700000123|NONE|support|Alice|PAUSE|lunch"], 1),
        (unpaused(Some(q()), &[]), vec!["1700000123|NONE|support|Alice|UNPAUSE|"], 1),
        (
            paused(None, &["sales", "support"]),
            vec![
                "1700000123|NONE|NONE|Alice|PAUSEALL|lunch",
                "1700000123|NONE|sales|Alice|PAUSE|lunch",
                "1700000123|NONE|support|Alice|PAUSE|lunch",
            ],
            1,
        ),
        (
            unpaused(None, &["sales", "support"]),
            vec![
                "1700000123|NONE|NONE|Alice|UNPAUSEALL|",
                "1700000123|NONE|sales|Alice|UNPAUSE|",
                "1700000123|NONE|support|Alice|UNPAUSE|",
            ],
            1,
        ),
        (
            JournalEvent::LoggedIn { agent: a() },
            vec!["1700000123|NONE|NONE|Alice|AGENTLOGIN|PJSIP/1001"],
            1,
        ),
        (
            JournalEvent::LoggedOut { agent: a(), session: secs(3600) },
            vec!["1700000123|NONE|NONE|Alice|AGENTLOGOFF|PJSIP/1001|3600"],
            2,
        ),
        (
            JournalEvent::PenaltyChanged { agent: a(), queue: q(), penalty: 4 },
            vec!["1700000123|NONE|support|Alice|PENALTY|4"],
            1,
        ),
        (
            JournalEvent::Offered {
                call: call(0),
                queue: q(),
                agent: a(),
                reservation: ReservationId(1),
            },
            vec![],
            0,
        ),
        (JournalEvent::Reachability { agent: a(), reachable: false }, vec![], 0),
    ];
    let renderer = renderer();
    for (event, expected, fields) in cases {
        let lines = renderer.render(&entry(event.clone()));
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert_eq!(text, expected, "{event:?}");
        if let Some(last) = lines.last() {
            assert_eq!(last.data.len(), fields, "{event:?}");
            // The file form has the five fixed fields, then the data (one empty field
            // when there is none).
            let count = text.last().unwrap().split('|').count();
            assert_eq!(count, 5 + fields.max(1), "{event:?}");
            assert_eq!(last.is_terminal(), event.terminal_call().is_some(), "{event:?}");
        }
    }
}

/// app_queue's durations are differences of whole-second times (`time(NULL) - start`), so
/// `line time - duration` is always the earlier line's time; whole seconds of the
/// millisecond duration would be up to a second short.
#[test]
fn durations_are_differences_of_whole_second_times() {
    let r = renderer();
    let at = |ms: u64, event| JournalEntry { seq: 1, time: Time(ms), event };
    let data = |e: JournalEntry| r.render(&e).pop().expect("a line").data;
    let ms = Duration::from_millis;
    // Entered at 100.9 s, connected at 103.2 s: 2.3 s of hold, written as 103 - 100 = 3.
    let connect = JournalEvent::Connected {
        call: call(0),
        queue: q(),
        agent: a(),
        reservation: ReservationId(1),
        hold: ms(2_300),
        rang: ms(1_900),
    };
    assert_eq!(data(at(103_200, connect)), ["3", "pbx1~1700000000.42-r1-leg", "1"]);
    // Entered at 100.9, connected at 103.2, hung up at 110.1: hold 3, talk 110 - 103 = 7.
    let complete = JournalEvent::Completed {
        call: call(0),
        queue: q(),
        agent: a(),
        by: Party::Caller,
        hold: ms(2_300),
        talk: ms(6_900),
        original_position: 1,
    };
    assert_eq!(data(at(110_100, complete)), ["3", "7", "1"]);
    // Entered at 100.9, hung up at 101.1: 0.2 s, but app_queue's wait is 101 - 100 = 1.
    for outcome in [Outcome::Abandoned, Outcome::Timeout, Outcome::LeaveEmpty] {
        let mut wait = left(outcome);
        if let JournalEvent::Left { hold, .. } = &mut wait {
            *hold = ms(200);
        }
        assert_eq!(data(at(101_100, wait)), ["2", "5", "1"], "{outcome:?}");
    }
    // Logged in at 50.8, out at 110.1: app_agent_pool's 110 - 50 = 60.
    let logoff = JournalEvent::LoggedOut { agent: a(), session: ms(59_300) };
    assert_eq!(data(at(110_100, logoff)), ["PJSIP/1001", "60"]);
    // Milliseconds stay milliseconds.
    let missed = JournalEvent::Missed {
        call: call(0),
        queue: q(),
        agent: a(),
        miss: Miss::NoAnswer,
        rang: ms(15_250),
    };
    assert_eq!(data(at(110_100, missed)), ["15250"]);
}

/// Asternic and the like key calls on `callid`: two nodes' channels with one uniqueid are
/// two calls, and the queues of one failover chain are one.
#[test]
fn callids_are_unique_in_the_site_and_kept_across_failover() {
    let r = renderer();
    let entered = |node: &str, step: u32| JournalEvent::Entered {
        call: CallId::of_channel(&NodeId::new(node), "1700000000.42", step),
        queue: q(),
        node: NodeId::new(node),
        caller_id: String::new(),
        position: 1,
        resumed: None,
    };
    let callids = |event| r.render(&entry(event)).iter().map(|l| l.callid.clone()).collect();
    let first: Vec<String> = callids(entered("pbx1", 0));
    let other: Vec<String> = callids(entered("pbx2", 0));
    let next: Vec<String> = callids(entered("pbx1", 1));
    assert_ne!(first, other);
    assert_eq!(next, [first[0].clone(), first[0].clone()], "STARQ_FAILOVER and ENTERQUEUE");
}

/// app_queue's `set_member_paused` with no queue: `PAUSEALL`, then `PAUSE` in each queue the
/// interface is a member of, with the reason.
#[test]
fn a_pause_everywhere_is_also_a_pause_in_each_queue() {
    let r = renderer();
    let lines = r.render(&entry(paused(None, &["billing", "sales"])));
    let events: Vec<(&str, &str)> = lines.iter().map(|l| (l.event, l.queue.as_str())).collect();
    assert_eq!(events, [("PAUSEALL", NONE), ("PAUSE", "billing"), ("PAUSE", "sales")]);
    assert!(lines.iter().all(|l| l.data == ["lunch"] && l.agent == "Alice"));
}

#[test]
fn connect_names_the_leg_channel_starq_created() {
    let r = renderer();
    for (step, reservation) in [(0, 9), (3, 12)] {
        let reservation = ReservationId(reservation);
        let connected = JournalEvent::Connected {
            call: call(step),
            queue: q(),
            agent: a(),
            reservation,
            hold: secs(1),
            rang: secs(1),
        };
        let line = r.render(&entry(connected)).pop().expect("CONNECT");
        assert_eq!(line.data[1], leg_id(&call(step), reservation));
    }
}

/// app_queue writes RINGCANCELED for the members still ringing when the caller leaves, and
/// nothing for the losing legs of a ring-all.
#[test]
fn ringall_losers_write_no_ringcanceled() {
    let r = renderer();
    assert!(text(&r, cancelled(CancelCause::AnsweredElsewhere)).is_empty());
    assert_eq!(
        text(&r, cancelled(CancelCause::CallerLeft)),
        ["1700000123|pbx1~1700000000.42|support|Alice|RINGCANCELED|3400"]
    );
}

/// Configuration's members are app_queue's static members: no ADDMEMBER at start (nor at a
/// reload), no REMOVEMEMBER.
#[test]
fn static_members_write_no_addmember() {
    let r = renderer();
    let added = JournalEvent::MemberAdded { agent: a(), queue: q(), penalty: 0 };
    assert!(text(&r, added).is_empty());
    assert!(text(&r, JournalEvent::MemberRemoved { agent: a(), queue: q() }).is_empty());
}

/// app_agent_pool's lines: data1 the agent's channel (starq agents have none: the phone's
/// interface, or `Agent/<id>`), and on logoff the seconds logged in, `time(NULL) - login`.
#[test]
fn agent_login_and_logoff_name_the_interface_and_the_logged_in_seconds() {
    let at = |ms: u64, event| JournalEntry { seq: 1, time: Time(ms), event };
    let login = || JournalEvent::LoggedIn { agent: a() };
    // Logged in at 50.8 s, out at 110.1 s.
    let logoff = || JournalEvent::LoggedOut { agent: a(), session: Duration::from_millis(59_300) };
    let lines = |r: &QueueLogRenderer| -> Vec<String> {
        [at(50_800, login()), at(110_100, logoff())]
            .iter()
            .flat_map(|e| r.render(e))
            .map(|l| l.to_string())
            .collect()
    };
    assert_eq!(
        lines(&renderer()),
        [
            "50|NONE|NONE|Alice|AGENTLOGIN|PJSIP/1001",
            "110|NONE|NONE|Alice|AGENTLOGOFF|PJSIP/1001|60"
        ]
    );
    assert_eq!(
        lines(&QueueLogRenderer::new()),
        ["50|NONE|NONE|a1|AGENTLOGIN|Agent/a1", "110|NONE|NONE|a1|AGENTLOGOFF|Agent/a1|60"]
    );
}

#[test]
fn outside_text_cannot_shift_fields_or_start_lines() {
    let reason = "lunch|then\nmeeting\r".to_owned();
    let paused =
        JournalEvent::Paused { agent: a(), queue: Some(q()), reason, auto: false, members: vec![] };
    let names = [(a(), "Al|ice".to_owned())].into_iter().collect();
    let lines = QueueLogRenderer::with_member_names(names).render(&entry(paused));
    assert_eq!(lines[0].to_string(), "1700000123|NONE|support|Al ice|PAUSE|lunch then meeting ");
}

#[test]
fn the_fifth_data_column_takes_the_remainder() {
    let line = |n: usize| QueueLogLine {
        time: T,
        callid: "c".into(),
        queue: "q".into(),
        agent: NONE.into(),
        event: "X",
        data: (1..=n).map(|i| format!("d{i}")).collect(),
    };
    assert_eq!(line(3).data_columns(), ["d1", "d2", "d3", "", ""].map(String::from));
    assert_eq!(line(5).data_columns(), ["d1", "d2", "d3", "d4", "d5"].map(String::from));
    assert_eq!(line(7).data_columns(), ["d1", "d2", "d3", "d4", "d5|d6|d7"].map(String::from));
    assert_eq!(line(0).data_columns(), ["", "", "", "", ""].map(String::from));
}

#[test]
fn call_ids_split_into_node_channel_and_failover_step() {
    let id = |s: &str| CallId::new(s);
    assert_eq!(split_call(&id("pbx1~1700.1")), ("pbx1", "1700.1", 0));
    assert_eq!(split_call(&id("pbx1~1700.1-q3")), ("pbx1", "1700.1", 3));
    assert_eq!(split_call(&id("pbx1~a-quiet")), ("pbx1", "a-quiet", 0));
    assert_eq!(split_call(&id("pbx1~a-q0")), ("pbx1", "a-q0", 0));
    assert_eq!(split_call(&id("bare")), ("", "bare", 0));
}

#[test]
fn a_resumed_wait_writes_no_second_enterqueue() {
    // A single box restarted with its callers on hold: their ENTERQUEUE was written by the
    // process that lost its store. The resumed record keeps the caller's stay one stay.
    let r = renderer();
    let resumed = JournalEvent::Entered {
        call: call(0),
        queue: q(),
        node: NodeId::new("pbx1"),
        caller_id: "5551234".into(),
        position: 1,
        resumed: Some(Time(1_700_000_100_000)),
    };
    let entry = JournalEntry { seq: 1, time: Time(1_700_000_123_000), event: resumed };
    assert!(r.render(&entry).is_empty());
}
