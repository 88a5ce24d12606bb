//! Medians and totals over the runs, and how numbers are written.

use crate::util::{num, Obj};

/// The median of `key` over the runs that have it.
pub(crate) fn median(runs: &[Obj], key: &str) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().filter_map(|r| num(r, key)).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The sum of `key` over the runs.
pub(crate) fn total(runs: &[Obj], key: &str) -> f64 {
    runs.iter().filter_map(|r| num(r, key)).sum()
}

/// A number with about three significant digits, `—` when absent.
pub(crate) fn fmt(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 100_000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100_000.0 => format!("{:.0}k", v / 1000.0),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// `a ÷ b` with two decimals, `—` when either is absent.
pub(super) fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::parse_obj;

    #[test]
    fn flat_json() {
        let o = parse_obj(r#"{"a":1.5,"b":"x,\"y","c":null,"d":-2}"#).unwrap();
        assert_eq!(num(&o, "a"), Some(1.5));
        assert_eq!(o["b"], r#""x,\"y""#);
        assert_eq!(num(&o, "c"), None);
        assert_eq!(num(&o, "d"), Some(-2.0));
        assert_eq!(median(&[o.clone(), o], "a"), Some(1.5));
    }
}
