//! Builds the guest components (`guest/`, a workspace of its own) for wasm32-wasip2 and hands
//! their paths to the crate as `PLUTO_GUEST_*` constants, so that `cargo build` of the host is
//! the only command and the `pluto` binary embeds its guests.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let repo = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let guest = repo.join("guest");
    // Every guest, the shared files tools and the WIT contract (the guests' target folder is
    // outside guest/, so watching the whole folder sees only sources).
    for watched in ["guest", "host/pluto-files", "wit"] {
        println!("cargo:rerun-if-changed={}", repo.join(watched).display());
    }
    // Next to the host's own target folder, shared by every profile and by clippy.
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let target_root = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is target/PROFILE/build/PKG/out")
        .to_path_buf();
    let guest_target = target_root.join("guest");

    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guest)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&guest_target);
    if std::env::var("CARGO_NET_OFFLINE").is_ok_and(|v| v == "true") {
        cmd.arg("--offline");
    }
    // What cargo sets for this build script must not leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the guests");
    assert!(
        status.success(),
        "building the guest components failed; is the wasm32-wasip2 target installed? (`rustup toolchain install` in the repository installs it)"
    );
    let wasm = guest_target.join("wasm32-wasip2/release");
    for (name, file) in [
        ("FILES", "pluto_guest_files.wasm"),
        ("PROBE", "pluto_guest_probe.wasm"),
        ("BROKEN", "pluto_guest_broken.wasm"),
        ("SPIN_MCP", "pluto_guest_spin_mcp.wasm"),
        ("SHELL", "pluto_guest_shell.wasm"),
        ("TEXT", "pluto_guest_text.wasm"),
        ("FETCH", "pluto_guest_fetch.wasm"),
        ("NOTES_MCP", "pluto_guest_notes_mcp.wasm"),
    ] {
        let path = wasm.join(file);
        assert!(
            path.exists(),
            "guest component {} was not built",
            path.display()
        );
        println!("cargo:rustc-env=PLUTO_GUEST_{name}={}", path.display());
    }
}

/// Adds the wasm32-wasip2 target when the active toolchain lacks it. `rust-toolchain.toml` lists
/// it, but rustup adds listed targets only when it installs the toolchain, so a toolchain
/// installed earlier may not have it.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if sysroot.is_some_and(|root| {
        PathBuf::from(root)
            .join("lib/rustlib/wasm32-wasip2")
            .exists()
    }) {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", "wasm32-wasip2"]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    // If this fails, the guest build below says what to do.
    let _ = rustup.status();
}
