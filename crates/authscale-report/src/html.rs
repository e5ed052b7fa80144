//! One self-contained HTML page from a Markdown document: `report.html`
//! beside `report.md`, and the `--html` output of `ab` and `compare`.
//!
//! The page is the Markdown rendered once more, not a second report: the
//! same text and tables, with every chart the document names drawn inline
//! (no file beside it, no network). It reads without JavaScript and prints;
//! a small inline script only repeats the value under the pointer in a line
//! under each chart (the charts' points carry it as an SVG `<title>`, which
//! a browser also shows as a tooltip).

use std::collections::BTreeMap;

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

const STYLE: &str = r#"
body { font: 15px/1.45 system-ui, sans-serif; color: #1b1b1b; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
#verdict + ul { background: #f3f7ff; border-left: 4px solid #1f77b4; padding: .6em 1em .6em 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 3px 7px; } th { background: #f4f4f4; }
td { font-variant-numeric: tabular-nums; white-space: nowrap; }
blockquote { border-left: 4px solid #d62728; margin: 1em 0; padding: .2em 1em; background: #fff5f5; }
code, pre { font-size: 13px; background: #f6f6f6; } pre { padding: .6em; overflow-x: auto; }
.chart { display: inline-block; margin: .5em 0; } .chart svg { max-width: 100%; height: auto; }
.chart svg [data-value] { cursor: crosshair; }
.readout { font-size: 13px; min-height: 1.4em; color: #333; }
@media print {
  .readout { display: none; } body { max-width: none; margin: 0; font-size: 11px; }
  .chart { break-inside: avoid; } h2, h3 { break-after: avoid; }
  table { display: table; font-size: 8.5px; } td { white-space: normal; } tr { break-inside: avoid; }
}
"#;

const SCRIPT: &str = r#"
document.querySelectorAll('.chart').forEach(function (chart) {
  var out = chart.querySelector('.readout');
  chart.addEventListener('mouseover', function (e) {
    var t = e.target.closest('[data-value]');
    if (t) { out.textContent = t.getAttribute('data-value'); }
  });
});
document.documentElement.classList.add('js');
"#;

/// `markdown` as a whole page titled `title`. An image whose file name is
/// a key of `svgs` is drawn inline in its place; any other image becomes
/// its alt text (the page fetches nothing). Every `##` heading gets an id from its text (`## Verdict` →
/// `id="verdict"`).
pub fn page(title: &str, markdown: &str, svgs: &BTreeMap<String, String>) -> String {
    let mut events: Vec<Event> = Vec::new();
    // The document quotes run.json (names, warnings, errors): raw HTML in
    // it is shown as text, a link goes nowhere but http(s) or a relative
    // path, and an image is a chart drawn inline or its alt text (below).
    let mut parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) if !safe_url(&dest_url) => Event::Start(Tag::Link {
            link_type,
            dest_url: CowStr::from("#"),
            title,
            id,
        }),
        e => e,
    });
    while let Some(event) = parser.next() {
        match event {
            Event::Start(Tag::Image { dest_url, .. }) if svgs.contains_key(dest_url.as_ref()) => {
                // The alt text, up to the image's end, becomes the caption.
                let mut alt = String::new();
                for inner in parser.by_ref() {
                    match inner {
                        Event::End(TagEnd::Image) => break,
                        Event::Text(t) | Event::Code(t) => alt.push_str(&t),
                        _ => {}
                    }
                }
                let svg = &svgs[dest_url.as_ref()];
                let stem = dest_url.trim_end_matches(".svg");
                events.push(Event::Html(CowStr::from(format!(
                    "<span class=\"chart\" id=\"chart-{}\" role=\"img\" aria-label=\"{}\">{}<span class=\"readout\"></span></span>",
                    escape(stem),
                    escape(&alt),
                    svg.trim_start_matches(|c| c != '<')
                        .trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
                        .trim()
                ))));
            }
            // Any other image would be a fetch: its alt text stands in.
            Event::Start(Tag::Image { .. }) => {
                for inner in parser.by_ref() {
                    match inner {
                        Event::End(TagEnd::Image) => break,
                        Event::Text(t) | Event::Code(t) => events.push(Event::Text(t)),
                        _ => {}
                    }
                }
            }
            Event::Start(Tag::Heading {
                level,
                id: None,
                classes,
                attrs,
            }) => {
                // The heading's id from its text, read ahead.
                let mut text = String::new();
                let mut inner = Vec::new();
                for e in parser.by_ref() {
                    let end = matches!(e, Event::End(TagEnd::Heading(_)));
                    if let Event::Text(t) | Event::Code(t) = &e {
                        text.push_str(t);
                    }
                    inner.push(e);
                    if end {
                        break;
                    }
                }
                events.push(Event::Start(Tag::Heading {
                    level,
                    id: Some(CowStr::from(slug(&text))),
                    classes,
                    attrs,
                }));
                events.extend(inner);
            }
            other => events.push(other),
        }
    }
    let mut body = String::new();
    html::push_html(&mut body, events.into_iter());
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src '{}'\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}<script>{SCRIPT}</script>\n</body>\n</html>\n",
        script_hash(),
        escape(title)
    )
}

/// The CSP source of the page's one script (`sha256-…`): no other script,
/// inline handler included, runs even if escaping ever let one through.
fn script_hash() -> String {
    use base64::Engine;
    use sha2::Digest;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(SCRIPT.as_bytes()))
    )
}

/// http(s), a fragment or a relative path: no `javascript:` or `data:`.
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.find(':') {
        None => true,
        Some(colon) => {
            lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower[..colon].contains(['/', '?', '#'])
        }
    }
}

/// A heading's text as an id: lower case, words joined by `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_lowercase());
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_drawn_inline_and_headings_get_ids() {
        let svgs = BTreeMap::from([(
            "x.svg".to_owned(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><circle data-value=\"v\"/></svg>\n".to_owned(),
        )]);
        let md = "# T\n\n## The Verdict <b>\n\n- fine\n\n![x & y](x.svg)\n\n![missing](y.svg)\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n";
        let page = page("a <title>", md, &svgs);
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("<title>a &lt;title&gt;</title>"), "{page}");
        assert!(page.contains("<h2 id=\"the-verdict-b\">"), "{page}");
        assert!(
            page.contains("id=\"chart-x\" role=\"img\" aria-label=\"x &amp; y\"><svg"),
            "{page}"
        );
        assert!(!page.contains("<?xml"), "{page}");
        // An image with no SVG given is its alt text: the page fetches nothing.
        assert!(!page.contains("<img") && page.contains("missing"), "{page}");
        assert!(
            page.contains("<table>") && page.contains("<td style=\"text-align: right\">2</td>"),
            "{page}"
        );
        // Raw HTML in the text is escaped, not passed through.
        assert!(!page.contains("<b>"), "{page}");
        let hostile = super::page(
            "t",
            "<script>alert(1)</script>\n\nsee [x](javascript:alert(1)) and [y](https://a.example/) <img src=x onerror=alert(1)>\n",
            &BTreeMap::new(),
        );
        assert!(
            !hostile.contains("<script>alert") && !hostile.contains("<img"),
            "{hostile}"
        );
        assert!(!hostile.contains("javascript:"), "{hostile}");
        assert!(hostile.contains("href=\"https://a.example/\""), "{hostile}");
    }
}
