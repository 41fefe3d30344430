//! The mastery model: Bayesian Knowledge Tracing with graded evidence.
//!
//! Mastery is P(the learner knows the topic). A completion with quiz score `s`
//! (0–1) is evidence: a learner who knows the topic answers right with
//! probability `1 − SLIP`, one who does not with probability `GUESS`. The posterior
//! mixes the "right" and "wrong" updates in proportion to `s`, then learning from
//! the lesson itself moves a not-yet-knowing learner to knowing with probability
//! `LEARN`. Parameters are the classic BKT defaults (Corbett & Anderson, 1995).

/// Mastery before any completion (shared with course-agent).
pub use lf_events::api::MASTERY_PRIOR as PRIOR;
/// P(wrong answer | knows).
pub const SLIP: f64 = 0.1;
/// P(right answer | does not know).
pub const GUESS: f64 = 0.2;
/// P(learns from this lesson | did not know).
pub const LEARN: f64 = 0.15;

/// Mastery after a completion scored `score` (clamped to 0–1).
pub fn update(mastery: f64, score: f64) -> f64 {
    let p = mastery.clamp(0.0, 1.0);
    let s = score.clamp(0.0, 1.0);
    let if_right = p * (1.0 - SLIP) / (p * (1.0 - SLIP) + (1.0 - p) * GUESS);
    let if_wrong = p * SLIP / (p * SLIP + (1.0 - p) * (1.0 - GUESS));
    let posterior = s * if_right + (1.0 - s) * if_wrong;
    (posterior + (1.0 - posterior) * LEARN).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_answers_raise_and_wrong_answers_lower_mastery() {
        assert!(update(0.5, 1.0) > 0.5);
        assert!(update(0.5, 0.0) < 0.5);
        assert!(update(0.5, 1.0) > update(0.5, 0.6));
    }

    #[test]
    fn repeated_success_converges_towards_one() {
        let mut m = PRIOR;
        for _ in 0..10 {
            m = update(m, 1.0);
        }
        assert!(m > 0.95, "{m}");
        assert!(m <= 1.0);
    }

    #[test]
    fn stays_a_probability_for_any_input() {
        for m in [0.0, 0.3, 1.0, -1.0, 2.0] {
            for s in [0.0, 0.5, 1.0, -3.0, 7.0] {
                let u = update(m, s);
                assert!((0.0..=1.0).contains(&u), "{m} {s} {u}");
            }
        }
    }

    #[test]
    fn known_value() {
        // p = 0.1, full marks: posterior 0.09 / (0.09 + 0.18) = 1/3; plus learning: 1/3 + 2/3 * 0.15 = 0.4333…
        assert!((update(0.1, 1.0) - 0.433_333).abs() < 1e-5);
    }
}
