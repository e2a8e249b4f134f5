//! The RTT matrix and region list: builtin data and parse errors.

use meridian_wan::{builtin_regions, parse_regions, RttMatrix, WanError};

#[test]
fn builtin_matrix_has_seven_regions_and_london_dublin() {
    let m = RttMatrix::builtin();
    let regions = m.regions();
    assert_eq!(regions.len(), 7, "{regions:?}");
    let mut sorted = regions.clone();
    sorted.sort();
    assert_eq!(regions, sorted, "regions() must be sorted");
    assert_eq!(m.rtt_ms("eu-london", "eu-west"), Some(11.3));
    assert_eq!(m.one_way_ms("eu-london", "eu-west"), Some(11.3 / 2.0));
    assert!(m.missing_pairs().is_empty(), "{:?}", m.missing_pairs());
}

#[test]
fn lookup_is_symmetric_and_zero_on_diagonal() {
    let m = RttMatrix::builtin();
    for a in m.regions() {
        assert_eq!(m.rtt_ms(&a, &a), Some(0.0));
        for b in m.regions() {
            assert_eq!(m.rtt_ms(&a, &b), m.rtt_ms(&b, &a), "{a} {b}");
            assert!(m.rtt_ms(&a, &b).is_some(), "{a} {b}");
        }
    }
    assert_eq!(m.rtt_ms("us-west", "us-east"), Some(72.1));
    assert_eq!(m.rtt_ms("eu-west", "mars"), None);
    assert_eq!(m.rtt_ms("mars", "mars"), None);
    let d = m.one_way_delay("sa-east", "ap-southeast");
    assert_eq!(d.map(|d| d.as_micros()), Some(170_450));
}

#[test]
fn builtin_regions_match_matrix() {
    let regions = builtin_regions();
    let mut names: Vec<String> = regions.iter().map(|r| r.name.clone()).collect();
    names.sort();
    assert_eq!(names, RttMatrix::builtin().regions());
    let london = regions.iter().find(|r| r.name == "eu-london");
    let london = london.map(|r| (r.city.as_str(), r.lat, r.lon));
    assert_eq!(london, Some(("London", 51.51, -0.13)));
}

fn parse_err_line(text: &str) -> (usize, String) {
    match RttMatrix::parse(text) {
        Err(e @ WanError::Parse { line, .. }) => (line, e.to_string()),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn bad_lines_are_named() {
    let h = "region_a,region_b,rtt_ms\n";
    let cases = [
        (format!("{h}a,b,1\nb,c\n"), 3, "expected 3 fields"),
        (format!("{h}a,b,1\n\nb,c,fast\n"), 4, "not a finite number"),
        (format!("{h}a,b,-4\n"), 2, "outside"),
        (format!("{h}a,b,1e9\n"), 2, "outside"),
        (format!("{h}a,a,3\n"), 2, "itself"),
        (
            format!("{h}a,b,3\nc,d,4\nb,a,3\n"),
            4,
            "already given on line 2",
        ),
        (format!("{h}a b,c,3\n"), 2, "region name"),
        (format!("{h}a,,3\n"), 2, "empty"),
        ("a,b,3\n".to_string(), 1, "expected header"),
        (String::new(), 1, "missing header"),
    ];
    for (text, line, needle) in cases {
        let (got, msg) = parse_err_line(&text);
        assert_eq!(got, line, "{text:?}: {msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
        assert!(msg.contains(needle), "{text:?}: {msg}");
    }
}

#[test]
fn partial_matrix_parses_and_reports_missing_pairs() -> Result<(), WanError> {
    let m = RttMatrix::parse("region_a,region_b,rtt_ms\n# comment\na,b,10\nb,c,20\n")?;
    assert_eq!(m.regions(), vec!["a", "b", "c"]);
    assert_eq!(m.rtt_ms("c", "b"), Some(20.0));
    assert_eq!(m.rtt_ms("a", "c"), None);
    assert_eq!(m.missing_pairs(), vec![("a".to_string(), "c".to_string())]);
    Ok(())
}

#[test]
fn bad_region_lines_are_named() {
    let h = "region,city,provider_region,lat,lon\n";
    let text = format!("{h}x,X,p,1,2\ny,Y,p,95,2\n");
    match parse_regions(&text) {
        Err(e @ WanError::Parse { line: 3, .. }) => {
            assert!(e.to_string().contains("regions.csv line 3"), "{e}")
        }
        other => panic!("expected line 3 error, got {other:?}"),
    }
    let dup = format!("{h}x,X,p,1,2\nx,X,p,1,2\n");
    assert!(matches!(
        parse_regions(&dup),
        Err(WanError::Parse { line: 3, .. })
    ));
}
