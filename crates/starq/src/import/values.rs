//! Values as `app_queue` reads them: numbers with C's `atoi`, booleans with `ast_true` and
//! `ast_false`. A value Asterisk reads differently from how it looks (`15s` is 15, `maybe` is
//! no) is read the same way here, and said in the report.

use super::asterisk_conf::Variable;
use super::report::Report;

/// `atoi`: leading blanks, a sign, the digits up to the first other character; 0 without
/// digits. Also whether the text was that number and nothing else.
pub(crate) fn atoi(text: &str) -> (i64, bool) {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let len = digits.bytes().take_while(u8::is_ascii_digit).count();
    // Beyond an `int` C's behaviour is undefined; saturating is as good a reading as any.
    let magnitude = digits[..len]
        .bytes()
        .fold(0_i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')))
        .min(i64::from(i32::MAX) + 1);
    let value = if negative { -magnitude } else { magnitude };
    let clean = len > 0 && len == digits.len() && trimmed.len() == text.len();
    (value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)), clean)
}

/// The number `var` holds as `app_queue` reads it; a value that is not plainly a number is
/// reported with what it is read as.
pub(crate) fn number(var: &Variable, report: &mut Report) -> i64 {
    let (value, clean) = atoi(&var.value);
    if !clean {
        report.add(
            &var.at,
            format!("{:?} is not a whole number: app_queue reads it as {value}", var.value),
        );
    }
    value
}

/// `ast_true`.
pub(crate) fn is_true(text: &str) -> bool {
    ["yes", "true", "y", "t", "1", "on"].iter().any(|w| w.eq_ignore_ascii_case(text.trim()))
}

/// `ast_false`.
pub(crate) fn is_false(text: &str) -> bool {
    ["no", "false", "n", "f", "0", "off"].iter().any(|w| w.eq_ignore_ascii_case(text.trim()))
}

/// The boolean `var` holds as `app_queue` reads it (`ast_true`); a value that is neither yes
/// nor no is reported as read as no.
pub(crate) fn boolean(var: &Variable, report: &mut Report) -> bool {
    let yes = is_true(&var.value);
    if !yes && !is_false(&var.value) {
        report.add(&var.at, format!("{:?} is neither yes nor no: app_queue reads no", var.value));
    }
    yes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_reads_like_c() {
        assert_eq!(atoi("15"), (15, true));
        assert_eq!(atoi("-3"), (-3, true));
        assert_eq!(atoi("+3"), (3, true));
        assert_eq!(atoi("15s"), (15, false));
        assert_eq!(atoi(" 7"), (7, false));
        assert_eq!(atoi("abc"), (0, false));
        assert_eq!(atoi(""), (0, false));
        assert_eq!(atoi("99999999999999999999"), (i64::from(i32::MAX), true));
        assert_eq!(atoi("-99999999999999999999"), (i64::from(i32::MIN), true));
    }

    #[test]
    fn booleans_read_like_asterisk() {
        for yes in ["yes", "TRUE", "y", "t", "1", "on"] {
            assert!(is_true(yes) && !is_false(yes), "{yes}");
        }
        for no in ["no", "False", "n", "f", "0", "off"] {
            assert!(is_false(no) && !is_true(no), "{no}");
        }
        assert!(!is_true("maybe") && !is_false("maybe"));
    }
}
