//! Minors and their legal representatives: a beneficiary born less than 18 years ago is enrolled
//! with one or two legal representatives, who act on the minor's profile as themselves until the
//! minor's 18th birthday; an adult has none.

use chrono::{Months, NaiveDate};

/// The age of majority.
pub const MAJORITY_YEARS: u32 = 18;

/// Most legal representatives of one minor.
pub const MAX_REPRESENTATIVES: usize = 2;

/// The day a person born on `birth_date` turns 18 (born on 29 February: 28 February).
pub fn majority_date(birth_date: NaiveDate) -> NaiveDate {
    birth_date
        .checked_add_months(Months::new(MAJORITY_YEARS * 12))
        .unwrap_or(NaiveDate::MAX)
}

/// Whether a person born on `birth_date` is a minor on `today`.
pub fn is_minor(birth_date: NaiveDate, today: NaiveDate) -> bool {
    today < majority_date(birth_date)
}

/// Checks the number of representatives an enrolment row gives: 1 or 2 for a minor, none for
/// an adult. The message is for the client.
pub fn check_representatives(
    birth_date: NaiveDate,
    today: NaiveDate,
    count: usize,
) -> Result<(), &'static str> {
    match (is_minor(birth_date, today), count) {
        (true, 1..=MAX_REPRESENTATIVES) | (false, 0) => Ok(()),
        (true, _) => Err("a minor is enrolled with one or two legal representatives"),
        (false, _) => Err("an adult has no legal representative"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("a test date")
    }

    #[test]
    fn majority_is_the_eighteenth_birthday() {
        assert_eq!(majority_date(day("2010-03-15")), day("2028-03-15"));
        assert_eq!(majority_date(day("2008-02-29")), day("2026-02-28"));
        assert!(is_minor(day("2010-03-15"), day("2028-03-14")));
        assert!(!is_minor(day("2010-03-15"), day("2028-03-15")));
    }

    #[test]
    fn a_minor_has_one_or_two_representatives_an_adult_none() {
        let today = day("2026-11-02");
        let child = day("2015-06-01");
        let adult = day("1980-06-01");
        assert!(check_representatives(child, today, 0).is_err());
        assert!(check_representatives(child, today, 1).is_ok());
        assert!(check_representatives(child, today, 2).is_ok());
        assert!(check_representatives(child, today, 3).is_err());
        assert!(check_representatives(adult, today, 0).is_ok());
        assert!(check_representatives(adult, today, 1).is_err());
    }
}
