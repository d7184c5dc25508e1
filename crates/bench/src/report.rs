//! The results: a table for people, JSON for machines.

use serde_json::{Map, Value};

#[derive(Default)]
pub struct Report {
    rows: Vec<(String, String, String)>,
    json: Map<String, Value>,
}

impl Report {
    /// One table row, printed at once too (long runs show progress).
    pub fn row(&mut self, section: &str, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        eprintln!("  [{section}] {name}: {value}");
        self.rows.push((section.to_string(), name, value));
    }

    /// A JSON value under a dotted key (`latency.direct`).
    pub fn put(&mut self, key: &str, value: Value) {
        let mut parts = key.split('.').peekable();
        let mut map = &mut self.json;
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                map.insert(part.to_string(), value);
                return;
            }
            let entry = map
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            map = entry.as_object_mut().expect("object");
        }
    }

    pub fn table(&self) -> String {
        let w0 = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let w1 = self
            .rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        let mut last = "";
        for (section, name, value) in &self.rows {
            if section != last && !last.is_empty() {
                out.push('\n');
            }
            last = section;
            out.push_str(&format!("{section:<w0$}  {name:<w1$}  {value}\n"));
        }
        out
    }

    pub fn into_json(self) -> Value {
        Value::Object(self.json)
    }
}
