//! Human formatting of money, counts and ratios, shared by detector messages and reports so a
//! number reads the same everywhere.

/// `$4,900` for amounts of $100 or more, `$12.34` below.
pub fn usd(amount: f64) -> String {
    let sign = if amount < 0.0 { "-" } else { "" };
    let amount = amount.abs();
    if amount >= 100.0 {
        format!("{sign}${}", grouped(amount.round() as u64))
    } else {
        format!("{sign}${amount:.2}")
    }
}

/// `12,345,678`.
pub fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12.3M`, `4.5k`, `812` — compact token counts for tables.
pub fn compact(value: u64) -> String {
    let v = value as f64;
    if v >= 1e9 {
        format!("{:.1}B", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        value.to_string()
    }
}

/// `8.1x` with one decimal below 10, none above.
pub fn factor(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}x")
    } else {
        format!("{value:.1}x")
    }
}

/// Rounds to `digits` decimals, so a number stored in a report does not carry float noise.
pub fn round_to(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    // `+ 0.0` turns -0.0 (an empty f64 sum) into 0.0, so reports never print `-0.0`.
    (value * scale).round() / scale + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_a_finance_report() {
        assert_eq!(usd(4900.4), "$4,900");
        assert_eq!(usd(1_234_567.0), "$1,234,567");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(-250.0), "-$250");
    }

    #[test]
    fn counts_group_and_compact() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(compact(12_345_678), "12.3M");
        assert_eq!(compact(812), "812");
        assert_eq!(factor(8.06), "8.1x");
        assert_eq!(factor(12.4), "12x");
    }
}
