//! The audit file: appends sealed lines, continues the chain of the file it finds, rotates.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::chain::{self, Head};

/// An open audit file and where its chain stands.
#[derive(Debug)]
pub(super) struct AuditFile {
    path: PathBuf,
    file: File,
    size: u64,
    head: Head,
    /// Rotate before a line would take the file past this size (0: never).
    max_bytes: u64,
}

impl AuditFile {
    /// Open `path` for appending and continue its chain. A file whose last line does not
    /// check (a write cut short by a crash, an edit) is moved aside to `<path>.damaged-<n>`
    /// and a new chain starts; the move is the first record of the new file.
    pub(super) fn open(path: &Path, max_bytes: u64) -> io::Result<Self> {
        let mut moved_aside = None;
        let head = match last_line(path)? {
            None => None,
            Some(line) => match chain::check_line(&line) {
                Ok(checked) => Some(Head {
                    seq: checked.seq + 1,
                    prev: checked.hash,
                }),
                Err(reason) => {
                    let aside = free_name(path, "damaged-");
                    std::fs::rename(path, &aside)?;
                    moved_aside = Some((aside, reason));
                    None
                }
            },
        };
        let mut this = Self::create(path, max_bytes, head.clone().unwrap_or_else(Head::genesis))?;
        match (head, moved_aside) {
            (_, Some((aside, reason))) => {
                tracing::error!(file = %path.display(), moved_to = %aside.display(), %reason, "the audit log's last line does not check: moved aside, a new chain starts");
                this.append(json!({"event": "chain_start", "damaged_file": aside.display().to_string(), "reason": reason}))?;
            }
            (None, None) => {
                this.append(json!({"event": "chain_start"}))?;
            }
            (Some(_), None) => {}
        }
        Ok(this)
    }

    fn create(path: &Path, max_bytes: u64, head: Head) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            head,
            max_bytes,
        })
    }

    /// Seal `record` (an object) as the next line and write it with one `write`.
    pub(super) fn append(&mut self, record: Value) -> io::Result<()> {
        let Value::Object(fields) = record else {
            return Err(io::Error::other("an audit record must be a JSON object"));
        };
        let (mut line, mut next) = chain::seal(fields.clone(), &self.head);
        if self.max_bytes > 0 && self.size > 0 && self.size + line.len() as u64 + 1 > self.max_bytes
        {
            // The new file's first record is the rotation; this one follows it, even if it
            // alone is larger than max_bytes.
            self.rotate()?;
            (line, next) = chain::seal(fields, &self.head);
        }
        self.write_line(&line)?;
        self.head = next;
        Ok(())
    }

    fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Move the file to `<path>.<n>` (the next free n) and go on in a new one whose first
    /// record names it and continues the chain.
    fn rotate(&mut self) -> io::Result<()> {
        let rotated = free_name(&self.path, "");
        std::fs::rename(&self.path, &rotated)?;
        let head = self.head.clone();
        *self = Self::create(&self.path, self.max_bytes, head)?;
        let (line, next) = chain::seal(
            json!({"event": "rotated", "previous_file": rotated.display().to_string()})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            &self.head,
        );
        self.write_line(&line)?;
        self.head = next;
        Ok(())
    }

    pub(super) fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// `<path>.<prefix><n>` for the smallest n ≥ 1 that names nothing.
fn free_name(path: &Path, prefix: &str) -> PathBuf {
    let mut n = 1u64;
    loop {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{prefix}{n}"));
        let candidate = PathBuf::from(name);
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// The last line of `path` (without its newline), `None` when the file is missing or empty.
/// A last line without a newline is returned as it is (it will not check).
fn last_line(path: &Path) -> io::Result<Option<String>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    // Records are small; a record of 1 MiB would need a larger window.
    let window = len.min(1 << 20);
    file.seek(SeekFrom::Start(len - window))?;
    let mut tail = Vec::with_capacity(window as usize);
    file.read_to_end(&mut tail)?;
    let text = String::from_utf8_lossy(&tail);
    let body = text.strip_suffix('\n').unwrap_or(&text);
    let body = if text.ends_with('\n') {
        body.to_string()
    } else {
        // Not newline-terminated: make sure it fails the check.
        format!("{body}\u{0}")
    };
    Ok(body.rsplit('\n').next().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify_files(paths: &[PathBuf]) -> Result<chain::Verified, chain::Break> {
        let texts: Vec<String> = paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        chain::verify(texts.iter().map(String::as_str))
    }

    #[test]
    fn a_reopened_file_continues_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut a = AuditFile::open(&path, 0).unwrap();
        a.append(json!({"event": "x", "n": 1})).unwrap();
        drop(a);
        let mut b = AuditFile::open(&path, 0).unwrap();
        b.append(json!({"event": "x", "n": 2})).unwrap();
        let v = verify_files(std::slice::from_ref(&path)).unwrap();
        assert_eq!(v.records, 3, "chain_start and two records");
        assert_eq!(v.starts_after, chain::GENESIS);
    }

    #[test]
    fn rotation_keeps_one_chain_across_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut a = AuditFile::open(&path, 600).unwrap();
        for n in 0..20 {
            a.append(json!({"event": "tool_call", "n": n})).unwrap();
        }
        let mut files: Vec<PathBuf> = (1..)
            .map(|n| dir.path().join(format!("audit.log.{n}")))
            .take_while(|p| p.exists())
            .collect();
        assert!(files.len() >= 3, "{files:?}");
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 600);
        }
        files.push(path.clone());
        let v = verify_files(&files).unwrap();
        assert_eq!(
            v.records as usize,
            1 + 20 + files.len() - 1,
            "chain_start, records, one `rotated` per new file"
        );
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(
            last.lines()
                .next()
                .unwrap()
                .contains("\"event\":\"rotated\"")
        );
    }

    #[test]
    fn a_cut_short_last_line_is_moved_aside_and_a_new_chain_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut a = AuditFile::open(&path, 0).unwrap();
        a.append(json!({"event": "x"})).unwrap();
        drop(a);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.truncate(text.len() - 5);
        std::fs::write(&path, &text).unwrap();
        let mut b = AuditFile::open(&path, 0).unwrap();
        b.append(json!({"event": "y"})).unwrap();
        let aside = dir.path().join("audit.log.damaged-1");
        assert_eq!(std::fs::read_to_string(&aside).unwrap(), text);
        let fresh = std::fs::read_to_string(&path).unwrap();
        assert!(
            fresh
                .lines()
                .next()
                .unwrap()
                .contains("audit.log.damaged-1"),
            "{fresh}"
        );
        assert_eq!(verify_files(&[path]).unwrap().records, 2);
    }
}
