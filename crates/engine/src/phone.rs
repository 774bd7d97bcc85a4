//! Agent feature codes from a phone: `Stasis(starq,agent=ACTION[,id=…][,queue=…][,reason=…]
//! [,pin=…])`, as FreePBX's `*45` (log in or out) and `*46` (pause or unpause). Pure: the
//! arguments parsed strictly, the agent found by its id or by the endpoint the channel came
//! from, the PIN checked, and what to do decided from the store's view of the agent. The
//! instance reads that view, applies the action through the core exactly as the API does
//! (so it is journaled the same), answers the channel, plays the confirmation and sends the
//! channel on in the dialplan with [`OUTCOME_VARIABLE`].
//!
//! A PIN is a secret: no `Debug` and no error here shows it (an argument that is not
//! `key=value` is named by its position, not its text).

use std::fmt;

use starq_core::config::AgentConfig;
use starq_core::shared::AgentAction;
use starq_core::{AgentId, QueueId};
use starq_store::{AgentStatus, AgentView};
use thiserror::Error;

/// The channel variable the dialplan reads after `Stasis()` (as for callers).
pub const OUTCOME_VARIABLE: &str = "STARQ_OUTCOME";

/// The longest pause reason kept, in characters; a longer one is cut.
pub const MAX_REASON_CHARS: usize = 64;

/// What the agent asks for from the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeAction {
    /// `agent=login`.
    Login,
    /// `agent=logout`.
    Logout,
    /// `agent=toggle`: log in if logged out, else log out (`*45`).
    Toggle,
    /// `agent=pause`.
    Pause,
    /// `agent=unpause`.
    Unpause,
    /// `agent=togglepause`: pause if not paused, else unpause (`*46`).
    TogglePause,
}

impl CodeAction {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "login" => CodeAction::Login,
            "logout" => CodeAction::Logout,
            "toggle" => CodeAction::Toggle,
            "pause" => CodeAction::Pause,
            "unpause" => CodeAction::Unpause,
            "togglepause" => CodeAction::TogglePause,
            _ => return None,
        })
    }

    fn about_pauses(self) -> bool {
        matches!(self, CodeAction::Pause | CodeAction::Unpause | CodeAction::TogglePause)
    }
}

/// A feature code's arguments, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentCode {
    /// The action.
    pub action: CodeAction,
    /// The agent named by `id=`; `None`: the one whose contact the channel came from.
    pub agent: Option<AgentId>,
    /// `queue=`: the pause or unpause in this queue only.
    pub queue: Option<QueueId>,
    /// `reason=`: the pause's reason, without control characters, at most
    /// [`MAX_REASON_CHARS`].
    pub reason: String,
    pin: Option<String>,
}

impl fmt::Debug for AgentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentCode")
            .field("action", &self.action)
            .field("agent", &self.agent)
            .field("queue", &self.queue)
            .field("reason", &self.reason)
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a feature code's arguments were refused; the message names the argument, never a value
/// that could be a PIN.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CodeError {
    /// An argument that is not `key=value` (by position: its text could be a PIN).
    #[error("argument {0} is not key=value")]
    NotKeyValue(usize),
    /// A key starq does not know.
    #[error("unknown argument {0:?}: expected agent, id, queue, reason or pin")]
    UnknownKey(String),
    /// A key given twice.
    #[error("argument {0:?} given twice")]
    Duplicate(&'static str),
    /// An action starq does not know.
    #[error(
        "unknown action agent={0:?}: expected login, logout, toggle, pause, unpause or togglepause"
    )]
    UnknownAction(String),
    /// A key given without a value.
    #[error("{0}= is empty")]
    Empty(&'static str),
    /// `queue=` or `reason=` on an action that is not about pauses.
    #[error("{0}= applies to pause, unpause and togglepause only")]
    NotForAction(&'static str),
}

/// Whether a channel's `Stasis()` arguments are a feature code (an `agent=` argument) rather
/// than a caller's.
pub fn is_agent_code(args: &[String]) -> bool {
    args.iter().any(|a| a.split_once('=').is_some_and(|(key, _)| key.trim() == "agent"))
}

/// Parses a feature code's arguments (see [`is_agent_code`]).
pub fn parse(args: &[String]) -> Result<AgentCode, CodeError> {
    let mut fields: [Option<String>; 5] = Default::default();
    const KEYS: [&str; 5] = ["agent", "id", "queue", "reason", "pin"];
    for (position, arg) in args.iter().enumerate() {
        let arg = arg.trim();
        if arg.is_empty() {
            continue;
        }
        let (key, value) = arg.split_once('=').ok_or(CodeError::NotKeyValue(position + 1))?;
        let key = key.trim();
        let index = KEYS
            .iter()
            .position(|k| *k == key)
            .ok_or_else(|| CodeError::UnknownKey(key.to_owned()))?;
        if fields[index].is_some() {
            return Err(CodeError::Duplicate(KEYS[index]));
        }
        // A reason keeps its inner spaces; the others are names.
        let value = if index == 3 { value } else { value.trim() };
        if value.trim().is_empty() && index != 3 {
            return Err(CodeError::Empty(KEYS[index]));
        }
        fields[index] = Some(value.to_owned());
    }
    let [action, agent, queue, reason, pin] = fields;
    let action = action.ok_or(CodeError::Empty("agent"))?;
    let action = CodeAction::parse(&action).ok_or(CodeError::UnknownAction(action))?;
    if !action.about_pauses() {
        if queue.is_some() {
            return Err(CodeError::NotForAction("queue"));
        }
        if reason.is_some() {
            return Err(CodeError::NotForAction("reason"));
        }
    }
    Ok(AgentCode {
        action,
        agent: agent.map(AgentId::new),
        queue: queue.map(QueueId::new),
        reason: clean_reason(reason.as_deref().unwrap_or_default()),
        pin,
    })
}

/// A reason from the dialplan as the journal may hold it: control characters dropped, spaces
/// trimmed, at most [`MAX_REASON_CHARS`] characters.
fn clean_reason(reason: &str) -> String {
    let kept: String = reason.chars().filter(|c| !c.is_control()).collect();
    kept.trim().chars().take(MAX_REASON_CHARS).collect::<String>().trim_end().to_owned()
}

/// The endpoint a channel's name says it came from: the name without its sequence number
/// (`PJSIP/1001-00000012` is `PJSIP/1001`) and, for a Local channel, without its half
/// (`Local/1001@agents-0000002a;2` is `Local/1001@agents`). `None` for a name of another shape.
pub fn endpoint_of(channel_name: &str) -> Option<&str> {
    let name = channel_name.split_once(';').map_or(channel_name, |(name, _)| name);
    let (tech, rest) = name.split_once('/')?;
    let (resource, sequence) = rest.rsplit_once('-')?;
    let hex = !sequence.is_empty() && sequence.bytes().all(|b| b.is_ascii_hexdigit());
    (!tech.is_empty() && !resource.is_empty() && hex)
        .then(|| &name[..tech.len() + 1 + resource.len()])
}

/// Whether a contact's endpoint (as starq dials it: `PJSIP/1001`, `Local/1001@agents/n`) is
/// `endpoint` (as [`endpoint_of`] reads a channel name): technology names compare without
/// case, as Asterisk's do; dial options after the resource are not part of it.
fn same_endpoint(contact: &str, endpoint: &str) -> bool {
    let split = |e: &str| -> Option<(String, String)> {
        let (tech, rest) = e.split_once('/')?;
        let resource = rest.split('/').next().unwrap_or(rest);
        Some((tech.to_ascii_lowercase(), resource.to_owned()))
    };
    matches!((split(contact), split(endpoint)), (Some(a), Some(b)) if a == b)
}

/// Why no agent was found for a feature code.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum NoAgent {
    /// `id=` names no configured agent.
    #[error("no agent with id {0:?}")]
    UnknownId(AgentId),
    /// The channel's name does not say which endpoint it came from.
    #[error("channel {0:?} names no endpoint: give id= in the dialplan")]
    NoEndpoint(String),
    /// No agent has a contact at this endpoint.
    #[error("no agent has a contact at {0}")]
    NoContact(String),
    /// Several agents share a contact at this endpoint.
    #[error("agents {1:?} share a contact at {0}: give id= in the dialplan")]
    Shared(String, Vec<AgentId>),
}

/// The agent a feature code is for: the one `id` names, else the one with a contact at the
/// endpoint `channel_name` came from.
pub fn find_agent<'a>(
    agents: &'a [AgentConfig],
    id: Option<&AgentId>,
    channel_name: &str,
) -> Result<&'a AgentConfig, NoAgent> {
    if let Some(id) = id {
        return agents.iter().find(|a| &a.id == id).ok_or_else(|| NoAgent::UnknownId(id.clone()));
    }
    let endpoint =
        endpoint_of(channel_name).ok_or_else(|| NoAgent::NoEndpoint(channel_name.to_owned()))?;
    let mut found =
        agents.iter().filter(|a| a.contacts.iter().any(|c| same_endpoint(&c.endpoint, endpoint)));
    match (found.next(), found.next()) {
        (Some(agent), None) => Ok(agent),
        (None, _) => Err(NoAgent::NoContact(endpoint.to_owned())),
        (Some(first), Some(second)) => {
            let ids = [first, second].into_iter().chain(found).map(|a| a.id.clone()).collect();
            Err(NoAgent::Shared(endpoint.to_owned(), ids))
        }
    }
}

/// Whether the code may act for `agent`: it has no PIN, or the code gives it.
pub fn pin_accepted(agent: &AgentConfig, code: &AgentCode) -> bool {
    match (&agent.pin, &code.pin) {
        (None, _) => true,
        (Some(pin), Some(given)) => pin.matches(given),
        (Some(_), None) => false,
    }
}

/// How a feature code ended, as the dialplan reads it in [`OUTCOME_VARIABLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeOutcome {
    /// The agent is logged in (now, or was already).
    LoggedIn,
    /// The agent is logged out (now, or was already).
    LoggedOut,
    /// The agent is paused.
    Paused,
    /// The agent is unpaused.
    Unpaused,
    /// A logout refused: the agent is on a call or being offered one.
    OnCall,
    /// No agent found (see [`NoAgent`]).
    NoAgent,
    /// The agent has a PIN and the code gave another, or none.
    BadPin,
    /// The arguments were wrong, or the queue is not one of the agent's.
    Invalid,
    /// The store could not be read: nothing was changed.
    Unavailable,
}

impl CodeOutcome {
    /// The value of [`OUTCOME_VARIABLE`].
    pub fn status(self) -> &'static str {
        match self {
            CodeOutcome::LoggedIn => "LOGGEDIN",
            CodeOutcome::LoggedOut => "LOGGEDOUT",
            CodeOutcome::Paused => "PAUSED",
            CodeOutcome::Unpaused => "UNPAUSED",
            CodeOutcome::OnCall => "ONCALL",
            CodeOutcome::NoAgent => "NOAGENT",
            CodeOutcome::BadPin => "BADPIN",
            CodeOutcome::Invalid => "INVALID",
            CodeOutcome::Unavailable => "UNAVAILABLE",
        }
    }

    /// What the phone hears: Asterisk's own English prompts (core sounds).
    pub fn prompts(self) -> &'static [&'static str] {
        match self {
            CodeOutcome::LoggedIn => &["agent-loginok"],
            CodeOutcome::LoggedOut => &["agent-loggedoff"],
            CodeOutcome::Paused => &["dictate/paused"],
            CodeOutcome::Unpaused => &["beep"],
            CodeOutcome::BadPin => &["agent-incorrect"],
            CodeOutcome::OnCall | CodeOutcome::NoAgent | CodeOutcome::Invalid => &["beeperr"],
            CodeOutcome::Unavailable => &["an-error-has-occurred"],
        }
    }
}

/// What to do for a feature code: the action to apply (through the core, as the API does), if
/// any, and the outcome to confirm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The agent action; `None` when the agent is already where the code asks (or may not go).
    pub action: Option<AgentAction>,
    /// What the phone is told.
    pub outcome: CodeOutcome,
}

/// Decides a feature code of `agent` from the store's `view` of it. A toggle reads the view:
/// logged out → log in, else log out; paused (in `queue=`, or everywhere without it) →
/// unpause, else pause.
pub fn decide(code: &AgentCode, agent: &AgentConfig, view: &AgentView) -> Decision {
    let act = |action, outcome| Decision { action: Some(action), outcome };
    let stay = |outcome| Decision { action: None, outcome };
    if let Some(queue) = &code.queue
        && !agent.memberships.iter().any(|m| &m.queue == queue)
    {
        return stay(CodeOutcome::Invalid);
    }
    let logged_in = view.status != AgentStatus::LoggedOut;
    let paused = match &code.queue {
        Some(queue) => view.paused.iter().any(|(q, _)| q == queue),
        None => view.paused_all.is_some(),
    };
    let queue = code.queue.clone();
    let pause = || AgentAction::Pause { queue: queue.clone(), reason: code.reason.clone() };
    let unpause = || AgentAction::Unpause { queue: queue.clone() };
    match code.action {
        CodeAction::Login | CodeAction::Toggle if !logged_in => {
            act(AgentAction::Login, CodeOutcome::LoggedIn)
        }
        CodeAction::Login => stay(CodeOutcome::LoggedIn),
        CodeAction::Logout | CodeAction::Toggle => match view.status {
            AgentStatus::LoggedOut => stay(CodeOutcome::LoggedOut),
            // The store refuses it: the agent logs out after the call.
            AgentStatus::Reserved(_) | AgentStatus::OnCall(_) => stay(CodeOutcome::OnCall),
            _ => act(AgentAction::Logout, CodeOutcome::LoggedOut),
        },
        CodeAction::Pause => act(pause(), CodeOutcome::Paused),
        CodeAction::Unpause => act(unpause(), CodeOutcome::Unpaused),
        CodeAction::TogglePause if paused => act(unpause(), CodeOutcome::Unpaused),
        CodeAction::TogglePause => act(pause(), CodeOutcome::Paused),
    }
}

#[cfg(test)]
mod tests {
    use starq_core::CallId;
    use starq_core::config::{Contact, Membership, Pin};

    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn agent(id: &str, endpoints: &[&str]) -> AgentConfig {
        let mut a = AgentConfig::new(id);
        a.memberships.push(Membership { queue: "support".into(), penalty: 0 });
        for endpoint in endpoints {
            a.contacts.push(Contact { endpoint: (*endpoint).to_owned(), nodes: Vec::new() });
        }
        a
    }

    fn view(status: AgentStatus) -> AgentView {
        AgentView { status, paused_all: None, paused: Vec::new(), reachable: true }
    }

    #[test]
    fn feature_codes_are_told_from_callers() {
        assert!(is_agent_code(&args(&["agent=toggle"])));
        assert!(is_agent_code(&args(&["id=a", " agent = login"])));
        assert!(!is_agent_code(&args(&["queue=support"])));
        assert!(!is_agent_code(&args(&["agent"])), "not key=value: a caller's mistake");
    }

    #[test]
    fn full_and_minimal_forms() {
        let code = parse(&args(&["agent=toggle"])).unwrap();
        assert_eq!((code.action, code.agent, code.queue), (CodeAction::Toggle, None, None));
        let code = parse(&args(&[
            "agent=pause",
            "id=alice",
            "queue=support",
            "reason= lunch break ",
            "pin=0042",
        ]))
        .unwrap();
        assert_eq!(code.action, CodeAction::Pause);
        assert_eq!(code.agent, Some("alice".into()));
        assert_eq!(code.queue, Some("support".into()));
        assert_eq!(code.reason, "lunch break");
        assert_eq!(code.pin.as_deref(), Some("0042"));
        assert!(!format!("{code:?}").contains("0042"), "the PIN never shows: {code:?}");
        for action in ["login", "logout", "unpause", "togglepause"] {
            assert!(parse(&args(&[&format!("agent={action}")])).is_ok(), "{action}");
        }
    }

    #[test]
    fn mistakes_are_named_without_the_pin() {
        let err = |list: &[&str]| parse(&args(list)).unwrap_err();
        assert_eq!(err(&["agent=dance"]), CodeError::UnknownAction("dance".into()));
        assert_eq!(err(&["agent=login", "colour=red"]), CodeError::UnknownKey("colour".into()));
        assert_eq!(err(&["agent=login", "agent=logout"]), CodeError::Duplicate("agent"));
        assert_eq!(err(&["agent=login", "queue=support"]), CodeError::NotForAction("queue"));
        assert_eq!(err(&["agent=toggle", "reason=x"]), CodeError::NotForAction("reason"));
        assert_eq!(err(&["agent=login", "id="]), CodeError::Empty("id"));
        assert_eq!(err(&["agent="]), CodeError::Empty("agent"));
        // A PIN passed without its key is named by position, never shown.
        let e = err(&["agent=login", "4711"]);
        assert_eq!(e, CodeError::NotKeyValue(2));
        assert!(!e.to_string().contains("4711"));
    }

    #[test]
    fn reasons_are_cleaned_and_bounded() {
        let code = parse(&args(&["agent=pause", "reason=lu\u{7}nch\r\n"])).unwrap();
        assert_eq!(code.reason, "lunch");
        let long = format!("reason={}", "x".repeat(200));
        let code = parse(&args(&["agent=pause", &long])).unwrap();
        assert_eq!(code.reason.chars().count(), MAX_REASON_CHARS);
        let code = parse(&args(&["agent=pause", "reason="])).unwrap();
        assert_eq!(code.reason, "");
    }

    #[test]
    fn endpoints_are_read_from_channel_names() {
        assert_eq!(endpoint_of("PJSIP/1001-00000012"), Some("PJSIP/1001"));
        assert_eq!(endpoint_of("PJSIP/alice-smith-0000abcd"), Some("PJSIP/alice-smith"));
        assert_eq!(endpoint_of("Local/1001@ctx-0000002a;2"), Some("Local/1001@ctx"));
        assert_eq!(endpoint_of("SIP/trunk-1"), Some("SIP/trunk"));
        assert_eq!(endpoint_of("PJSIP/1001"), None, "no sequence number");
        assert_eq!(endpoint_of("PJSIP/1001-xyz"), None);
        assert_eq!(endpoint_of("Snoop/1700.1-00000001"), Some("Snoop/1700.1"));
        assert_eq!(endpoint_of("nonsense"), None);
    }

    #[test]
    fn agents_are_found_by_id_or_by_endpoint() {
        let agents = vec![
            agent("alice", &["PJSIP/1001", "Local/1001@agents/n"]),
            agent("bob", &["pjsip/1002"]),
            agent("carol", &["PJSIP/shared"]),
            agent("dave", &["PJSIP/shared"]),
        ];
        let found = |id: Option<&str>, name: &str| {
            find_agent(&agents, id.map(AgentId::new).as_ref(), name).map(|a| a.id.to_string())
        };
        assert_eq!(found(None, "PJSIP/1001-00000012"), Ok("alice".into()));
        assert_eq!(found(None, "Local/1001@agents-0000002a;2"), Ok("alice".into()));
        assert_eq!(found(None, "PJSIP/1002-00000001"), Ok("bob".into()), "tech without case");
        assert_eq!(found(Some("bob"), "PJSIP/1001-00000012"), Ok("bob".into()), "id first");
        assert_eq!(found(Some("zoe"), "PJSIP/1001-1"), Err(NoAgent::UnknownId("zoe".into())));
        assert_eq!(
            found(None, "PJSIP/1003-00000001"),
            Err(NoAgent::NoContact("PJSIP/1003".into()))
        );
        assert_eq!(found(None, "odd"), Err(NoAgent::NoEndpoint("odd".into())));
        assert!(
            matches!(found(None, "PJSIP/shared-1"), Err(NoAgent::Shared(_, ids)) if ids.len() == 2)
        );
        assert_eq!(found(None, "Local/1001@other-00000001;2").ok(), None, "another context");
    }

    #[test]
    fn a_pin_is_asked_only_of_agents_that_have_one() {
        let mut alice = agent("alice", &["PJSIP/1001"]);
        let code = |pin: Option<&str>| {
            let mut list = vec!["agent=login".to_owned()];
            list.extend(pin.map(|p| format!("pin={p}")));
            parse(&list).unwrap()
        };
        assert!(pin_accepted(&alice, &code(None)));
        assert!(pin_accepted(&alice, &code(Some("1"))), "no PIN configured: any is fine");
        alice.pin = Some(Pin::new("0042"));
        assert!(pin_accepted(&alice, &code(Some("0042"))));
        assert!(!pin_accepted(&alice, &code(Some("42"))));
        assert!(!pin_accepted(&alice, &code(None)));
    }

    #[test]
    fn toggles_read_the_store_view() {
        let alice = agent("alice", &["PJSIP/1001"]);
        let code = |list: &[&str]| parse(&args(list)).unwrap();
        let decide = |c: &AgentCode, v: &AgentView| {
            let d = decide(c, &alice, v);
            (d.action, d.outcome)
        };
        let out = view(AgentStatus::LoggedOut);
        let free = view(AgentStatus::Available);
        let talking = view(AgentStatus::OnCall(CallId::new("c")));
        let toggle = code(&["agent=toggle"]);
        assert_eq!(decide(&toggle, &out), (Some(AgentAction::Login), CodeOutcome::LoggedIn));
        assert_eq!(decide(&toggle, &free), (Some(AgentAction::Logout), CodeOutcome::LoggedOut));
        assert_eq!(decide(&toggle, &talking), (None, CodeOutcome::OnCall));
        assert_eq!(decide(&code(&["agent=login"]), &free), (None, CodeOutcome::LoggedIn));
        assert_eq!(decide(&code(&["agent=logout"]), &out), (None, CodeOutcome::LoggedOut));

        let pause = code(&["agent=togglepause", "reason=lunch"]);
        let lunch = AgentAction::Pause { queue: None, reason: "lunch".into() };
        assert_eq!(decide(&pause, &free), (Some(lunch), CodeOutcome::Paused));
        let paused = AgentView { paused_all: Some("lunch".into()), ..free.clone() };
        let unpause = AgentAction::Unpause { queue: None };
        assert_eq!(decide(&pause, &paused), (Some(unpause), CodeOutcome::Unpaused));

        let in_queue = code(&["agent=togglepause", "queue=support"]);
        let support = Some(QueueId::new("support"));
        let paused_here =
            AgentView { paused: vec![("support".into(), String::new())], ..free.clone() };
        let unpause_here = AgentAction::Unpause { queue: support.clone() };
        assert_eq!(decide(&in_queue, &paused_here), (Some(unpause_here), CodeOutcome::Unpaused));
        let pause_here = AgentAction::Pause { queue: support, reason: String::new() };
        assert_eq!(decide(&in_queue, &free), (Some(pause_here), CodeOutcome::Paused));
        let elsewhere = code(&["agent=pause", "queue=sales"]);
        assert_eq!(decide(&elsewhere, &free), (None, CodeOutcome::Invalid), "not a member");
    }

    #[test]
    fn every_outcome_has_a_status_and_a_prompt() {
        use CodeOutcome::*;
        for outcome in
            [LoggedIn, LoggedOut, Paused, Unpaused, OnCall, NoAgent, BadPin, Invalid, Unavailable]
        {
            assert!(!outcome.status().is_empty() && !outcome.prompts().is_empty());
        }
    }
}
