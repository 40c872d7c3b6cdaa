//! National identifiers stored as plain text, for the
//! `pii_plaintext_national_id` check. Only the US Social Security Number for
//! now: its shape and number ranges are public and strict enough to tell it
//! from other nine-digit numbers.

const SSN_LEN: usize = 11;

/// Area, group and serial numbers that the SSA never issues: area 000, 666
/// or 900-999 (the 9xx block is ITINs and test numbers), group 00, serial 0000.
fn valid_ssn_parts(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
}

/// `AAA-GG-SSSS` at the start of `b` with valid ranges (the caller checks length).
fn dashed_ssn_at(b: &[u8]) -> bool {
    let shape = b[..SSN_LEN]
        .iter()
        .enumerate()
        .all(|(i, c)| if i == 3 || i == 6 { *c == b'-' } else { c.is_ascii_digit() });
    shape && valid_ssn_parts(number(&b[0..3]), number(&b[4..6]), number(&b[7..11]))
}

/// True when the whole value, ignoring surrounding whitespace, is a US SSN:
/// `AAA-GG-SSSS` or nine bare digits `AAAGGSSSS`, with a valid area (not
/// 000, 666 or 900-999), group (not 00) and serial (not 0000). Bare digits
/// count here because a column value that is exactly nine digits is a
/// deliberate field, unlike nine digits somewhere in free text.
pub fn looks_like_us_ssn(value: &str) -> bool {
    let b = value.trim().as_bytes();
    match b.len() {
        SSN_LEN => dashed_ssn_at(b),
        9 => b.iter().all(u8::is_ascii_digit) && valid_ssn_parts(number(&b[0..3]), number(&b[3..5]), number(&b[5..9])),
        _ => false,
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Counts US SSNs in free text, dashed form only (`AAA-GG-SSSS` with the
/// ranges of [`looks_like_us_ssn`]): a bare nine-digit run in text is as
/// likely an order or account number, so it is not counted.
///
/// The match must be a token of its own: the bytes around it may not be
/// ASCII letters, digits or `_`, nor a dash leading on to a digit, so
/// longer dash-joined numbers (`1-123-45-6789`, `123-45-6789-01`) are not
/// SSNs, while `SSN:123-45-6789` and `SSN-123-45-6789` are. Non-ASCII
/// characters count as boundaries.
pub fn find_ssns(text: &str) -> usize {
    let b = text.as_bytes();
    if b.iter().filter(|c| c.is_ascii_digit()).nth(8).is_none() {
        return 0;
    }
    let joined_left = |i: usize| i > 0 && (is_word_byte(b[i - 1]) || (b[i - 1] == b'-' && i > 1 && b[i - 2].is_ascii_digit()));
    let joined_right = |j: usize| {
        j < b.len() && (is_word_byte(b[j]) || (b[j] == b'-' && j + 1 < b.len() && b[j + 1].is_ascii_digit()))
    };
    let mut count = 0;
    let mut i = 0;
    while i + SSN_LEN <= b.len() {
        if b[i].is_ascii_digit() && !joined_left(i) && dashed_ssn_at(&b[i..]) && !joined_right(i + SSN_LEN) {
            count += 1;
            i += SSN_LEN;
        } else {
            i += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pii::mask::tests::hostile_inputs;

    #[test]
    fn whole_value_hits() {
        assert!(looks_like_us_ssn("123-45-6789"));
        assert!(looks_like_us_ssn("123456789"));
        assert!(looks_like_us_ssn("  078-05-1120\n"));
        assert!(looks_like_us_ssn("001-01-0001"));
        assert!(looks_like_us_ssn("899-99-9999"));
        assert!(looks_like_us_ssn("665-12-3456"));
        assert!(looks_like_us_ssn("667123456"));
    }

    #[test]
    fn whole_value_invalid_ranges() {
        assert!(!looks_like_us_ssn("000-12-3456"));
        assert!(!looks_like_us_ssn("666-12-3456"));
        assert!(!looks_like_us_ssn("900-12-3456"));
        assert!(!looks_like_us_ssn("999-12-3456"));
        assert!(!looks_like_us_ssn("123-00-4567"));
        assert!(!looks_like_us_ssn("123-45-0000"));
        assert!(!looks_like_us_ssn("000123456"));
        assert!(!looks_like_us_ssn("666123456"));
        assert!(!looks_like_us_ssn("912345678"));
        assert!(!looks_like_us_ssn("123004567"));
        assert!(!looks_like_us_ssn("123450000"));
    }

    #[test]
    fn whole_value_wrong_shapes() {
        assert!(!looks_like_us_ssn("123-456-789"));
        assert!(!looks_like_us_ssn("12-345-6789"));
        assert!(!looks_like_us_ssn("123 45 6789"));
        assert!(!looks_like_us_ssn("123-45-67890"));
        assert!(!looks_like_us_ssn("1234567890"));
        assert!(!looks_like_us_ssn("12345678"));
        assert!(!looks_like_us_ssn("SSN 123-45-6789"));
        assert!(!looks_like_us_ssn("123456789a"));
        assert!(!looks_like_us_ssn("１２３-４５-６７８９"));
        assert!(!looks_like_us_ssn(""));
    }

    #[test]
    fn free_text_hits() {
        assert_eq!(find_ssns("123-45-6789"), 1);
        assert_eq!(find_ssns("SSN: 123-45-6789, spouse 234-56-7890."), 2);
        assert_eq!(find_ssns("SSN:123-45-6789"), 1);
        assert_eq!(find_ssns("SSN-123-45-6789"), 1);
        assert_eq!(find_ssns("(123-45-6789)"), 1);
        assert_eq!(find_ssns("番号123-45-6789です"), 1);
        assert_eq!(find_ssns(&"123-45-6789 ".repeat(1_000)), 1_000);
    }

    #[test]
    fn free_text_near_misses() {
        // Bare nine digits in text are not counted.
        assert_eq!(find_ssns("order 123456789 shipped"), 0);
        // Invalid ranges.
        assert_eq!(find_ssns("000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000"), 0);
        // Part of a longer token or dash-joined number.
        assert_eq!(find_ssns("0123-45-6789"), 0);
        assert_eq!(find_ssns("123-45-67890"), 0);
        assert_eq!(find_ssns("A123-45-6789"), 0);
        assert_eq!(find_ssns("123-45-6789x"), 0);
        assert_eq!(find_ssns("1-123-45-6789"), 0);
        assert_eq!(find_ssns("123-45-6789-01"), 0);
        // Phone numbers and dates have other shapes.
        assert_eq!(find_ssns("+1 555-123-4567"), 0);
        assert_eq!(find_ssns("2024-01-15"), 0);
        assert_eq!(find_ssns("12-345-6789"), 0);
        assert_eq!(find_ssns("123 45 6789"), 0);
        assert_eq!(find_ssns(""), 0);
    }

    #[test]
    fn no_panic_on_hostile_input() {
        for s in hostile_inputs() {
            let _ = looks_like_us_ssn(&s);
            let _ = find_ssns(&s);
        }
        assert_eq!(find_ssns("123-45-678"), 0);
        assert_eq!(find_ssns("-----------"), 0);
        assert_eq!(find_ssns("12345678901"), 0);
    }
}
