//! Started without a graphical session (an SSH shell, a CI box), the app says so in a sentence
//! and exits non-zero instead of letting GTK abort. Also makes `cargo test` build the binary the
//! end-to-end test drives.

use std::process::Command;

#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn without_a_display_the_app_says_it_needs_one() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_onevision-desk"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("ONEVISION_DESK_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs a graphical session"),
        "unexpected stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Nothing was created: the history is opened only once a window can exist.
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
}
