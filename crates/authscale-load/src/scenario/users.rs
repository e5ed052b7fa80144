//! The virtual users of a scenario file: `users.csv`, one `user,password`
//! per line (RFC 4180 quoting, a BOM and a header line allowed).

/// `user,password` lines; a first line `user,password` is a header.
pub(super) fn read_users(path: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("users.csv {path}: {e}"))?;
    // A spreadsheet's export may start with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let fields = csv_fields(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        let [user, password] = fields.as_slice() else {
            return Err(format!(
                "{path}:{}: expected two fields, `user,password`, found {} in {line:?} (a comma inside a value needs the value in double quotes)",
                i + 1,
                fields.len()
            ));
        };
        if i == 0 && user.eq_ignore_ascii_case("user") && password.eq_ignore_ascii_case("password")
        {
            continue;
        }
        if [user, password]
            .iter()
            .any(|v| v.is_empty() || v.chars().any(char::is_control))
        {
            return Err(format!(
                "{path}:{}: an empty user or password, or one with a control character (a line break, a tab, NUL): it would break the requests it goes into",
                i + 1
            ));
        }
        users.push((user.clone(), password.clone()));
    }
    if users.is_empty() {
        return Err(format!("{path}: no `user,password` line"));
    }
    Ok(users)
}

/// The fields of one CSV line (RFC 4180): a field in double quotes may
/// hold commas, and `""` inside it is one quote.
pub(super) fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err(format!("a quoted field is not closed in {line:?}")),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => {
                    return Err(format!(
                        "{c:?} after a quoted field in {line:?} (a quote inside a quoted value is written \"\")"
                    ));
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => {
                        return Err(format!(
                            "a quote inside an unquoted field in {line:?} (put the value in double quotes and write the quote as \"\")"
                        ));
                    }
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}
