//! Learning-rate schedules against hand-computed values.

use anyhow::Result;
use dls_foundations::optim::Schedule;

use super::invalid_message;

#[test]
fn schedules_match_hand_computed_values() {
    let lr0 = 0.1;
    let cases: [(Schedule, &[(usize, f64)]); 6] = [
        (Schedule::Constant, &[(0, 0.1), (50, 0.1)]),
        (Schedule::Step { every: 3, gamma: 0.5 }, &[(0, 0.1), (2, 0.1), (3, 0.05), (6, 0.025), (8, 0.025)]),
        (Schedule::Exponential { gamma: 0.95 }, &[(0, 0.1), (1, 0.095), (2, 0.09025)]),
        (Schedule::InverseTime { decay_rate: 1.0, interval: 1 }, &[(0, 0.1), (1, 0.05), (3, 0.025)]),
        (
            Schedule::InverseTime { decay_rate: 0.3, interval: 10 },
            &[(9, 0.1), (10, 0.1 / 1.3), (25, 0.1 / 1.6)],
        ),
        // cos(0.2 pi) = 0.80901699437494742: 0.01 + 0.09 * 1.80901699437494742 / 2.
        (
            Schedule::Cosine { total_epochs: 10, min_lr: 0.01 },
            &[(0, 0.1), (2, 0.09140576474687263), (5, 0.055), (10, 0.01), (12, 0.01)],
        ),
    ];
    for (schedule, points) in cases {
        assert!(schedule.validate().is_ok(), "{schedule:?}");
        for &(epoch, want) in points {
            let got = schedule.lr(lr0, epoch);
            assert!((got - want).abs() < 1e-12, "{schedule:?} at epoch {epoch}: {got}, expected {want}");
        }
    }
}

#[test]
fn schedule_validation_names_the_bad_parameter_and_json_uses_a_kind_tag() -> Result<()> {
    let bad = [
        (Schedule::Step { every: 0, gamma: 0.5 }, "step schedule every"),
        (Schedule::Step { every: 2, gamma: 0.0 }, "step schedule gamma"),
        (Schedule::Exponential { gamma: f64::NAN }, "exponential schedule gamma"),
        (Schedule::InverseTime { decay_rate: -1.0, interval: 1 }, "inverse-time schedule decay_rate"),
        (Schedule::Cosine { total_epochs: 0, min_lr: 0.0 }, "cosine schedule total_epochs"),
    ];
    for (schedule, what) in bad {
        let msg = invalid_message(schedule.validate().unwrap_err());
        assert!(msg.starts_with(what), "{msg}");
    }
    // Unvalidated zero intervals do not panic: no decay before, the final rate after.
    assert_eq!(Schedule::Step { every: 0, gamma: 0.5 }.lr(0.1, 5), 0.1);
    assert_eq!(Schedule::Cosine { total_epochs: 0, min_lr: 0.01 }.lr(0.1, 0), 0.01);
    let s: Schedule = serde_json::from_str(r#"{"kind": "inverse_time", "decay_rate": 1.0, "interval": 2}"#)?;
    assert_eq!(s, Schedule::InverseTime { decay_rate: 1.0, interval: 2 });
    assert_eq!(serde_json::to_string(&Schedule::Constant)?, r#"{"kind":"constant"}"#);
    Ok(())
}
