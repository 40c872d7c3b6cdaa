//! Which columns hold personal data: by name and type (always), and by
//! sampled values (where sampling reached). Names are split into
//! underscore-separated words and matched case-insensitively, so
//! `contact_email` is an email column and `emailed_at` is not.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Email,
    Phone,
    Name,
    Address,
    Card,
    NationalId,
    BirthDate,
    IpAddress,
    FreeText,
    Other,
}

impl PiiKind {
    /// The `readiness_pii_columns.pii_kind` vocabulary.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Name => "name",
            PiiKind::Address => "address",
            PiiKind::Card => "card",
            PiiKind::NationalId => "national_id",
            PiiKind::BirthDate => "birth_date",
            PiiKind::IpAddress => "ip_address",
            PiiKind::FreeText => "free_text",
            PiiKind::Other => "other",
        }
    }

    /// The erase action a registration should start from.
    pub fn default_erase_action(self) -> &'static str {
        match self {
            PiiKind::Email => "pseudonymize",
            PiiKind::Card | PiiKind::NationalId | PiiKind::BirthDate | PiiKind::IpAddress => "null",
            _ => "redact",
        }
    }
}

/// A name's words: lower case, split on anything not alphanumeric, so
/// `contact_email`, `ContactEmail` and `contact-email` all have the word `email`.
pub fn name_words(name: &str) -> Vec<String> {
    name.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect()
}

fn has_word(w: &[String], any: &[&str]) -> bool {
    w.iter().any(|x| any.contains(&x.as_str()))
}

fn has_pair(w: &[String], first: &[&str], second: &[&str]) -> bool {
    w.windows(2).any(|p| first.contains(&p[0].as_str()) && second.contains(&p[1].as_str()))
}

fn joined(w: &[String]) -> String {
    w.join("_")
}

/// Is the column named like a card number, CVV or card expiry? The rule:
/// a word `pan`, `cvv`, `cvv2`, `cvc`, `cvc2`, `ccnum`, `cardnumber`,
/// `creditcard`; or `card`/`cc`/`credit` followed by `number`/`num`/`no`/
/// `card`; or `card` followed by `exp`/`expiry`/`expiration`. The last four
/// digits (`card_last4`), brand and type are not card data (PCI DSS 3.4.1
/// allows the last four).
pub fn is_card_column_name(name: &str) -> bool {
    let w = name_words(name);
    if has_word(&w, &["last4", "last_four", "brand", "type", "token", "fingerprint"]) && !has_word(&w, &["pan", "cvv", "cvc"]) {
        return false;
    }
    has_word(&w, &["pan", "cvv", "cvv2", "cvc", "cvc2", "ccnum", "ccnumber", "cardnumber", "cardno", "creditcard", "primaryaccountnumber"])
        || has_pair(&w, &["card", "cc", "credit"], &["number", "num", "no", "nr", "card"])
        || has_pair(&w, &["card"], &["exp", "expiry", "expiration", "expires"])
        || joined(&w).contains("primary_account_number")
}

const TEXTISH: [&str; 5] = ["text", "character varying", "character", "citext", "varchar"];

/// Whether a `format_type()` name is a text-like type.
pub fn is_text_type(type_name: &str) -> bool {
    let base = type_name.split('(').next().unwrap_or(type_name).trim();
    TEXTISH.contains(&base) || base == "bpchar"
}

/// The PII kind a column's name (and type) suggests, if any.
pub fn kind_by_name(name: &str, type_name: &str) -> Option<PiiKind> {
    let w = name_words(name);
    if is_card_column_name(name) {
        return Some(PiiKind::Card);
    }
    if has_word(&w, &["email", "e_mail", "emailaddress"]) && !has_word(&w, &["verified", "sent", "status", "count", "opt", "enabled"]) {
        return Some(PiiKind::Email);
    }
    if has_word(&w, &["phone", "mobile", "msisdn", "telephone", "cellphone", "fax"]) && !has_word(&w, &["verified", "type", "count"]) {
        return Some(PiiKind::Phone);
    }
    if has_word(&w, &["ssn", "sin", "nino", "passport"])
        || has_pair(&w, &["social"], &["security"])
        || has_pair(&w, &["national", "tax", "personal"], &["id", "number", "identifier", "code"])
    {
        return Some(PiiKind::NationalId);
    }
    if has_word(&w, &["dob", "birthdate", "birthday"]) || has_pair(&w, &["birth", "date"], &["date", "of"]) && has_word(&w, &["birth"]) {
        return Some(PiiKind::BirthDate);
    }
    if type_name == "inet" || has_pair(&w, &["ip"], &["address", "addr"]) || (has_word(&w, &["ip"]) && w.len() <= 3) {
        return Some(PiiKind::IpAddress);
    }
    if has_pair(&w, &["first", "last", "full", "middle", "given", "family", "maiden", "legal", "display", "contact", "customer", "holder", "cardholder"], &["name"])
        || has_word(&w, &["surname", "firstname", "lastname", "fullname"])
    {
        return Some(PiiKind::Name);
    }
    if has_word(&w, &["address", "street", "postcode", "zipcode"])
        || has_pair(&w, &["postal", "zip", "post"], &["code"])
        || has_pair(&w, &["address"], &["line", "line1", "line2"])
    {
        // `ip_address` and `email_address` were taken above.
        return Some(PiiKind::Address);
    }
    None
}

/// A sampled value that looks like an e-mail address: one `@`, a non-empty
/// local part, a dotted domain with a 2+ letter last label, no whitespace.
pub fn looks_like_email(v: &str) -> bool {
    let v = v.trim();
    if v.len() > 254 || v.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = v.rsplit_once('@') else { return false };
    if local.is_empty() || local.contains('@') || domain.starts_with('.') || domain.ends_with('.') {
        return false;
    }
    match domain.rsplit_once('.') {
        Some((host, tld)) => !host.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_names_hit_and_near_miss() {
        for n in ["card_number", "cc_num", "CardNumber", "pan", "cvv", "card_cvc2", "credit_card", "card_expiry", "card_exp_month", "primary_account_number", "cardholder_pan"] {
            assert!(is_card_column_name(n), "{n}");
        }
        for n in ["card_last4", "card_brand", "card_type", "discard_reason", "company", "expansion", "payment_token", "scorecard", "panel_id"] {
            assert!(!is_card_column_name(n), "{n}");
        }
    }

    #[test]
    fn kinds_by_name_hit_and_near_miss() {
        let k = |n: &str| kind_by_name(n, "text");
        assert_eq!(k("email"), Some(PiiKind::Email));
        assert_eq!(k("contact_email"), Some(PiiKind::Email));
        assert_eq!(k("email_verified"), None);
        assert_eq!(k("emailed_at"), None);
        assert_eq!(k("phone_number"), Some(PiiKind::Phone));
        assert_eq!(k("full_name"), Some(PiiKind::Name));
        assert_eq!(k("name"), None, "a bare name is a venue's or an event's as often as a person's");
        assert_eq!(k("venue_name"), None);
        assert_eq!(k("date_of_birth"), Some(PiiKind::BirthDate));
        assert_eq!(k("ssn"), Some(PiiKind::NationalId));
        assert_eq!(k("tax_id"), Some(PiiKind::NationalId));
        assert_eq!(k("billing_address"), Some(PiiKind::Address));
        assert_eq!(k("postal_code"), Some(PiiKind::Address));
        assert_eq!(k("ip_address"), Some(PiiKind::IpAddress));
        assert_eq!(kind_by_name("client", "inet"), Some(PiiKind::IpAddress));
        assert_eq!(k("card_number"), Some(PiiKind::Card));
        assert_eq!(k("status"), None);
        assert_eq!(k("shipping_method"), None);
    }

    #[test]
    fn email_values() {
        assert!(looks_like_email("ada@northwind.example"));
        assert!(looks_like_email(" a.b+c@x.co "));
        assert!(!looks_like_email("not an email"));
        assert!(!looks_like_email("@x.com"));
        assert!(!looks_like_email("a@localhost"));
        assert!(!looks_like_email("a@x.c0m"));
        assert!(!looks_like_email("a b@x.com"));
    }

    #[test]
    fn text_types() {
        assert!(is_text_type("text"));
        assert!(is_text_type("character varying(255)"));
        assert!(is_text_type("character(10)"));
        assert!(!is_text_type("integer"));
        assert!(!is_text_type("jsonb"));
    }
}
