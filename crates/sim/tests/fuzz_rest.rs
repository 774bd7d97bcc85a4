//! Seeded random REST traffic, valid and not, against one node: every answer must be a
//! deliberate status (never a 5xx other than "Allocation failed"), and the node must stay
//! consistent and up.

mod common;

use common::{Ari, Events, one_node};
use starq_sim::CallSpec;
use starq_sim::phones::PhoneScript;
use starq_sim::rng::SimRng;

const PATHS: [&str; 24] = [
    "/channels",
    "/channels/create",
    "/channels/{c}",
    "/channels/{c}/answer",
    "/channels/{c}/ring",
    "/channels/{c}/progress",
    "/channels/{c}/moh",
    "/channels/{c}/play",
    "/channels/{c}/play/{p}",
    "/channels/{c}/dial",
    "/channels/{c}/continue",
    "/channels/{c}/move",
    "/channels/{c}/variable",
    "/channels/{c}/dtmf",
    "/bridges",
    "/bridges/{b}",
    "/bridges/{b}/addChannel",
    "/bridges/{b}/removeChannel",
    "/bridges/{b}/moh",
    "/bridges/{b}/play",
    "/playbacks/{p}",
    "/applications/q",
    "/applications/q/subscription",
    "/endpoints/PJSIP/{c}",
];
const KEYS: [&str; 14] = [
    "endpoint",
    "app",
    "channelId",
    "otherChannelId",
    "timeout",
    "caller",
    "channel",
    "media",
    "type",
    "bridgeId",
    "variable",
    "value",
    "reason",
    "eventSource",
];
const VALUES: [&str; 16] = [
    "Local/1@agents",
    "Local/2@noanswer",
    "Local/3@busy",
    "PJSIP/9",
    "PJSIP/none",
    "q",
    "c1;2",
    "a1",
    "-1",
    "0",
    "99999999999",
    "sound:beep",
    "mixing,dtmf_events",
    "channel:c1;2",
    "%zz",
    "",
];

fn pick<'a>(rng: &mut SimRng, xs: &[&'a str]) -> &'a str {
    xs[rng.below(xs.len() as u64) as usize]
}

#[tokio::test]
async fn random_requests_never_break_the_node() {
    let sim = one_node().await;
    sim.set_phone(PhoneScript::answering("PJSIP/9", 10, 50));
    let node = sim.node(0).unwrap();
    let ari = Ari::new(node);
    let _ev = Events::connect(node, "q").await;
    let mut rng = SimRng::new(99, 1);
    for i in 0..1_500u32 {
        if i % 50 == 0 {
            let mut spec = CallSpec::new("q", &[], "1");
            spec.channel_id = Some("c1".to_owned());
            let _ = node.place_call(&spec);
        }
        let ids = ["c1;2", "c1", "a1", "nope", "a%3B1"];
        let path = pick(&mut rng, &PATHS)
            .replace("{c}", pick(&mut rng, &ids))
            .replace("{b}", pick(&mut rng, &["b1", "b2"]))
            .replace("{p}", pick(&mut rng, &["p1", "p2"]));
        let query: Vec<(&str, &str)> =
            (0..rng.below(5)).map(|_| (pick(&mut rng, &KEYS), pick(&mut rng, &VALUES))).collect();
        let (status, body) = match rng.below(3) {
            0 => ari.get(&path, &query).await,
            1 => ari.post(&path, &query).await,
            _ => ari.delete(&path, &query).await,
        };
        // Asterisk's allocation failure is `{"error": …}`; every other error has a message.
        let allocation = body["error"] == "Allocation failed";
        assert!(status < 500 || allocation, "{path} {query:?} -> {status} {body}");
        if status >= 400 && !allocation {
            assert!(
                body["message"].is_string(),
                "{path} {query:?} -> {status} without a message: {body}"
            );
        }
    }
    node.check_invariants().unwrap();
    assert_eq!(ari.get("/asterisk/ping", &[]).await.0, 200);
}
