//! A result every command can print or write in each format from the same
//! rows: text for a terminal, Markdown for a CI summary or a pull request,
//! JSON for a program (its format named in a `schema` field, as run.json
//! carries `authscale-run/1`), and HTML (the Markdown as one
//! self-contained page).

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// One command's result, in every format.
pub trait Document: Serialize + DeserializeOwned {
    /// The name and version of its JSON format, e.g. `authscale-compare/1`.
    const SCHEMA: &'static str;

    /// The page's title.
    fn title(&self) -> String;

    /// The result as Markdown.
    fn markdown(&self) -> String;

    /// The result for a terminal; by default the Markdown, whose tables read
    /// as text.
    fn text(&self) -> String {
        self.markdown()
    }

    /// Charts the Markdown names as images, by file name, drawn inline in
    /// the HTML.
    fn svgs(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// The JSON: `schema` first, then the fields.
    fn json(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Versioned<'a, T: Serialize> {
            schema: &'static str,
            #[serde(flatten)]
            record: &'a T,
        }
        serde_json::to_string_pretty(&Versioned {
            schema: Self::SCHEMA,
            record: self,
        })
    }

    /// The Markdown as one self-contained HTML page.
    fn html(&self) -> String {
        crate::html::page(&self.title(), &self.markdown(), &self.svgs())
    }
}

/// Reads a document's JSON back, refusing another format or version.
pub fn from_json<D: Document>(text: &str) -> anyhow::Result<D> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let schema = value.get("schema").and_then(serde_json::Value::as_str);
    anyhow::ensure!(
        schema == Some(D::SCHEMA),
        "the JSON has schema {schema:?}; expected {:?}",
        D::SCHEMA
    );
    Ok(serde_json::from_value(value)?)
}
