//! Atomic writes, and the temporary files that writers killed mid-save leave behind.
//!
//! A save writes `.{name}.{writer}.{random}.tmp` beside its target, where `writer` names the
//! process: a key of its host (boot and pid namespace), its pid and its start time. A later
//! save or load of the target removes such a file as soon as that process is gone (no such
//! pid, or a pid reused by a process started at another time). Where this cannot be told
//! (another host or user, no `/proc`, names of older versions), a file is removed once
//! untouched for [`STALE_AFTER`].

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use super::FileError;

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk, renames it over
/// `path` and syncs the directory: readers see the old file or the new one, never a torn
/// one. On any error (no room, no permission, `path` a directory) the error names `path`,
/// the temporary file is removed and `path` is untouched.
///
/// A new file gets the mode `open` gives (`0666` less the umask, as with `torch.save`); a
/// replaced file keeps its mode. Temporary files of earlier saves to `path` whose writer
/// has died are removed first, so crashes in a loop cannot fill the disk.
///
/// ```
/// let path = std::env::temp_dir().join("borel_doc_atomic.txt");
/// borel_autograd::io::write_atomically(&path, b"hello").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let io = |source| FileError::Io {
        path: path.into(),
        source,
    };
    let (dir, prefix) = (directory_of(path), temp_prefix(path));
    remove_orphans_in(dir, &prefix);
    let start = format!("{prefix}{}.", Writer::me().tag());
    let mut tmp = temp_builder(&start).tempfile_in(dir).map_err(io)?;
    if let Ok(old) = fs::metadata(path)
        && old.is_file()
    {
        tmp.as_file().set_permissions(old.permissions()).map_err(io)?;
    }
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    sync_dir(dir).map_err(io)
}

/// Removes the temporary files of saves to `path` whose writers have died (best effort:
/// an error here never fails the save or load that calls it).
pub(super) fn remove_orphans(path: &Path) {
    remove_orphans_in(directory_of(path), &temp_prefix(path));
}

/// The length of the random part of a temporary file's name.
const RANDOM_LEN: usize = 6;

/// How long a temporary file whose writer cannot be checked must be left untouched before it
/// is taken for an orphan. A live save writes to its file from its start and renames it
/// right after the fsync, so only a save stalled this long (suspended mid-save) could lose
/// its file, and it would then fail with an error, never corrupt the target.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `.{name}.`: what the temporary files of saves to `path` start with.
fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    format!(".{name}.")
}

/// Temporary files named `{start}{random}.tmp`, created with the mode `open` gives (`0666`
/// less the umask; the mode survives the rename).
fn temp_builder(start: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(start).rand_bytes(RANDOM_LEN).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder
}

/// Removes, in `dir`, the regular files named like temporary files of saves to the target
/// named by `prefix` whose writer is gone.
fn remove_orphans_in(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(writer) = name.to_str().and_then(|n| temp_writer(n, prefix)) else {
            continue;
        };
        // `DirEntry::metadata` does not follow symbolic links: only regular files go
        if let Ok(meta) = entry.metadata()
            && meta.is_file()
            && orphaned(writer, &meta)
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// For a temporary file of the target named by `prefix`: its writer (`None` inside when
/// the name predates writers in names); `None` for any other name.
fn temp_writer(name: &str, prefix: &str) -> Option<Option<Writer>> {
    let middle = name.strip_prefix(prefix)?.strip_suffix(".tmp")?;
    let random = |r: &str| r.len() == RANDOM_LEN && r.bytes().all(|b| b.is_ascii_alphanumeric());
    if random(middle) {
        return Some(None);
    }
    let (tag, rest) = middle.rsplit_once('.')?;
    random(rest).then(|| Writer::parse(tag)).flatten().map(Some)
}

/// Whether a temporary file belongs to no live save: its writer is known dead, or it cannot
/// be checked and the file is older than [`STALE_AFTER`].
fn orphaned(writer: Option<Writer>, meta: &fs::Metadata) -> bool {
    let alive = writer.filter(|_| owned_by_me(meta)).and_then(|w| w.alive());
    alive.map_or_else(
        || {
            let age = meta
                .modified()
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            age.is_some_and(|age| age > STALE_AFTER)
        },
        |alive| !alive,
    )
}

/// Whether this process's user owns the file (a process of another user may be hidden
/// from `/proc`, and so look dead).
fn owned_by_me(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata("/proc/self").is_ok_and(|me| me.uid() == meta.uid())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// The process that writes a temporary file: enough to tell later whether it still runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Writer {
    /// A key of the boot and the pid namespace the pid belongs to (0 where unknown).
    host: u32,
    pid: u32,
    /// When the process started, in clock ticks since boot (0 where unknown).
    start: u64,
}

impl Writer {
    /// This process (computed again after a fork, which changes the pid).
    fn me() -> Writer {
        static ME: Mutex<Option<Writer>> = Mutex::new(None);
        let pid = std::process::id();
        let mut me = ME.lock().unwrap_or_else(|e| e.into_inner());
        match *me {
            Some(w) if w.pid == pid => w,
            _ => *me.insert(Writer {
                host: host_key().unwrap_or(0),
                pid,
                start: proc_start(pid).ok().flatten().unwrap_or(0),
            }),
        }
    }

    /// `{host:08x}-{pid}-{start}`, as it appears in file names.
    fn tag(&self) -> String {
        format!("{:08x}-{}-{}", self.host, self.pid, self.start)
    }

    fn parse(tag: &str) -> Option<Writer> {
        let mut parts = tag.split('-');
        let host = parts.next().filter(|h| h.len() == 8)?;
        let writer = Writer {
            host: u32::from_str_radix(host, 16).ok()?,
            pid: parts.next()?.parse().ok()?,
            start: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(writer)
    }

    /// Whether the process still runs: `None` when this process cannot tell (another host
    /// or pid namespace, no `/proc`, or a writer that could not read its start time).
    fn alive(&self) -> Option<bool> {
        let me = Writer::me();
        if me.host == 0 || me.host != self.host || self.start == 0 {
            return None;
        }
        match proc_start(self.pid) {
            Ok(start) => Some(start == Some(self.start)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
            Err(_) => None,
        }
    }
}

/// When process `pid` started (clock ticks since boot, field 22 of `/proc/{pid}/stat`);
/// `None` inside for a zombie, which writes nothing more.
fn proc_start(pid: u32) -> std::io::Result<Option<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let malformed = || std::io::Error::other(format!("/proc/{pid}/stat: unexpected format"));
    // the command name (field 2) is in parentheses and may hold spaces and parentheses
    let after_name = &stat[stat.rfind(')').ok_or_else(malformed)? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let (state, start) = (
        fields.first().ok_or_else(malformed)?,
        fields.get(19).ok_or_else(malformed)?,
    );
    if matches!(*state, "Z" | "X" | "x") {
        return Ok(None);
    }
    start.parse().map(Some).map_err(|_| malformed())
}

/// A key of this boot and this pid namespace: pids and start times mean something only
/// within both. `None` without `/proc`.
fn host_key() -> Option<u32> {
    let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = fs::read_link("/proc/self/ns/pid").ok()?;
    // FNV-1a: stable across versions and platforms, unlike `DefaultHasher`
    let bytes = boot
        .trim()
        .bytes()
        .chain(namespace.to_string_lossy().bytes().collect::<Vec<_>>());
    let hash = bytes.fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    Some(hash.max(1))
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened as files).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
