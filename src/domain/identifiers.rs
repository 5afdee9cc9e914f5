//! Identifiers and inputs that users type, parsed once at the edge ("parse, don't validate").

use std::fmt;

pub use entity::values::{Ins, ParseError, Rpps};

/// An email address, trimmed and checked for a plausible shape (one `@`, a dotted domain).
/// Deliverability is the mail server's business, not ours.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Email(String);

impl Email {
    /// Parses an email address.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let email = input.trim();
        let invalid = || ParseError::new(format!("'{email}' is not a valid email address"));
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email.to_owned()))
    }

    /// The address as typed, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The serial number printed on a Carte Vitale: 6 to 20 letters or digits, compared upper-case.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CarteVitaleSerial(String);

impl CarteVitaleSerial {
    /// Parses a Carte Vitale serial number; spaces are dropped.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let compact: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !(6..=20).contains(&compact.len()) || !compact.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ParseError::new(
                "a Carte Vitale serial number has 6 to 20 letters or digits",
            ));
        }
        Ok(Self(compact))
    }

    /// The normalised serial.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name as the insurer's registry holds it: 1 to 100 characters, trimmed, no control character.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name; `what` names the field in the error message.
    pub fn parse(input: &str, what: &str) -> Result<Self, ParseError> {
        let name = input.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ParseError::new(format!(
                "{what} must have 1 to 100 characters and no control character"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal address below the recipient's name, as La Poste requires it (norme AFNOR NF Z10-011):
/// the whole block has at most 6 lines of at most 38 characters, so the address itself has
/// 1 to 5 lines, the name taking the first.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AddressLines(Vec<String>);

impl AddressLines {
    /// Most lines an address may have below the name line.
    pub const MAX_LINES: usize = 5;
    /// Most characters on one line.
    pub const MAX_LINE_LENGTH: usize = 38;

    /// Parses address lines; blank lines are dropped.
    pub fn parse(lines: &[String]) -> Result<Self, ParseError> {
        let lines: Vec<String> = lines
            .iter()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        if lines.is_empty() || lines.len() > Self::MAX_LINES {
            return Err(ParseError::new(format!(
                "a postal address has 1 to {} lines below the name",
                Self::MAX_LINES
            )));
        }
        if let Some(long) = lines
            .iter()
            .find(|l| l.chars().count() > Self::MAX_LINE_LENGTH || l.chars().any(char::is_control))
        {
            return Err(ParseError::new(format!(
                "address line '{long}' is longer than {} characters or has a control character",
                Self::MAX_LINE_LENGTH
            )));
        }
        Ok(Self(lines))
    }

    /// Rebuilds the lines from their stored form (one line per `\n`), without re-validating.
    pub fn from_stored(stored: &str) -> Self {
        Self(stored.lines().map(str::to_owned).collect())
    }

    /// The stored form: lines joined by `\n`.
    pub fn to_stored(&self) -> String {
        self.0.join("\n")
    }

    /// The lines, top to bottom.
    pub fn lines(&self) -> &[String] {
        &self.0
    }
}

/// A one-time activation code, printed in the creation notice: 12 characters of Crockford's
/// base-32 alphabet shown as `XXXX-XXXX-XXXX` (60 bits). Only a hash of it is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ActivationCode(String);

impl ActivationCode {
    const ALPHABET: &'static [u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    /// Draws a fresh code from the operating system's random source.
    pub fn generate() -> Self {
        use rand::{Rng, TryRngCore};
        let mut rng = rand::rngs::OsRng.unwrap_err();
        let code = (0..12)
            .map(|_| char::from(Self::ALPHABET[rng.random_range(0..32)]))
            .collect();
        Self(code)
    }

    /// Parses a code typed by a patient: dashes and spaces are ignored, case too, and the
    /// letters Crockford folds (`O`→`0`, `I`/`L`→`1`) are folded.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let code: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            })
            .collect();
        if code.len() != 12 || !code.bytes().all(|b| Self::ALPHABET.contains(&b)) {
            return Err(ParseError::new(
                "an activation code has 12 letters or digits, as printed in the notice",
            ));
        }
        Ok(Self(code))
    }

    /// The code as printed: `XXXX-XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}-{}", &self.0[..4], &self.0[4..8], &self.0[8..])
    }

    /// The hash stored in place of the code, bound to the patient's INS so that one stored hash
    /// cannot be replayed for another patient.
    pub fn hash_for(&self, ins: &Ins) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"espace-sante/activation-code/v1\0");
        hasher.update(ins.as_str().as_bytes());
        hasher.update(b"\0");
        hasher.update(self.0.as_bytes());
        format!("{:x}", hasher.finalize())
    }
}

/// A secret: never printed.
impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationCode(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_needs_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse(" jeanne@example.fr ").is_ok());
        for bad in [
            "",
            "jeanne",
            "@example.fr",
            "jeanne@example",
            "a b@example.fr",
            "j@.fr",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn address_follows_la_poste_limits() {
        let ok = vec!["12 rue des Lilas".to_owned(), "75011 PARIS".to_owned()];
        assert_eq!(AddressLines::parse(&ok).unwrap().lines().len(), 2);
        assert!(AddressLines::parse(&[]).is_err());
        assert!(AddressLines::parse(&vec!["x".to_owned(); 6]).is_err());
        assert!(AddressLines::parse(&["x".repeat(39)]).is_err());
        let stored = AddressLines::parse(&ok).unwrap().to_stored();
        assert_eq!(AddressLines::from_stored(&stored).lines(), ok.as_slice());
    }

    #[test]
    fn activation_code_round_trips_and_folds_ambiguous_letters() {
        let code = ActivationCode::generate();
        let parsed = ActivationCode::parse(&code.display().to_lowercase()).unwrap();
        assert_eq!(parsed, code);
        assert_eq!(
            ActivationCode::parse("OIL0-0000-0000").unwrap(),
            ActivationCode::parse("0110-0000-0000").unwrap()
        );
        assert!(ActivationCode::parse("ABC").is_err());
        assert!(ActivationCode::parse("UUUU-UUUU-UUUU").is_err());
    }

    #[test]
    fn activation_code_hash_is_bound_to_the_patient() {
        let code = ActivationCode::parse("ABCD-EFGH-JKMN").unwrap();
        let a = Ins::parse("185057800608491").unwrap();
        let b = Ins::parse("255081416802538").unwrap();
        assert_ne!(code.hash_for(&a), code.hash_for(&b));
        assert_eq!(code.hash_for(&a).len(), 64);
    }

    #[test]
    fn carte_vitale_serial_is_normalised() {
        assert_eq!(
            CarteVitaleSerial::parse("ab 12 cd 34").unwrap().as_str(),
            "AB12CD34"
        );
        assert!(CarteVitaleSerial::parse("12345").is_err());
        assert!(CarteVitaleSerial::parse("1234-5678").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever a client types, parsing answers; it never panics.
        #[test]
        fn any_text_parses_or_is_refused_without_panicking(text in "\\PC{0,40}") {
            let _ = Ins::parse(&text);
            let _ = Rpps::parse(&text);
        }

        /// Every NIR with its key is an INS, written with or without spaces, and reads back
        /// as itself; any other key is refused.
        #[test]
        fn an_ins_with_its_key_parses_and_round_trips(
            nir in "[12][0-9]{4}(2A|2B|[0-9]{2})[0-9]{6}",
            wrong in 1u64..97,
        ) {
            let key = Ins::key_of(&nir).unwrap();
            let ins = Ins::parse(&format!("{nir}{key:02}")).unwrap();
            proptest::prop_assert_eq!(Ins::parse(ins.as_str()).unwrap(), ins.clone());
            let spaced = format!("{} {} {key:02}", &nir[..5], &nir[5..]);
            proptest::prop_assert_eq!(Ins::parse(&spaced).unwrap(), ins);
            let other = (key + wrong - 1) % 97 + 1;
            if other != key {
                let wrong_key = format!("{nir}{other:02}");
                proptest::prop_assert!(Ins::parse(&wrong_key).is_err());
            }
        }

        /// Ten digits and their Luhn digit make an RPPS number, and one digit changed does not.
        #[test]
        fn an_rpps_with_its_luhn_digit_parses_and_round_trips(body in "[0-9]{10}", delta in 1u32..10) {
            let check = (0..10)
                .map(|d| format!("{body}{d}"))
                .find(|candidate| Rpps::parse(candidate).is_ok());
            let number = check.expect("exactly one check digit makes a valid number");
            let rpps = Rpps::parse(&number).unwrap();
            proptest::prop_assert_eq!(rpps.as_str(), number.as_str());
            let last = number.as_bytes()[10] - b'0';
            let changed = format!("{body}{}", (u32::from(last) + delta) % 10);
            proptest::prop_assert!(Rpps::parse(&changed).is_err());
        }
    }
}
