//! Process inspection through /proc (Linux).

use std::fs;

/// Is `pid` a live (non-zombie) process?
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => state(&stat) != Some('Z'),
        Err(_) => false,
    }
}

/// Does `/proc/pid` exist at all (zombies included)?
pub fn exists(pid: u32) -> bool {
    fs::metadata(format!("/proc/{pid}")).is_ok()
}

fn state(stat: &str) -> Option<char> {
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

fn ppid(stat: &str) -> Option<u32> {
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Pids whose parent is `parent` (zombies included).
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| ppid(&s))
                == Some(parent)
        })
        .collect()
}

/// Every descendant of `root` (children, grandchildren, ...).
pub fn descendants_of(root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for c in children_of(p) {
            out.push(c);
            frontier.push(c);
        }
    }
    out
}
