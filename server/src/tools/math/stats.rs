//! Descriptive statistics for the math server: compensated sums (Neumaier), one-pass
//! variance (Welford), and percentiles by linear interpolation between closest ranks (the
//! method numpy and Excel's PERCENTILE.INC use).

use serde::Serialize;

/// At most this many values per call (about 2 MB of JSON).
pub const MAX_VALUES: usize = 100_000;

#[derive(Debug, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub sum: f64,
    pub mean: f64,
    pub median: f64,
    /// Every most frequent value, when some value occurs more than once.
    pub mode: Vec<f64>,
    pub min: f64,
    pub max: f64,
    pub range: f64,
    /// Population variance and standard deviation (divided by n).
    pub variance: f64,
    pub std_dev: f64,
    /// Sample variance and standard deviation (divided by n − 1); absent for one value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_variance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_std_dev: Option<f64>,
    pub q1: f64,
    pub q3: f64,
    pub iqr: f64,
    /// The requested percentiles, in the order asked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<Percentile>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct Percentile {
    pub p: f64,
    pub value: f64,
}

/// Summarises `values`, or says which input is wrong.
pub fn summarize(values: &[f64], percentiles: &[f64]) -> Result<Summary, String> {
    if values.is_empty() {
        return Err("`values` is empty: give at least one number".into());
    }
    if values.len() > MAX_VALUES {
        return Err(format!(
            "`values` has {} numbers; at most {MAX_VALUES} are allowed",
            values.len()
        ));
    }
    if let Some(p) = percentiles.iter().find(|p| !(0.0..=100.0).contains(*p)) {
        return Err(format!("percentile {p} is outside 0 to 100"));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);

    let sum = neumaier(values);
    let count = values.len();
    let (mut mean, mut m2) = (0.0f64, 0.0f64);
    for (i, x) in values.iter().enumerate() {
        let delta = x - mean;
        mean += delta / (i + 1) as f64;
        m2 += delta * (x - mean);
    }
    let variance = m2 / count as f64;
    let sample_variance = (count > 1).then(|| m2 / (count - 1) as f64);
    let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));
    let summary = Summary {
        count,
        sum,
        mean,
        median: quantile(&sorted, 0.5),
        mode: modes(&sorted),
        min: sorted[0],
        max: sorted[count - 1],
        range: sorted[count - 1] - sorted[0],
        variance,
        std_dev: variance.sqrt(),
        sample_variance,
        sample_std_dev: sample_variance.map(f64::sqrt),
        q1,
        q3,
        iqr: q3 - q1,
        percentiles: percentiles
            .iter()
            .map(|&p| Percentile {
                p,
                value: quantile(&sorted, p / 100.0),
            })
            .collect(),
    };
    let finite = [summary.sum, summary.mean, summary.variance, summary.range];
    if finite.iter().any(|v| !v.is_finite()) {
        return Err("the values are too large to summarise (a sum overflows 1.8e308)".into());
    }
    Ok(summary)
}

fn neumaier(values: &[f64]) -> f64 {
    let (mut sum, mut compensation) = (0.0f64, 0.0f64);
    for &x in values {
        let t = sum + x;
        compensation += if sum.abs() >= x.abs() {
            (sum - t) + x
        } else {
            (x - t) + sum
        };
        sum = t;
    }
    sum + compensation
}

/// The `q` quantile (0–1) of sorted values, interpolating between closest ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = q * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    let weight = rank - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * weight
}

fn modes(sorted: &[f64]) -> Vec<f64> {
    let mut best = 1usize;
    let mut found: Vec<f64> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let run = sorted[i..].iter().take_while(|v| **v == sorted[i]).count();
        if run > best {
            best = run;
            found.clear();
        }
        if run == best && run > 1 {
            found.push(sorted[i]);
        }
        i += run;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_like_the_textbook() {
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0], &[90.0]).unwrap();
        assert_eq!((s.count, s.sum, s.mean, s.median), (8, 40.0, 5.0, 4.5));
        assert_eq!((s.variance, s.std_dev), (4.0, 2.0));
        assert_eq!(s.mode, vec![4.0]);
        assert_eq!((s.q1, s.q3, s.iqr), (4.0, 5.5, 1.5));
        assert!((s.sample_variance.unwrap() - 32.0 / 7.0).abs() < 1e-12);
        assert!((s.percentiles[0].value - 7.6).abs() < 1e-12);

        let one = summarize(&[3.5], &[]).unwrap();
        assert_eq!(
            (one.median, one.sample_variance, one.mode.len()),
            (3.5, None, 0)
        );
        // Compensated summation keeps what a naive sum loses.
        let s = summarize(&[1e16, 1.0, -1e16], &[]).unwrap();
        assert_eq!(s.sum, 1.0);
        assert!(summarize(&[], &[]).is_err());
        assert!(summarize(&[1.0], &[101.0]).is_err());
        assert!(summarize(&[1e308, 1e308], &[]).is_err());
    }
}
