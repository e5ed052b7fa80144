use super::users::csv_fields;
use super::*;

#[test]
fn csv_fields_follow_rfc_4180_quoting() {
    assert_eq!(csv_fields("ann,pw").expect("plain"), ["ann", "pw"]);
    assert_eq!(
        csv_fields(r#""ann, jr","p""w,1""#).expect("quoted"),
        ["ann, jr", r#"p"w,1"#]
    );
    assert_eq!(csv_fields("ann,").expect("empty last"), ["ann", ""]);
    assert!(csv_fields(r#""ann,pw"#).is_err(), "unclosed");
    assert!(
        csv_fields(r#""ann"x,pw"#).is_err(),
        "text after a closing quote"
    );
    assert!(csv_fields(r#"an"n,pw"#).is_err(), "a bare quote");
}

#[test]
fn a_users_file_may_start_with_a_bom_and_quote_its_values() {
    let path = std::env::temp_dir().join(format!("authscale-users-{}.csv", std::process::id()));
    std::fs::write(
        &path,
        "\u{feff}user,password\r\nann,\"s3,cr\"\"t\"\r\n\"bob smith\",pw\r\n",
    )
    .expect("write");
    let users = read_users(path.to_str().expect("utf-8")).expect("valid file");
    assert_eq!(
        users,
        [
            ("ann".to_owned(), "s3,cr\"t".to_owned()),
            ("bob smith".to_owned(), "pw".to_owned())
        ]
    );
    std::fs::write(&path, "user,password\nann,pw,extra\n").expect("write");
    let err = read_users(path.to_str().expect("utf-8")).expect_err("three fields");
    assert!(err.contains(":2: expected two fields"), "{err}");
    let _ = std::fs::remove_file(path);
}
