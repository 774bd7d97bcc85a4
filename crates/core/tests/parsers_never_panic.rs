//! Every parser of user-written settings takes any string: a value or an error naming the
//! setting, never a panic.

use proptest::prelude::*;
use starq_core::config::{AutoPause, EmptyConditions, PenaltyStep, limits};
use starq_core::strategy::Strategy;

proptest! {
    #[test]
    fn settings_parse_or_name_the_setting(text in ".{0,40}", csv in "[0-9+,-]{0,20}") {
        for input in [text.as_str(), csv.as_str()] {
            if let Err(e) = input.parse::<Strategy>() {
                prop_assert!(e.to_string().contains("strategy"));
            }
            if let Err(e) = input.parse::<EmptyConditions>() {
                prop_assert!(e.to_string().contains("joinempty"));
            }
            if let Err(e) = input.parse::<PenaltyStep>() {
                prop_assert!(e.to_string().contains("penaltychange"));
            }
            if let Err(e) = input.parse::<AutoPause>() {
                prop_assert!(e.to_string().contains("autopause"));
            }
        }
    }

    #[test]
    fn penalty_steps_round_trip_their_numbers(secs in limits::PENALTY_STEP_SECS, max in 0u32..1000, delta in -50i64..50) {
        let step: PenaltyStep = format!("{secs},{max},{delta:+}").parse().expect("valid");
        prop_assert_eq!(step.after.as_secs(), secs);
        prop_assert_eq!(step.max, starq_core::config::PenaltyChange::Absolute(max));
        prop_assert_eq!(step.min, Some(starq_core::config::PenaltyChange::Relative(delta)));
    }

    #[test]
    fn penalty_steps_past_the_limit_are_refused(secs in limits::PENALTY_STEP_SECS.end() + 1..) {
        let error = format!("{secs},1").parse::<PenaltyStep>().expect_err("too late");
        prop_assert!(error.to_string().contains("must be between 0 and 86400 seconds"), "{}", error);
    }
}
