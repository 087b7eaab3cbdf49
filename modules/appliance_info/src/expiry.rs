//! The root password's expiry as `chage -l` prints it, and the date arithmetic it needs.

/// The root password's expiry as shown, and what it means today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub shown: String,
    pub expired: Option<bool>,
    pub days_left: Option<i64>,
}

/// Interpret chage's "Password expires" value; `today` in days since 1970-01-01 (UTC).
pub fn password_expiry(value: &str, today: Option<i64>) -> Expiry {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    if lower == "never" {
        return Expiry { shown: "never".into(), expired: Some(false), days_left: None };
    }
    if lower.contains("must be changed") {
        return Expiry { shown: "password must be changed".into(), expired: Some(true), days_left: Some(0) };
    }
    match parse_chage_date(v) {
        Some(day) => {
            let (y, m, d) = civil_from_days(day);
            let shown = format!("{y:04}-{m:02}-{d:02}");
            match today {
                // shadow: expired once today >= last change + max days, which is the day chage prints
                Some(t) => Expiry { shown, expired: Some(t >= day), days_left: Some(day - t) },
                None => Expiry { shown, expired: None, days_left: None },
            }
        }
        None => Expiry { shown: v.to_string(), expired: None, days_left: None },
    }
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// `Feb 23, 2027` (chage in the C locale) or `2027-02-23` → days since 1970-01-01.
pub fn parse_chage_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let [y, m, d] = s.split('-').collect::<Vec<_>>()[..] {
        return days_from_civil(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    }
    let cleaned = s.replace(',', " ");
    let parts: Vec<&str> = cleaned.split_whitespace().collect();
    if let [mon, day, year] = parts[..] {
        let m = MONTHS.iter().position(|x| mon.len() >= 3 && mon.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(x)))? as u32 + 1;
        return days_from_civil(year.parse().ok()?, m, day.parse().ok()?);
    }
    None
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
