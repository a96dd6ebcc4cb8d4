//! Humane scalar values of the config file: durations (`"500ms"`, `"5m"`, `"30d"`), rates
//! (`"0.5/s"`, `"20/m"`), percentages (`"99.9%"`) and wait ranges (`"1s..3s"`).
//!
//! Each is its own type with a `Deserialize` that parses and checks, so a bad value is reported
//! by the TOML deserializer with the exact span of the value, like any type error.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// A positive duration written as a humane string.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration {s:?}: {e} (expected a number and a unit, e.g. \"500ms\", \"30s\", \"5m\", \"1h\", \"30d\")")
        })?;
        Ok(Dur(d))
    }
}

/// A rate of iterations or requests per second, written `"N/s"`, `"N/m"` or `"N/h"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate(pub f64);

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid rate {s:?} (expected a positive number per unit, e.g. \"20/s\", \"0.5/s\", \"30/m\")"
            )
        };
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        if !(n.is_finite() && n > 0.0) {
            return Err(bad());
        }
        Ok(Rate(n / per))
    }
}

/// A percentage written `"99.9%"`, kept as a ratio in 0..=1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percent(pub f64);

impl FromStr for Percent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid percentage {s:?} (expected a number from 0 to 100 followed by %, e.g. \"99.9%\")"
            )
        };
        let n = s.trim().strip_suffix('%').ok_or_else(bad)?;
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&n) {
            return Err(bad());
        }
        Ok(Percent(n / 100.0))
    }
}

/// A wait time between tasks: a constant (`"2s"`) or a uniform range (`"1s..3s"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WaitRange {
    pub min: Duration,
    pub max: Duration,
}

impl FromStr for WaitRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = "(expected a duration like \"2s\" or a range like \"1s..3s\")";
        let parse = |part: &str| {
            humantime::parse_duration(part.trim())
                .map_err(|e| format!("invalid wait {s:?}: {e} {expected}"))
        };
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (parse(a)?, parse(b)?),
            None => {
                let d = parse(s)?;
                (d, d)
            }
        };
        if min > max {
            return Err(format!(
                "invalid wait {s:?}: the lower bound is above the upper one {expected}"
            ));
        }
        Ok(WaitRange { min, max })
    }
}

macro_rules! deserialize_from_str {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(FromStrVisitor::<$t>(std::marker::PhantomData))
            }
        }
    )*};
}
deserialize_from_str!(Dur, Rate, Percent, WaitRange);

struct FromStrVisitor<T>(std::marker::PhantomData<T>);

impl<T: FromStr<Err = String>> de::Visitor<'_> for FromStrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_rates_and_percentages_parse() {
        assert_eq!(
            "500ms".parse::<Dur>().unwrap().0,
            Duration::from_millis(500)
        );
        assert_eq!(
            "30d".parse::<Dur>().unwrap().0,
            Duration::from_secs(30 * 86400)
        );
        assert!("5 parsecs".parse::<Dur>().is_err());
        assert_eq!("0.5/s".parse::<Rate>().unwrap().0, 0.5);
        assert_eq!("30/m".parse::<Rate>().unwrap().0, 0.5);
        assert!("0/s".parse::<Rate>().is_err());
        assert!("5/day".parse::<Rate>().is_err());
        assert!(("99.9%".parse::<Percent>().unwrap().0 - 0.999).abs() < 1e-12);
        assert!("101%".parse::<Percent>().is_err());
        assert!("99.9".parse::<Percent>().is_err());
        let w: WaitRange = "1s..3s".parse().unwrap();
        assert_eq!(
            (w.min, w.max),
            (Duration::from_secs(1), Duration::from_secs(3))
        );
        assert!("3s..1s".parse::<WaitRange>().is_err());
        let c: WaitRange = "2s".parse().unwrap();
        assert_eq!(c.min, c.max);
    }
}
