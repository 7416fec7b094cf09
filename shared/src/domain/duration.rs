//! Access durations in whole minutes.

use serde::{Deserialize, Serialize};

/// How long access lasts, in whole minutes: at least 1, at most [`DurationMinutes::MAX`].
///
/// `None` where a duration is optional means indefinite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "f64", into = "u32")]
#[schema(value_type = u32)]
pub struct DurationMinutes(u32);

impl DurationMinutes {
    /// The longest duration accepted anywhere: 366 days. Longer is almost certainly a mistake;
    /// access that should not end is requested as indefinite.
    pub const MAX: u32 = 366 * 24 * 60;

    /// A duration of `minutes`, if it is within 1..=[`Self::MAX`].
    pub fn new(minutes: i64) -> Result<Self, String> {
        if minutes < 1 {
            return Err(format!("duration must be at least 1 minute, got {minutes}"));
        }
        if minutes > i64::from(Self::MAX) {
            return Err(format!(
                "duration must be at most {} minutes (366 days), got {minutes}; request indefinite access instead",
                Self::MAX
            ));
        }
        Ok(Self(minutes as u32))
    }

    /// The number of minutes.
    pub fn minutes(self) -> u32 {
        self.0
    }

    /// The same duration as a chrono duration, for computing end times.
    pub fn as_chrono(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.0))
    }
}

/// JSON has one number type: `90.0` is the integer 90 as far as JSON Schema is concerned, so
/// it is read as such; `90.5` is not a whole number of minutes.
impl TryFrom<f64> for DurationMinutes {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if !value.is_finite() || value.fract() != 0.0 {
            return Err(format!("duration must be a whole number of minutes, got {value}"));
        }
        if value < 1.0 {
            return Err(format!("duration must be at least 1 minute, got {value}"));
        }
        if value > f64::from(Self::MAX) {
            return Err(format!(
                "duration must be at most {} minutes (366 days), got {value}; request indefinite access instead",
                Self::MAX
            ));
        }
        Self::new(value as i64)
    }
}

impl TryFrom<i64> for DurationMinutes {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<DurationMinutes> for u32 {
    fn from(value: DurationMinutes) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_integers_written_as_floats_are_whole_minutes() {
        let parse = |text: &str| serde_json::from_str::<DurationMinutes>(text);
        assert_eq!(parse("90").unwrap().minutes(), 90);
        assert_eq!(parse("90.0").unwrap().minutes(), 90);
        assert!(parse("90.5").is_err());
        assert!(parse("0").is_err());
        assert!(parse("1e9").is_err());
    }

    #[test]
    fn zero_negative_and_absurd_durations_are_rejected() {
        assert!(DurationMinutes::new(0).is_err());
        assert!(DurationMinutes::new(-5).is_err());
        assert!(DurationMinutes::new(i64::from(DurationMinutes::MAX) + 1).is_err());
        assert_eq!(DurationMinutes::new(60).unwrap().minutes(), 60);
        assert_eq!(
            DurationMinutes::new(i64::from(DurationMinutes::MAX)).unwrap().minutes(),
            DurationMinutes::MAX
        );
    }

    #[test]
    fn deserializing_applies_the_same_bounds() {
        assert!(serde_json::from_str::<DurationMinutes>("0").is_err());
        assert!(serde_json::from_str::<DurationMinutes>("1.5").is_err());
        assert_eq!(serde_json::from_str::<DurationMinutes>("30").unwrap().minutes(), 30);
    }
}
