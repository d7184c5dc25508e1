//! Reading the substituted JSON tree: typed getters that record a [`Diagnostic`] and carry on
//! (with the default) instead of stopping, and objects that warn about the keys nobody read.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::Diagnostic;

/// Units of the limits the walkers check.
pub(super) const KIB: u64 = 1024;
pub(super) const MIB: u64 = 1024 * KIB;
pub(super) const GIB: u64 = 1024 * MIB;
pub(super) const MINUTE: Duration = Duration::from_secs(60);
pub(super) const HOUR: Duration = Duration::from_secs(3_600);
pub(super) const DAY: Duration = Duration::from_secs(86_400);

/// The errors and warnings of one load.
pub(super) struct Diags<'f> {
    file: &'f Path,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl<'f> Diags<'f> {
    pub(super) fn new(file: &'f Path) -> Self {
        Self {
            file,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn error(&mut self, key: &str, message: impl Into<String>) {
        let diagnostic = self.diagnostic(key, message.into());
        self.errors.push(diagnostic);
    }

    pub(super) fn warn(&mut self, key: &str, message: impl Into<String>) {
        let diagnostic = self.diagnostic(key, message.into());
        self.warnings.push(diagnostic);
    }

    /// Move everything from `other` into `self`; with `downgrade`, its errors become warnings
    /// with `note` appended (used for disabled services).
    pub(super) fn absorb(&mut self, other: Diags<'_>, downgrade: Option<&str>) {
        self.warnings.extend(other.warnings);
        match downgrade {
            None => self.errors.extend(other.errors),
            Some(note) => self.warnings.extend(other.errors.into_iter().map(|mut d| {
                d.message = format!("{} ({note})", d.message);
                d
            })),
        }
    }

    pub(super) fn file(&self) -> &'f Path {
        self.file
    }

    pub(super) fn into_parts(self) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
        (self.errors, self.warnings)
    }

    fn diagnostic(&self, key: &str, message: String) -> Diagnostic {
        Diagnostic {
            file: self.file.to_path_buf(),
            key: key.to_owned(),
            message,
        }
    }
}

/// `parent.key`, or `key` at the top level.
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Bounds of a duration given in seconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Secs {
    pub zero_ok: bool,
    pub max: Duration,
}

/// A JSON object being read: remembers which keys were asked for.
pub(super) struct Obj<'v> {
    path: String,
    map: &'v Map<String, Value>,
    known: Vec<&'static str>,
}

impl<'v> Obj<'v> {
    /// `value` as an object at `path`; records an error if it is something else.
    pub(super) fn from_map(path: String, map: &'v Map<String, Value>) -> Self {
        Self {
            path,
            map,
            known: Vec::new(),
        }
    }

    pub(super) fn new(d: &mut Diags<'_>, path: String, value: &'v Value) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self {
                path,
                map,
                known: Vec::new(),
            }),
            other => {
                d.error(&path, format!("expected an object, got {}", kind(other)));
                None
            }
        }
    }

    pub(super) fn key(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of `key`; `None` when absent or `null`.
    pub(super) fn get(&mut self, key: &'static str) -> Option<&'v Value> {
        self.known.push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether `key` is present (and not `null`), without reading it.
    pub(super) fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    /// Mark `key` as known without reading it.
    pub(super) fn ignore(&mut self, key: &'static str) {
        self.known.push(key);
    }

    /// Every entry, for objects whose keys are names (services, env).
    pub(super) fn entries(&self) -> serde_json::map::Iter<'v> {
        self.map.iter()
    }

    /// Warn about every key that was never asked for.
    pub(super) fn finish(self, d: &mut Diags<'_>) {
        for key in self.map.keys() {
            if !self.known.contains(&key.as_str()) {
                d.warn(&join(&self.path, key), "unknown key, ignored");
            }
        }
    }

    pub(super) fn object(&mut self, d: &mut Diags<'_>, key: &'static str) -> Option<Obj<'v>> {
        let value = self.get(key)?;
        Obj::new(d, self.key(key), value)
    }

    /// The object at `key`, or an empty one (all defaults) when absent or not an object.
    pub(super) fn section(
        &mut self,
        d: &mut Diags<'_>,
        key: &'static str,
        empty: &'v Map<String, Value>,
    ) -> Obj<'v> {
        self.object(d, key)
            .unwrap_or_else(|| Obj::from_map(self.key(key), empty))
    }

    pub(super) fn bool(&mut self, d: &mut Diags<'_>, key: &'static str, default: bool) -> bool {
        self.read(d, key, read_bool).unwrap_or(default)
    }

    pub(super) fn uint(
        &mut self,
        d: &mut Diags<'_>,
        key: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> u64 {
        self.read(d, key, |v| read_uint(v, &range))
            .unwrap_or(default)
    }

    /// A byte count or similar; `range` must fit in `usize`.
    pub(super) fn usize(
        &mut self,
        d: &mut Diags<'_>,
        key: &'static str,
        default: usize,
        range: RangeInclusive<u64>,
    ) -> usize {
        let range = *range.start()..=(*range.end()).min(usize::MAX as u64);
        let n = self.uint(d, key, default as u64, range);
        usize::try_from(n).unwrap_or(default)
    }

    pub(super) fn secs(
        &mut self,
        d: &mut Diags<'_>,
        key: &'static str,
        default: Duration,
        bounds: Secs,
    ) -> Duration {
        self.read(d, key, |v| read_secs(v, bounds))
            .unwrap_or(default)
    }

    pub(super) fn string(&mut self, d: &mut Diags<'_>, key: &'static str) -> Option<String> {
        self.read(d, key, |v| read_str(v).map(str::to_owned))
    }

    /// A string where `""` means absent (as upstream treats empty credentials and paths).
    pub(super) fn non_empty(&mut self, d: &mut Diags<'_>, key: &'static str) -> Option<String> {
        self.string(d, key).filter(|s| !s.is_empty())
    }

    pub(super) fn path(&mut self, d: &mut Diags<'_>, key: &'static str) -> Option<PathBuf> {
        self.non_empty(d, key).map(PathBuf::from)
    }

    /// Read `key` with `parse`; a parse error is recorded against the key.
    pub(super) fn read<T>(
        &mut self,
        d: &mut Diags<'_>,
        key: &'static str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.get(key)?;
        parse(value)
            .map_err(|message| d.error(&self.key(key), message))
            .ok()
    }
}

/// The JSON type of `v`, with an article: "a number", "an array".
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `v` for a message: scalars shown (strings quoted and shortened), containers by kind.
pub(super) fn show(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "an empty string".to_owned(),
        Value::String(s) if s.chars().count() > 60 => {
            format!("{:?}...", s.chars().take(60).collect::<String>())
        }
        Value::String(s) => format!("{s:?}"),
        Value::Bool(_) | Value::Number(_) | Value::Null => v.to_string(),
        Value::Array(_) | Value::Object(_) => kind(v).to_owned(),
    }
}

pub(super) fn read_str(v: &Value) -> Result<&str, String> {
    v.as_str()
        .ok_or_else(|| format!("expected a string, got {}", kind(v)))
}

/// `true`/`false`, or those words as a string in any case (`"${DEBUG|false}"`).
pub(super) fn read_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Ok(false),
        other => Err(format!("expected true or false, got {}", show(other))),
    }
}

enum Num {
    Int(i128),
    Float(f64),
}

/// A JSON number, or a string holding one (`"${PORT|8080}"`).
fn read_num(v: &Value) -> Option<Num> {
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Some(Num::Int(i.into())),
            (None, Some(u), _) => Some(Num::Int(u.into())),
            (None, None, f) => f.filter(|f| f.is_finite()).map(Num::Float),
        },
        Value::String(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i128>() {
                Some(Num::Int(i))
            } else {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(Num::Float)
            }
        }
        _ => None,
    }
}

pub(super) fn read_uint(v: &Value, range: &RangeInclusive<u64>) -> Result<u64, String> {
    let (lo, hi) = (*range.start(), *range.end());
    let out_of_range = |n: &dyn std::fmt::Display| {
        if hi == u64::MAX {
            format!("must be at least {lo}, got {n}")
        } else {
            format!("must be between {lo} and {hi}, got {n}")
        }
    };
    match read_num(v) {
        Some(Num::Int(i)) => u64::try_from(i)
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| out_of_range(&i)),
        Some(Num::Float(f)) if f.fract() == 0.0 => {
            if f >= lo as f64 && f <= hi as f64 {
                Ok(f as u64)
            } else {
                Err(out_of_range(&f))
            }
        }
        Some(Num::Float(f)) => Err(format!("expected a whole number, got {f}")),
        None => Err(format!("expected a whole number, got {}", show(v))),
    }
}

/// Seconds, fractions allowed.
pub(super) fn read_secs(v: &Value, bounds: Secs) -> Result<Duration, String> {
    let secs = match read_num(v) {
        Some(Num::Int(i)) => i as f64,
        Some(Num::Float(f)) => f,
        None => return Err(format!("expected a number of seconds, got {}", show(v))),
    };
    if secs < 0.0 {
        return Err(format!("must not be negative, got {secs}"));
    }
    if secs > bounds.max.as_secs_f64() {
        return Err(format!(
            "must be at most {} seconds, got {secs}",
            bounds.max.as_secs()
        ));
    }
    let duration = Duration::try_from_secs_f64(secs.abs())
        .map_err(|_| format!("expected a number of seconds, got {}", show(v)))?;
    if duration.is_zero() && !bounds.zero_ok {
        return Err(format!("must be greater than 0, got {secs}"));
    }
    Ok(duration)
}
