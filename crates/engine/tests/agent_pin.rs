//! An agent's PIN in `starq.toml`: digits in quotes, refused by key otherwise, and never shown
//! by an error or a `Debug`.

use starq_engine::config::{ConfigError, parse};

const NODE: &str = "[[nodes]]\nname = \"n\"\nari_url = \"http://127.0.0.1:8088/ari\"\nusername = \"u\"\npassword = \"p\"\n";

fn with_pin(pin: &str) -> Result<starq_engine::config::Config, ConfigError> {
    let agent =
        format!("[[agents]]\nid = \"a\"\ncontacts = [{{ endpoint = \"PJSIP/a\" }}]\npin = {pin}\n");
    parse(&format!("{NODE}{agent}"), "starq.toml", &|_: &str| None)
}

#[test]
fn a_pin_is_digits_in_quotes() {
    let config = with_pin("\"0042\"").expect("a valid PIN");
    let pin = config.agents[0].pin.as_ref().expect("kept");
    assert!(pin.matches("0042") && !pin.matches("42"), "leading zeros kept");
    assert!(!format!("{config:?}").contains("0042"), "never shown by Debug");
}

#[test]
fn a_bad_pin_is_refused_by_key_without_its_value() {
    for (pin, why) in [
        ("\"12a4\"", "digits"),
        ("\"\"", "digits"),
        ("\"12345678901234567\"", "digits"),
        ("98765", "quotes"),
    ] {
        let err = with_pin(pin).unwrap_err();
        let ConfigError::Invalid { key, reason, .. } = &err else {
            panic!("{pin}: refused by key, got {err}");
        };
        assert_eq!(key, "agents[0] (a).pin");
        assert!(reason.contains(why), "{pin}: {reason}");
        let shown = err.to_string();
        let digits = pin.trim_matches('"');
        assert!(digits.is_empty() || !shown.contains(digits), "{pin} echoed: {shown}");
    }
}
