//! Builds the in-VM runtime image (`zmmu-vm-runtime`'s binary) for
//! `x86_64-unknown-none` with a nested cargo, and hands its path to the
//! crate (`ZMMU_VM_RUNTIME_IMAGE`, embedded by `image.rs`).
//!
//! The nested cargo uses a target directory of its own next to the outer
//! one (`vm-runtime-image`): on the outer directory it would wait for the
//! lock the outer cargo holds. It builds with the release profile and
//! without debug information whatever the outer profile is, so debug,
//! release, test, clippy and doc builds share one image build. The outer
//! build's flags and wrappers (clippy's) are not passed on: the image is
//! linked by `vm-runtime/image.ld` at a fixed upper-half address, code
//! model `kernel`, static relocation.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-unknown-none";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().expect("the workspace root").to_path_buf();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for path in [
        "vm-runtime",
        "core/cpu/src",
        "core/mmu/src",
        "core/translator/src",
        "core/cpu/Cargo.toml",
        "core/mmu/Cargo.toml",
        "core/translator/Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    // OUT_DIR is <target>/[<triple>/]<profile>/build/<package>-<hash>/out.
    let target_dir = out.ancestors().nth(4).map_or_else(
        || out.join("vm-runtime-image"),
        |t| t.join("vm-runtime-image"),
    );
    let script = workspace.join("vm-runtime/image.ld");
    // The nested build's fingerprint does not cover the linker script: a
    // hash of it among the flags makes a changed script relink the image.
    let script_hash = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::fs::read(&script)
            .expect("vm-runtime/image.ld")
            .hash(&mut hasher);
        hasher.finish()
    };
    let flags = [
        "-Ccode-model=kernel".to_string(),
        "-Crelocation-model=static".to_string(),
        format!("-Clink-arg=-T{}", script.display()),
        format!("-Cmetadata=image-ld-{script_hash:016x}"),
    ]
    .join("\u{1f}");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "-p",
            "zmmu-vm-runtime",
            "--bin",
            "zmmu-vm-runtime",
        ])
        .args(["--features", "image", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    for var in [
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    command
        .env("CARGO_ENCODED_RUSTFLAGS", flags)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0");
    let status = command
        .status()
        .expect("running cargo for the in-VM runtime image");
    if !status.success() {
        panic!(
            "building the in-VM runtime image failed; it needs the {TARGET} target \
             (`rustup target add {TARGET}`)"
        );
    }
    let image = target_dir
        .join(TARGET)
        .join("release")
        .join("zmmu-vm-runtime");
    let copy = out.join("zmmu-vm-runtime.elf");
    copy_image(&image, &copy);
    println!("cargo:rustc-env=ZMMU_VM_RUNTIME_IMAGE={}", copy.display());
}

fn copy_image(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying the image {}: {e}", from.display()));
}
