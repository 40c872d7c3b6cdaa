//! Payment card numbers (PANs) in free text and jsonb, for `pii_scan` and the
//! `card_data_detected` check.
//!
//! Sampling runs over thousands of values per table inside a time budget, so
//! the detector is a single pass over the bytes with no regex and no
//! allocation per candidate, behind a prefilter that rejects most values
//! after looking at a few bytes.

use std::ops::Range;

use serde_json::Value;

use super::mask::{luhn_checksum_ok, mask_card};

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// The card scheme an issuer prefix belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    Diners,
    UnionPay,
    Maestro,
}

impl Brand {
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
            Brand::Jcb => "jcb",
            Brand::Diners => "diners",
            Brand::UnionPay => "unionpay",
            Brand::Maestro => "maestro",
        }
    }
}

/// One card number found in a text. It deliberately holds no raw digits: the
/// range points into the caller's text, and `masked` is all that may be
/// shown or stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardHit {
    /// Byte range of the match in the scanned text, inner separators included.
    pub range: Range<usize>,
    pub brand: Brand,
    /// [`mask_card`] of the matched text: at most the first six and last four digits.
    pub masked: String,
}

/// The scheme whose prefix and length fit `digits` (digit values 0-9), if any.
///
/// Visa 4 (13, 16, 19 digits); Mastercard 51-55 and 2221-2720 (16); Amex 34,
/// 37 (15); Discover 6011, 644-649, 65 (16-19); UnionPay 62 (16-19); JCB
/// 3528-3589 (16-19); Diners 36, 300-305, 38-39 (14-19); Maestro 50, 56-58
/// and any other 6 (13-19: Maestro allows 12, but a 12-digit number is too
/// common in other identifiers to count). Anything else, including every
/// number starting with 0, 1, 7, 8 or 9, is not a card number here.
fn issuer(digits: &[u8]) -> Option<Brand> {
    let n = digits.len();
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&n) {
        return None;
    }
    let prefix = |k: usize| digits[..k].iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d));
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    let long = (16..=19).contains(&n);
    if p1 == 4 && matches!(n, 13 | 16 | 19) {
        Some(Brand::Visa)
    } else if n == 16 && ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) {
        Some(Brand::Mastercard)
    } else if n == 15 && (p2 == 34 || p2 == 37) {
        Some(Brand::Amex)
    } else if long && (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65) {
        Some(Brand::Discover)
    } else if long && p2 == 62 {
        Some(Brand::UnionPay)
    } else if long && (3528..=3589).contains(&p4) {
        Some(Brand::Jcb)
    } else if n >= 14 && (p2 == 36 || (300..=305).contains(&p3) || p2 == 38 || p2 == 39) {
        Some(Brand::Diners)
    } else if p2 == 50 || (56..=58).contains(&p2) || p1 == 6 {
        Some(Brand::Maestro)
    } else {
        None
    }
}

/// Bytes that glue digits into one token: a digit run touching a letter or an
/// underscore (`ORD4111111111111111`, `id_4111...`) is an identifier, not a
/// card number. Non-ASCII bytes are boundaries.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn has_min_digits(bytes: &[u8]) -> bool {
    bytes.iter().filter(|b| b.is_ascii_digit()).nth(MIN_DIGITS - 1).is_some()
}

/// Finds card numbers in free text, in order of appearance, without overlaps.
///
/// - A digit group is a maximal run of ASCII letters, digits and `_` made of
///   digits only; a run touching a letter or `_` is an identifier and never
///   matches. Groups joined by exactly one space or one dash form a chain
///   (`4111 1111-1111 1111`); any other separator, or two in a row, ends it.
/// - A hit is a span of whole consecutive groups of one chain, 13 to 19
///   digits in total, that passes the Luhn check and has a plausible issuer
///   prefix for its length (the table is on `issuer`). The leftmost
///   span wins, and the longest one at that position, so a number followed
///   by an expiry or CVV group (`4111 1111 1111 1111 123`) is still found.
/// - A single group longer than 19 digits is one long number, never a card.
///
/// A value with fewer than 13 digits in total returns at once.
pub fn find_card_numbers(text: &str) -> Vec<CardHit> {
    let bytes = text.as_bytes();
    let mut hits = Vec::new();
    if !has_min_digits(bytes) {
        return hits;
    }
    // Byte ranges of the digit groups of the current chain.
    let mut chain: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_word_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits_only = true;
        while i < bytes.len() && is_word_byte(bytes[i]) {
            digits_only &= bytes[i].is_ascii_digit();
            i += 1;
        }
        let group = start..i;
        let joins = chain.last().is_some_and(|prev| prev.end + 1 == start && matches!(bytes[prev.end], b' ' | b'-'));
        if !joins || !digits_only || group.len() > MAX_DIGITS {
            scan_chain(text, &chain, &mut hits);
            chain.clear();
        }
        if digits_only && group.len() <= MAX_DIGITS {
            chain.push(group);
        }
    }
    scan_chain(text, &chain, &mut hits);
    hits
}

/// Tries every span of whole groups of one chain, leftmost then longest first.
fn scan_chain(text: &str, groups: &[Range<usize>], hits: &mut Vec<CardHit>) {
    let bytes = text.as_bytes();
    let mut first = 0;
    'start: while first < groups.len() {
        // Longest span from `first` that stays within 19 digits.
        let mut total = 0;
        let mut last = first;
        while last < groups.len() && total + groups[last].len() <= MAX_DIGITS {
            total += groups[last].len();
            last += 1;
        }
        // `last` is one past the longest span; shrink it until it is too short.
        while last > first && total >= MIN_DIGITS {
            let span = groups[first].start..groups[last - 1].end;
            let mut digits = [0u8; MAX_DIGITS];
            let mut n = 0;
            for &b in &bytes[span.clone()] {
                if b.is_ascii_digit() {
                    digits[n] = b - b'0';
                    n += 1;
                }
            }
            let digits = &digits[..n];
            if let Some(brand) = issuer(digits).filter(|_| luhn_checksum_ok(digits)) {
                hits.push(CardHit { masked: mask_card(&text[span.clone()]), range: span, brand });
                first = last;
                continue 'start;
            }
            last -= 1;
            total -= groups[last].len();
        }
        first += 1;
    }
}

/// Calls `f` on every string in a jsonb value: object keys, string values,
/// and numbers rendered as text (a PAN stored as a JSON number is still a
/// PAN). Booleans and nulls are skipped. Document order; the walk uses its
/// own stack, so arbitrarily deep values cannot overflow the call stack.
pub fn walk_json(value: &Value, f: &mut impl FnMut(&str)) {
    enum Item<'a> {
        Key(&'a str),
        Value(&'a Value),
    }
    let mut stack = vec![Item::Value(value)];
    while let Some(item) = stack.pop() {
        match item {
            Item::Key(k) => f(k),
            Item::Value(Value::String(s)) => f(s),
            Item::Value(Value::Number(n)) => f(&n.to_string()),
            Item::Value(Value::Array(a)) => stack.extend(a.iter().rev().map(Item::Value)),
            Item::Value(Value::Object(o)) => {
                for (k, v) in o.iter().rev() {
                    stack.push(Item::Value(v));
                    stack.push(Item::Key(k));
                }
            }
            Item::Value(Value::Bool(_) | Value::Null) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pii::mask::tests::hostile_inputs;

    fn masked(text: &str) -> Vec<String> {
        find_card_numbers(text).into_iter().map(|h| h.masked).collect()
    }

    fn digits(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn finds_test_pans() {
        assert_eq!(masked("4111111111111111"), ["411111******1111"]);
        assert_eq!(masked("5555555555554444"), ["555555******4444"]);
        assert_eq!(masked("378282246310005"), ["378282*****0005"]);
        assert_eq!(masked("6011111111111117"), ["601111******1117"]);
        let brands: Vec<Brand> = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"]
            .iter()
            .map(|p| find_card_numbers(p)[0].brand)
            .collect();
        assert_eq!(brands, [Brand::Visa, Brand::Mastercard, Brand::Amex, Brand::Discover]);
    }

    #[test]
    fn finds_pans_with_separators_in_free_text() {
        let text = "paid with 4111 1111 1111 1111, refund to 5555-5555-5555-4444 (amex 3782 822463 10005).";
        let hits = find_card_numbers(text);
        assert_eq!(hits.len(), 3);
        assert_eq!(&text[hits[0].range.clone()], "4111 1111 1111 1111");
        assert_eq!(hits[0].masked, "4111 11** **** 1111");
        assert_eq!(&text[hits[1].range.clone()], "5555-5555-5555-4444");
        assert_eq!(hits[1].masked, "5555-55**-****-4444");
        assert_eq!(hits[2].masked, "3782 82**** *0005");
        assert_eq!(hits[2].brand, Brand::Amex);
        assert_eq!(masked("4111-1111 1111-1111"), ["4111-11** ****-1111"]);
    }

    #[test]
    fn finds_pan_next_to_other_number_groups() {
        assert_eq!(masked("4111 1111 1111 1111 123"), ["4111 11** **** 1111"]);
        assert_eq!(masked("ref 12 4111111111111111 exp 12 25"), ["411111******1111"]);
        assert_eq!(masked("4111111111111111 5555555555554444"), ["411111******1111", "555555******4444"]);
        let text = "1 4111 1111 1111 1111";
        let hits = find_card_numbers(text);
        assert_eq!(hits.len(), 1);
        assert_eq!(&text[hits[0].range.clone()], "4111 1111 1111 1111");
    }

    #[test]
    fn order_word_then_number_is_judged_on_the_number() {
        assert_eq!(masked("order 4111111111111111"), ["411111******1111"]);
        assert!(find_card_numbers("order 123456789012345").is_empty());
        assert_eq!(masked("ORD-4111111111111111"), ["411111******1111"]);
    }

    #[test]
    fn digits_glued_to_letters_are_identifiers() {
        assert!(find_card_numbers("ORD4111111111111111").is_empty());
        assert!(find_card_numbers("4111111111111111x").is_empty());
        assert!(find_card_numbers("id_4111111111111111").is_empty());
        assert!(find_card_numbers("4111 1111 1111 1111abc").is_empty());
        // Non-ASCII is a boundary, like punctuation.
        assert_eq!(masked("carte:4111111111111111€"), ["411111******1111"]);
        assert_eq!(masked("カード4111111111111111です"), ["411111******1111"]);
    }

    #[test]
    fn near_misses() {
        // Luhn-invalid 16 digits.
        assert!(find_card_numbers("4111111111111112").is_empty());
        assert!(find_card_numbers("4111 1111 1111 1112").is_empty());
        // Phone numbers and order numbers are too short.
        assert!(find_card_numbers("+1 555 123 4567").is_empty());
        assert!(find_card_numbers("call +1 555 123 4567 or +44 20 7946 0958").is_empty());
        assert!(find_card_numbers("ORD-2024-000123").is_empty());
        // Luhn-valid 16 digits with no issuer.
        assert!(mask_luhn("9111111111111110") && find_card_numbers("9111111111111110").is_empty());
        assert!(mask_luhn("1111111111111117") && find_card_numbers("1111111111111117").is_empty());
        assert!(mask_luhn("0000000000000000") && find_card_numbers("0000000000000000").is_empty());
        // Luhn-valid 12 digits and a bare 20-digit number.
        assert!(mask_luhn("411111111117") && find_card_numbers("411111111117").is_empty());
        assert!(find_card_numbers("41111111111111111113").is_empty());
        assert!(find_card_numbers("41111111111111111111").is_empty());
        // Double separators and other separators break the chain.
        assert!(find_card_numbers("4111  1111  1111  1111").is_empty());
        assert!(find_card_numbers("4111--1111--1111--1111").is_empty());
        assert!(find_card_numbers("4111.1111.1111.1111").is_empty());
        assert!(find_card_numbers("4111/1111/1111/1111").is_empty());
        // Right prefix, wrong length for the scheme.
        assert!(find_card_numbers("411111111111118").is_empty()); // Visa, 15 digits
        assert!(find_card_numbers("3782822463100051").is_empty()); // Amex prefix, 16 digits
    }

    fn mask_luhn(s: &str) -> bool {
        crate::pii::mask::luhn_valid(s)
    }

    #[test]
    fn issuer_table() {
        assert_eq!(issuer(&digits("4222222222222")), Some(Brand::Visa));
        assert_eq!(issuer(&digits("4000000000000000006")), Some(Brand::Visa));
        assert_eq!(issuer(&digits("41111111111111")), None);
        assert_eq!(issuer(&digits("2221000000000009")), Some(Brand::Mastercard));
        assert_eq!(issuer(&digits("2720990000000000")), Some(Brand::Mastercard));
        assert_eq!(issuer(&digits("2721000000000000")), None);
        assert_eq!(issuer(&digits("2220990000000000")), None);
        assert_eq!(issuer(&digits("5100000000000000")), Some(Brand::Mastercard));
        assert_eq!(issuer(&digits("5600000000000000")), Some(Brand::Maestro));
        assert_eq!(issuer(&digits("340000000000000")), Some(Brand::Amex));
        assert_eq!(issuer(&digits("370000000000000")), Some(Brand::Amex));
        assert_eq!(issuer(&digits("6445000000000000")), Some(Brand::Discover));
        assert_eq!(issuer(&digits("6500000000000000000")), Some(Brand::Discover));
        assert_eq!(issuer(&digits("6011000000000")), Some(Brand::Maestro));
        assert_eq!(issuer(&digits("6200000000000000")), Some(Brand::UnionPay));
        assert_eq!(issuer(&digits("3528000000000000")), Some(Brand::Jcb));
        assert_eq!(issuer(&digits("3589000000000000000")), Some(Brand::Jcb));
        assert_eq!(issuer(&digits("3590000000000000")), None);
        assert_eq!(issuer(&digits("36000000000000")), Some(Brand::Diners));
        assert_eq!(issuer(&digits("30500000000000")), Some(Brand::Diners));
        assert_eq!(issuer(&digits("30600000000000")), None);
        assert_eq!(issuer(&digits("3800000000000")), None);
        assert_eq!(issuer(&digits("5000000000000")), Some(Brand::Maestro));
        assert_eq!(issuer(&digits("5800000000000000000")), Some(Brand::Maestro));
        assert_eq!(issuer(&digits("500000000000")), None);
        assert_eq!(issuer(&digits("7000000000000000")), None);
        assert_eq!(issuer(&digits("8000000000000000")), None);
    }

    #[test]
    fn prefilter_and_long_inputs() {
        assert!(find_card_numbers("").is_empty());
        assert!(find_card_numbers("4111 1111 1111").is_empty());
        let noise = "lorem ipsum 12 dolor ".repeat(5_000);
        assert!(find_card_numbers(&noise).is_empty());
        let text = format!("{noise}4111111111111111 {noise}");
        let hits = find_card_numbers(&text);
        assert_eq!(hits.len(), 1);
        assert_eq!(&text[hits[0].range.clone()], "4111111111111111");
        let many = "4111111111111111 ".repeat(1_000);
        assert_eq!(find_card_numbers(&many).len(), 1_000);
    }

    #[test]
    fn hits_never_expose_the_middle_digits() {
        let text = "4111 1111 1111 1111 / 5555555555554444 / 378282246310005 / 6011-1111-1111-1117";
        for hit in find_card_numbers(text) {
            let shown = hit.masked.chars().filter(char::is_ascii_digit).count();
            assert!(shown <= 10, "{}", hit.masked);
            assert!(!hit.masked.contains("111111111") && !hit.masked.contains("55555555"), "{}", hit.masked);
            assert!(!format!("{hit:?}").contains("2246"), "{hit:?}");
        }
    }

    #[test]
    fn no_panic_on_hostile_input() {
        for s in hostile_inputs() {
            for hit in find_card_numbers(&s) {
                assert!(s.is_char_boundary(hit.range.start) && s.is_char_boundary(hit.range.end));
            }
        }
    }

    #[test]
    fn walk_json_visits_keys_strings_and_numbers_in_order() {
        let v = json!({
            "a": "x",
            "n": [1, 2.5, true, null, {"deep": "4111 1111 1111 1111"}],
            "neg": -3,
            "pan": 4111111111111111u64
        });
        let mut seen = Vec::new();
        walk_json(&v, &mut |s| seen.push(s.to_string()));
        assert_eq!(seen, ["a", "x", "n", "1", "2.5", "deep", "4111 1111 1111 1111", "neg", "-3", "pan", "4111111111111111"]);
        let mut hits = 0;
        walk_json(&v, &mut |s| hits += find_card_numbers(s).len());
        assert_eq!(hits, 2);
    }

    #[test]
    fn walk_json_scalars_and_deep_nesting() {
        let mut seen = Vec::new();
        walk_json(&json!("only"), &mut |s| seen.push(s.to_string()));
        walk_json(&json!(null), &mut |s| seen.push(s.to_string()));
        walk_json(&json!(false), &mut |s| seen.push(s.to_string()));
        walk_json(&json!([]), &mut |s| seen.push(s.to_string()));
        assert_eq!(seen, ["only"]);
        let mut deep = json!("bottom");
        for _ in 0..100_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut count = 0;
        walk_json(&deep, &mut |_| count += 1);
        assert_eq!(count, 1);
        // serde_json drops deep values recursively; unwind it here so the test
        // itself does not overflow the stack.
        while let Value::Array(mut a) = deep {
            deep = a.pop().unwrap_or(Value::Null);
        }
    }
}
