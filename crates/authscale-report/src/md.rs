//! Text from a record (run.json's names, descriptions, warnings, errors,
//! host facts; paths given on the command line) placed in Markdown: shown
//! as written, never read as Markdown or HTML. A run.json can come from
//! anywhere; what it says must not add a heading, a table, an image, a
//! link or a script to the report made from it.

/// `text` on one line, with every character Markdown or HTML would act on
/// escaped by a backslash (CommonMark escapes any ASCII punctuation this
/// way). Backticks stay: on one line an unmatched run is literal, and a
/// matched one shows its content as code, literally.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            // A list item or a thematic break where the text starts a line.
            '-' | '+' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '\\' | '<' | '>' | '[' | ']' | '!' | '*' | '_' | '|' | '&' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a Markdown table's heading row and alignment row, from the
/// headings as they read in the row: `"mode | >N | >X (req/s)"`. A heading
/// that starts with `>` (a number's column) is right-aligned.
pub fn table_head(out: &mut String, columns: &str) {
    let mut rule = String::from("|");
    for column in columns.split(" | ") {
        let (name, right) = match column.strip_prefix('>') {
            Some(name) => (name, true),
            None => (column, false),
        };
        out.push_str("| ");
        out.push_str(name);
        out.push(' ');
        rule.push_str(if right { "---:|" } else { "---|" });
    }
    out.push_str("|\n");
    out.push_str(&rule);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_text_stays_text_in_markdown_and_html() {
        let hostile = "desc\n\n```\nunclosed fence ## Verdict | a | ![i](/beacon) <script>x</script> 2*3*4 &amp; [l](javascript:x)";
        let md = format!("# t\n\n{}.\n\n## Verdict\n\n- real\n", text(hostile));
        assert_eq!(
            md.lines().filter(|l| l.starts_with("## ")).count(),
            1,
            "{md}"
        );
        let html = crate::html::page("t", &md, &Default::default());
        for forbidden in [
            "<script>x",
            "<img",
            "<pre",
            "<em>",
            "<table",
            "href=\"javascript",
        ] {
            assert!(!html.contains(forbidden), "{forbidden}: {html}");
        }
        assert!(html.contains("2*3*4 &amp;amp;"), "{html}");
        assert_eq!(
            text("plain text (1.0 core, N = 4)"),
            "plain text (1.0 core, N = 4)"
        );
        assert_eq!(text("--- x"), "\\--- x");
    }
}
