//! The seccomp filter of a sandboxed child: a deny-list of the kernel surface an MCP server
//! never needs (what Docker's default profile denies to a container without added
//! capabilities, adapted to a process that never administers the machine), compiled in the
//! parent with `seccompiler` into a BPF program that the child's pre-exec hook only installs
//! (`preexec`). Pure: no system call here.
//!
//! A denied call answers `EPERM`, never kills: runtimes that probe a feature (libuv's
//! `io_uring`, glibc's `clone3`) fall back to another way. The program, in order:
//! 1. a system call of another ABI (i386 `int 0x80`, arm32 compat) answers `EPERM`;
//! 2. an x32 system call (`__X32_SYSCALL_BIT` on x86_64) answers `EPERM` (else `bpf | x32`
//!    would slip past a list of native numbers);
//! 3. `clone3` answers `ENOSYS`: its flags sit behind a pointer a filter cannot read, and glibc
//!    then falls back to `clone`, whose flags it can;
//! 4. then `seccompiler`'s program: each call of [`DENIED`] answers `EPERM` (`clone` only with
//!    a namespace flag, `personality` only with a value other than the harmless ones);
//!    everything else is allowed.

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

/// A compiled filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER)`.
pub(crate) type Program = Vec<libc::sock_filter>;

/// One denied system call.
#[derive(Debug)]
pub(crate) struct Denied {
    pub name: &'static str,
    nr: i64,
}

const fn d(name: &'static str, nr: i64) -> Denied {
    Denied { name, nr }
}

/// The deny-list (`clone3` is refused apart, with `ENOSYS`: see the module documentation).
pub(crate) const DENIED: &[Denied] = &[
    // kernel code, reboot, swap, accounting, port I/O
    d("kexec_load", libc::SYS_kexec_load),
    d("kexec_file_load", libc::SYS_kexec_file_load),
    d("init_module", libc::SYS_init_module),
    d("finit_module", libc::SYS_finit_module),
    d("delete_module", libc::SYS_delete_module),
    d("reboot", libc::SYS_reboot),
    d("swapon", libc::SYS_swapon),
    d("swapoff", libc::SYS_swapoff),
    d("acct", libc::SYS_acct),
    #[cfg(target_arch = "x86_64")]
    d("uselib", libc::SYS_uselib),
    #[cfg(target_arch = "x86_64")]
    d("ioperm", libc::SYS_ioperm),
    #[cfg(target_arch = "x86_64")]
    d("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    d("modify_ldt", libc::SYS_modify_ldt),
    #[cfg(target_arch = "x86_64")]
    d("_sysctl", libc::SYS__sysctl),
    #[cfg(target_arch = "x86_64")]
    d("sysfs", libc::SYS_sysfs),
    #[cfg(target_arch = "x86_64")]
    d("ustat", libc::SYS_ustat),
    #[cfg(target_arch = "x86_64")]
    d("nfsservctl", libc::SYS_nfsservctl),
    // BPF, perf events, io_uring, fanotify: large kernel surfaces
    d("bpf", libc::SYS_bpf),
    d("perf_event_open", libc::SYS_perf_event_open),
    d("io_uring_setup", libc::SYS_io_uring_setup),
    d("io_uring_enter", libc::SYS_io_uring_enter),
    d("io_uring_register", libc::SYS_io_uring_register),
    d("fanotify_init", libc::SYS_fanotify_init),
    #[cfg(target_arch = "x86_64")]
    d("lookup_dcookie", libc::SYS_lookup_dcookie),
    // the kernel keyrings
    d("add_key", libc::SYS_add_key),
    d("keyctl", libc::SYS_keyctl),
    d("request_key", libc::SYS_request_key),
    // other processes' memory, NUMA placement, userfaultfd (widens kernel races)
    d("ptrace", libc::SYS_ptrace),
    d("process_vm_readv", libc::SYS_process_vm_readv),
    d("process_vm_writev", libc::SYS_process_vm_writev),
    d("process_madvise", libc::SYS_process_madvise),
    d("pidfd_getfd", libc::SYS_pidfd_getfd),
    d("kcmp", libc::SYS_kcmp),
    d("userfaultfd", libc::SYS_userfaultfd),
    d("mbind", libc::SYS_mbind),
    d("set_mempolicy", libc::SYS_set_mempolicy),
    d("migrate_pages", libc::SYS_migrate_pages),
    d("move_pages", libc::SYS_move_pages),
    // namespaces and mounts
    d("unshare", libc::SYS_unshare),
    d("setns", libc::SYS_setns),
    d("clone", libc::SYS_clone),
    d("mount", libc::SYS_mount),
    d("umount2", libc::SYS_umount2),
    d("pivot_root", libc::SYS_pivot_root),
    d("chroot", libc::SYS_chroot),
    d("fsopen", libc::SYS_fsopen),
    d("fsconfig", libc::SYS_fsconfig),
    d("fsmount", libc::SYS_fsmount),
    d("fspick", libc::SYS_fspick),
    d("move_mount", libc::SYS_move_mount),
    d("open_tree", libc::SYS_open_tree),
    d("mount_setattr", libc::SYS_mount_setattr),
    // files by handle (the "shocker" escape)
    d("open_by_handle_at", libc::SYS_open_by_handle_at),
    d("name_to_handle_at", libc::SYS_name_to_handle_at),
    // the system clock
    d("settimeofday", libc::SYS_settimeofday),
    d("clock_settime", libc::SYS_clock_settime),
    d("clock_adjtime", libc::SYS_clock_adjtime),
    d("adjtimex", libc::SYS_adjtimex),
    // host name, kernel log, quotas, terminal hangup, execution domain
    d("sethostname", libc::SYS_sethostname),
    d("setdomainname", libc::SYS_setdomainname),
    d("syslog", libc::SYS_syslog),
    d("quotactl", libc::SYS_quotactl),
    d("quotactl_fd", libc::SYS_quotactl_fd),
    d("vhangup", libc::SYS_vhangup),
    d("personality", libc::SYS_personality),
];

/// The one call outside [`DENIED`] that `sandbox.seccomp_allow` may name.
pub(crate) const CLONE3: &str = "clone3";

/// Whether `sandbox.seccomp_allow` may name `name` (a call the filter refuses).
pub(crate) fn is_refused(name: &str) -> bool {
    name == CLONE3 || DENIED.iter().any(|d| d.name == name)
}

/// The namespace flags `clone` may not carry (`CLONE_NEWTIME` shares its bit with the exit
/// signal in `clone`, and `unshare` is denied anyway).
const NAMESPACE_FLAGS: [i32; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
];

/// The `personality` values that change nothing that matters (Docker's list): Linux,
/// `UNAME26`, their 32-bit-address variants, and the query.
const HARMLESS_PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

const EPERM: u32 = libc::EPERM as u32;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The filter for a child, with the calls named in `allow` (from [`is_refused`]) let through.
pub(crate) fn program(allow: &[String]) -> Result<Program, String> {
    let allowed = |name: &str| allow.iter().any(|a| a == name);
    let mut rules = std::collections::BTreeMap::new();
    for call in DENIED.iter().filter(|d| !allowed(d.name)) {
        let conditions = match call.name {
            "clone" => NAMESPACE_FLAGS
                .iter()
                .map(|&flag| {
                    let flag = flag as u64;
                    rule(vec![condition(
                        SeccompCmpArgLen::Qword,
                        SeccompCmpOp::MaskedEq(flag),
                        flag,
                    )?])
                })
                .collect::<Result<_, _>>()?,
            "personality" => vec![rule(
                HARMLESS_PERSONALITIES
                    .iter()
                    .map(|&v| condition(SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, v))
                    .collect::<Result<_, _>>()?,
            )?],
            // No condition: always.
            _ => Vec::new(),
        };
        rules.insert(call.nr, conditions);
    }
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("seccomp: {e}"))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(EPERM),
        arch,
    )
    .map_err(|e| format!("seccomp: {e}"))?;
    let compiled: seccompiler::BpfProgram =
        filter.try_into().map_err(|e| format!("seccomp: {e}"))?;

    let mut program = prologue(!allowed(CLONE3));
    program.extend(compiled.iter().map(|i| libc::sock_filter {
        code: i.code,
        jt: i.jt,
        jf: i.jf,
        k: i.k,
    }));
    if program.len() > usize::from(u16::MAX) {
        return Err(format!(
            "seccomp: a filter of {} instructions",
            program.len()
        ));
    }
    Ok(program)
}

fn condition(
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, String> {
    SeccompCondition::new(0, len, op, value).map_err(|e| format!("seccomp: {e}"))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|e| format!("seccomp: {e}"))
}

// BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h).
/// `BPF_LD | BPF_W | BPF_ABS` (the first two are 0).
const LD_W_ABS: u16 = 0x20;
const JMP_JEQ_K: u16 = 0x05 | 0x10;
#[cfg(target_arch = "x86_64")]
const JMP_JGE_K: u16 = 0x05 | 0x30;
const RET_K: u16 = 0x06;
const RET_ERRNO: u32 = 0x0005_0000;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

const fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Steps 1 to 3 of the module documentation; the accumulator is left holding the call number,
/// which `seccompiler`'s program reloads anyway.
fn prologue(refuse_clone3: bool) -> Program {
    let mut p = vec![
        op(LD_W_ABS, 0, 0, ARCH_OFFSET),
        op(JMP_JEQ_K, 1, 0, AUDIT_ARCH),
        op(RET_K, 0, 0, RET_ERRNO | EPERM),
        op(LD_W_ABS, 0, 0, NR_OFFSET),
    ];
    #[cfg(target_arch = "x86_64")]
    p.extend([
        op(JMP_JGE_K, 0, 1, X32_SYSCALL_BIT),
        op(RET_K, 0, 0, RET_ERRNO | EPERM),
    ]);
    if refuse_clone3 {
        p.extend([
            op(JMP_JEQ_K, 0, 1, libc::SYS_clone3 as u32),
            op(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
        ]);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_compiles_and_every_name_is_refusable() {
        let full = program(&[]).unwrap();
        assert!(full.len() > DENIED.len(), "{} instructions", full.len());
        for d in DENIED {
            assert!(is_refused(d.name), "{}", d.name);
        }
        assert!(is_refused("clone3"));
        assert!(!is_refused("read") && !is_refused("execve"));
        let names: std::collections::BTreeSet<_> = DENIED.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), DENIED.len(), "no name twice");
    }

    #[test]
    fn allowing_calls_removes_their_rules() {
        let full = program(&[]).unwrap();
        let fewer = program(&["ptrace".into(), "clone".into(), "clone3".into()]).unwrap();
        assert!(fewer.len() < full.len());
        let clone3 = |p: &Program| p.iter().any(|i| i.k == libc::SYS_clone3 as u32);
        assert!(clone3(&full) && !clone3(&fewer));
    }

    #[test]
    fn the_prologue_refuses_other_abis_then_x32_then_clone3() {
        let p = prologue(true);
        assert_eq!((p[1].code, p[1].k), (JMP_JEQ_K, AUDIT_ARCH));
        assert_eq!(p[2].k, RET_ERRNO | EPERM);
        #[cfg(target_arch = "x86_64")]
        assert_eq!((p[4].code, p[4].k), (JMP_JGE_K, X32_SYSCALL_BIT));
        assert_eq!(p.last().unwrap().k, RET_ERRNO | libc::ENOSYS as u32);
    }
}
