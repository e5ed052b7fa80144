//! `authscale users`: the synthetic directory's names and passwords.

mod support;

fn users(args: &[&str]) -> std::process::Output {
    support::run(["users"].iter().chain(args))
}

#[test]
fn prints_the_requested_users_one_line_each() {
    let output = users(&["--first", "7", "--count", "3"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let names: Vec<&str> = text
        .lines()
        .map(|line| line.split_whitespace().next().expect("a name"))
        .collect();
    assert_eq!(names, ["user7", "user8", "user9"]);
    // Each line is a name and a non-empty password, nothing else.
    assert!(text.lines().all(|l| l.split_whitespace().count() == 2));
}

#[test]
fn a_range_past_the_last_index_is_refused_not_cut_short() {
    let last = (u64::MAX - 1).to_string();
    let ok = users(&["--first", &last, "--count", "1"]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with(&format!("user{last} ")));
    for (first, count) in [(last.as_str(), "2"), ("18446744073709551615", "1")] {
        let output = users(&["--first", first, "--count", count]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{first} {count}: {stderr}");
        assert!(stderr.contains("last possible user index"), "{stderr}");
        assert!(output.stdout.is_empty(), "printed part of the range");
    }
}
