//! The subscription list's `<filtres>`: the body read into filters and sorting, then every
//! filter run over a few subscriptions and the list sorted.
//!
//! The first byte picks what the rest is: a `<filtres>` body, or `name NUL value NUL triPar NUL
//! tri` given directly (so that the fuzzer reaches the date intervals without XML around them).
//! Properties: whether a filter is refused does not depend on the subscription it is run on;
//! whether a sort is refused does not depend on the list; a sort is a permutation, sorting
//! again changes nothing, and `DSC` is exactly the reverse of `ASC` (ties are broken by id).
#![no_main]

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use passerelle::domain::subscription_rules::{validate, Mode, SubscriptionInput};
use passerelle::domain::Subscription;
use passerelle::fuzzing::{matches, read_filters, sort, ZONE};

const DISTRIBUTOR: &str = "123456789_0000000000000000";

fn subscriptions() -> &'static [Subscription] {
    static ALL: OnceLock<Vec<Subscription>> = OnceLock::new();
    ALL.get_or_init(|| {
        let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 8, 0, 0).single().unwrap_or_default().with_timezone(&ZONE);
        let cases = [
            ("abo-1", "2026-08-15T00:00:00", None, Some("2026-2027"), "ETABL", Some("P1"), 1),
            ("abo-2", "2026-09-01", Some("2027-06-30T12:00:00+02:00"), None, "INDIV", None, 2),
            ("abo-3", "2025-09-01T00:00:00Z", Some("2026-09-01"), None, "ETABL", Some("P1"), 3),
            ("abo-4", "2026-08-15T00:00:00", None, Some("2027-2028"), "INDIV", Some("P2"), 1),
        ];
        cases
            .iter()
            .enumerate()
            .filter_map(|(i, (id, start, end, year, kind, project, school))| {
                let input = SubscriptionInput {
                    id: Some(id.to_string()),
                    distributor: Some(DISTRIBUTOR.into()),
                    resource_id: Some(format!("ark:/99999/fuzz.{i}")),
                    resource_type: Some("ark".into()),
                    resource_label: Some(format!("Ressource {i}")),
                    start: Some(start.to_string()),
                    end: end.map(str::to_string),
                    end_school_year: year.map(str::to_string),
                    uais: vec![passerelle::feed::generate::school_uai(*school).to_string()],
                    category: Some("transferable".into()),
                    assignment_type: Some(kind.to_string()),
                    global_licences: Some("ILLIMITE".into()),
                    audiences: vec!["ELEVE".into(), "ENSEIGNANT".into()],
                    project_code: project.map(str::to_string),
                    ..SubscriptionInput::default()
                };
                let now = at(2026, 8, 1 + i as u32);
                match validate(&input, id, DISTRIBUTOR, Mode::Create, None, now) {
                    Ok(s) => Some(s),
                    Err(v) => panic!("the fixed subscription {id} is refused: {v:?}"),
                }
            })
            .collect()
    })
}

fn ids(list: &[Subscription]) -> Vec<&str> {
    list.iter().map(|s| s.id.as_str()).collect()
}

fn check_filter(name: &str, value: &str) {
    let outcomes: Vec<_> = subscriptions()
        .iter()
        .map(|s| matches(s, name, value, ZONE))
        .collect();
    let refused = outcomes.iter().filter(|o| o.is_err()).count();
    assert!(
        refused == 0 || refused == outcomes.len(),
        "filter {name:?} = {value:?} refused on some subscriptions only: {outcomes:?}"
    );
}

fn check_sort(by: Option<&str>, order: Option<&str>) {
    let all = subscriptions();
    let mut list = all.to_vec();
    let outcome = sort(&mut list, by, order);
    assert_eq!(outcome.is_ok(), sort(&mut [], by, order).is_ok());
    if outcome.is_err() {
        return;
    }
    let mut sorted_ids = ids(&list);
    sorted_ids.sort_unstable();
    let mut all_ids = ids(all);
    all_ids.sort_unstable();
    assert_eq!(sorted_ids, all_ids, "not a permutation");
    let mut again = list.clone();
    assert!(sort(&mut again, by, order).is_ok());
    assert_eq!(ids(&again), ids(&list), "sorting again moved subscriptions");
    let (mut asc, mut dsc) = (all.to_vec(), all.to_vec());
    assert!(sort(&mut asc, by, Some("ASC")).is_ok());
    assert!(sort(&mut dsc, by, Some("DSC")).is_ok());
    let mut reversed = ids(&asc);
    reversed.reverse();
    assert_eq!(reversed, ids(&dsc), "DSC is not the reverse of ASC");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    assert!(!subscriptions().is_empty(), "the fixed subscriptions are refused");
    let text = String::from_utf8_lossy(rest);
    if mode & 1 == 0 {
        let Ok(request) = read_filters(&text) else {
            return;
        };
        for (name, value) in &request.filters {
            check_filter(name, value);
        }
        check_sort(request.sort_by.as_deref(), request.order.as_deref());
    } else {
        let mut parts = text.split('\0');
        let name = parts.next().unwrap_or_default();
        let value = parts.next().unwrap_or_default();
        check_filter(name, value);
        check_sort(parts.next(), parts.next());
    }
});
