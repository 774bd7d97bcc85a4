//! The REST client against a local server: what goes on the wire, how answers become typed
//! errors, the in-flight cap, timeouts, and credentials never showing in errors or logs.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use starq_ari::rest::{BridgeFeature, HangupReason, Op, Originate};
use starq_ari::{AriClient, AriError, Credentials, NodeConfig, RestLimits};
use support::rest_server::RestServer;

const PASSWORD: &str = "pw-SECRET-4711";
/// base64("starq:pw-SECRET-4711"), what the header carries.
const ENCODED: &str = "c3RhcnE6cHctU0VDUkVULTQ3MTE=";

fn limits() -> RestLimits {
    RestLimits { request_timeout: Duration::from_millis(1000), ..RestLimits::default() }
}

#[tokio::test]
async fn sends_requests_as_ari_expects_and_decodes_answers() {
    let server = RestServer::start().await;
    let client = AriClient::new(&server.node(PASSWORD), limits()).unwrap();
    let ping = client.ping().await.unwrap();
    assert_eq!(ping.asterisk_id, "02:fc:00:00:00:01");
    let params = Originate {
        endpoint: "PJSIP/1001".into(),
        app: "starq".into(),
        caller_id: Some("\"Queue\" <100>".into()),
        channel_id: Some("call42-1".into()),
        variables: BTreeMap::from([("STARQ_CALL".to_owned(), "42".to_owned())]),
        ..Originate::default()
    };
    let channel = client.originate(&params).await.unwrap();
    assert_eq!(channel.id, "call42-1");
    client.answer("c1").await.unwrap();

    let seen = server.seen();
    assert_eq!(seen[0].path, "/ari/asterisk/ping");
    assert_eq!(seen[0].authorization.as_deref(), Some(&*format!("Basic {ENCODED}")));
    assert_eq!((seen[1].method.as_str(), seen[1].path.as_str()), ("POST", "/ari/channels"));
    let query = seen[1].query.as_deref().unwrap();
    assert!(query.contains("channelId=call42-1"), "{query}");
    assert!(query.contains("callerId=%22Queue%22+%3C100%3E"), "{query}");
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(body, serde_json::json!({"variables": {"STARQ_CALL": "42"}}));
    assert_eq!(seen[2].path, "/ari/channels/c1/answer");
}

/// Runs every failing call the server offers plus a refused connection and a timeout.
async fn all_errors(server: &RestServer) -> Vec<AriError> {
    let client = AriClient::new(&server.node(PASSWORD), limits()).unwrap();
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused_node = NodeConfig {
        ari_url: format!("http://{}/ari", closed.local_addr().unwrap()),
        credentials: Credentials::new("starq", PASSWORD),
        app: "starq".into(),
    };
    drop(closed);
    let refused = AriClient::new(&refused_node, limits()).unwrap();
    vec![
        client.get_channel("missing").await.unwrap_err(),
        client.create_bridge("b1", &[BridgeFeature::Mixing], None).await.unwrap_err(),
        client.add_channels("b1", &["c1"], None).await.unwrap_err(),
        client.hangup("c1", Some(HangupReason::Normal)).await.unwrap_err(),
        client.continue_in_dialplan("c1", &Default::default()).await.unwrap_err(),
        client.move_to_app("c1", "x", None).await.unwrap_err(),
        client.list_channels().await.unwrap_err(),
        client.asterisk_info().await.unwrap_err(),
        refused.ping().await.unwrap_err(),
    ]
}

#[tokio::test]
async fn answers_become_errors_a_caller_can_act_on() {
    let server = RestServer::start().await;
    let errors = all_errors(&server).await;
    let expect = |i: usize, ok: bool| assert!(ok, "unexpected error {i}: {:?}", errors[i]);
    expect(
        0,
        matches!(&errors[0], AriError::NotFound { op: Op::ChannelGet, message }
        if message == "Channel not found"),
    );
    expect(1, matches!(&errors[1], AriError::Conflict { op: Op::BridgeCreate, .. }));
    expect(2, matches!(&errors[2], AriError::InvalidState { status: 422, .. }));
    expect(3, matches!(&errors[3], AriError::Unavailable { status: Some(503), .. }));
    expect(4, matches!(&errors[4], AriError::Unauthorized { status: 401, .. }));
    expect(5, matches!(&errors[5], AriError::BadRequest { status: 400, .. }));
    expect(6, matches!(&errors[6], AriError::Decode { op: Op::ChannelList, .. }));
    expect(7, matches!(&errors[7], AriError::Timeout { sent: true, .. }));
    expect(8, matches!(&errors[8], AriError::Unavailable { status: None, .. }));
    assert!(errors[6].to_string().contains("id"), "decode error names the field: {}", errors[6]);
}

#[tokio::test]
async fn credentials_never_appear_in_errors_or_logs() {
    let logs = support::LogCapture::default();
    // The current-thread test runtime runs the client and the connection tasks here.
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let server = RestServer::start().await;
    let errors = all_errors(&server).await;
    let client = AriClient::new(&server.node(PASSWORD), limits()).unwrap();
    client.ping().await.unwrap();

    let logs = logs.text();
    assert!(logs.contains("ARI request"), "logging was not captured: {logs}");
    let mut texts = vec![logs, format!("{client:?}"), format!("{:?}", server.node(PASSWORD))];
    for error in &errors {
        texts.push(error.to_string());
        texts.push(format!("{error:?}"));
    }
    for text in texts {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
        assert!(!text.contains(ENCODED), "encoded credentials leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_are_capped_per_node() {
    let server = RestServer::start().await;
    let limits = RestLimits { max_in_flight: 3, slot_timeout: Duration::from_secs(10), ..limits() };
    let client = AriClient::new(&server.node(PASSWORD), limits).unwrap();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.answer("slow").await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(server.peak_concurrency(), 3, "the cap must be reached and never exceeded");
    assert_eq!(client.in_flight(), 0);
}

#[tokio::test]
async fn waiting_for_a_slot_times_out_as_not_sent() {
    let server = RestServer::start().await;
    let limits =
        RestLimits { max_in_flight: 1, slot_timeout: Duration::from_millis(50), ..limits() };
    let client = AriClient::new(&server.node(PASSWORD), limits).unwrap();
    // The first call holds the only slot for 200 ms; the second may wait 50 ms for it.
    let (first, second) = tokio::join!(client.answer("slow"), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.ping().await
    });
    assert!(first.is_ok(), "{first:?}");
    assert!(
        matches!(second, Err(AriError::Timeout { op: Op::AsteriskPing, sent: false, .. })),
        "{second:?}"
    );
    let pings = server.seen().iter().filter(|s| s.path == "/ari/asterisk/ping").count();
    assert_eq!(pings, 0, "a request that timed out waiting for a slot was sent anyway");
}

#[test]
fn bad_configuration_is_refused() {
    let node = |url: &str| NodeConfig {
        ari_url: url.into(),
        credentials: Credentials::new("starq", PASSWORD),
        app: "starq".into(),
    };
    assert!(AriClient::new(&node("http://127.0.0.1:8088/ari"), RestLimits::default()).is_ok());
    let zero = RestLimits { max_in_flight: 0, ..RestLimits::default() };
    assert!(AriClient::new(&node("http://127.0.0.1:8088/ari"), zero).is_err());
    let error = AriClient::new(&node(&format!("http://starq:{PASSWORD}@h/ari")), limits());
    let error = error.unwrap_err();
    assert!(!error.to_string().contains(PASSWORD), "{error}");
}
