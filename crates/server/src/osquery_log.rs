//! Where osquery's result and status logs go, as Fleet's `filesystem`
//! logger keeps them: one JSON object per line, a file per log type,
//! rotated by size (`result.log` → `result.log.1` …), or to stdout, or
//! nowhere.

use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A log file is rotated once it passes this size.
pub const ROTATE_BYTES: u64 = 100 * 1024 * 1024;
/// Rotated files kept per log type.
pub const KEEP_ROTATED: u32 = 5;

/// Which of osquery's logs an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Result,
    Status,
}

impl LogKind {
    pub fn parse(name: &str) -> Option<LogKind> {
        match name {
            "result" => Some(LogKind::Result),
            "status" => Some(LogKind::Status),
            _ => None,
        }
    }
}

/// Where logs are written, as `--osquery-log-destination` chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDestination {
    Filesystem { result: PathBuf, status: PathBuf },
    Stdout,
    Discard,
}

struct RotatingFile {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    written: u64,
}

impl RotatingFile {
    fn new(path: PathBuf) -> RotatingFile {
        RotatingFile {
            path,
            file: None,
            written: 0,
        }
    }

    fn open(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.written = file.metadata()?.len();
            self.file = Some(BufWriter::new(file));
        }
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("log file not open"))
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        for n in (1..KEEP_ROTATED).rev() {
            let from = numbered(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, numbered(&self.path, n + 1))?;
            }
        }
        if self.path.exists() {
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.written = 0;
        Ok(())
    }

    fn append(&mut self, entries: &[Value]) -> std::io::Result<()> {
        if self.written >= ROTATE_BYTES {
            self.rotate()?;
        }
        let file = self.open()?;
        let mut written = 0u64;
        for entry in entries {
            let line = serde_json::to_vec(entry)?;
            file.write_all(&line)?;
            file.write_all(b"\n")?;
            written += line.len() as u64 + 1;
        }
        file.flush()?;
        self.written += written;
        Ok(())
    }
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

enum Sink {
    Files {
        result: Mutex<RotatingFile>,
        status: Mutex<RotatingFile>,
    },
    Stdout,
    Discard,
}

/// The osquery log writer every replica thread shares.
#[derive(Clone)]
pub struct OsqueryLogs {
    sink: Arc<Sink>,
}

impl OsqueryLogs {
    pub fn new(destination: &LogDestination) -> OsqueryLogs {
        let sink = match destination {
            LogDestination::Filesystem { result, status } => Sink::Files {
                result: Mutex::new(RotatingFile::new(result.clone())),
                status: Mutex::new(RotatingFile::new(status.clone())),
            },
            LogDestination::Stdout => Sink::Stdout,
            LogDestination::Discard => Sink::Discard,
        };
        OsqueryLogs {
            sink: Arc::new(sink),
        }
    }

    /// Writes a batch off the async workers; an error means the batch was
    /// not kept (the agent is told, and sends it again).
    pub async fn write(&self, kind: LogKind, entries: Vec<Value>) -> std::io::Result<()> {
        let logs = self.clone();
        tokio::task::spawn_blocking(move || logs.write_now(kind, &entries))
            .await
            .map_err(std::io::Error::other)?
    }

    fn write_now(&self, kind: LogKind, entries: &[Value]) -> std::io::Result<()> {
        match self.sink.as_ref() {
            Sink::Files { result, status } => {
                let file = match kind {
                    LogKind::Result => result,
                    LogKind::Status => status,
                };
                file.lock()
                    .map_err(|_| std::io::Error::other("log writer poisoned"))?
                    .append(entries)
            }
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                for entry in entries {
                    serde_json::to_writer(&mut out, entry)?;
                    out.write_all(b"\n")?;
                }
                out.flush()
            }
            Sink::Discard => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_are_json_lines_and_files_rotate_by_size() {
        let dir = std::env::temp_dir().join(format!("flotilla-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut file = RotatingFile::new(dir.join("result.log"));
        file.append(&[json!({"name": "a"}), json!({"name": "b"})])
            .unwrap();
        let text = std::fs::read_to_string(dir.join("result.log")).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, [json!({"name": "a"}), json!({"name": "b"})]);
        file.written = ROTATE_BYTES;
        file.append(&[json!({"name": "c"})]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("result.log.1")).unwrap(),
            text
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("result.log")).unwrap(),
            "{\"name\":\"c\"}\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
