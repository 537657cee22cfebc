//! Build facts for the `crat` binary:
//! - `CRAT_GIT_REVISION` for `crat --version`: the variable when set (a build from a source
//!   tarball), else `git rev-parse --short=12 HEAD`, else "unknown";
//! - `CRAT_SITE_DIR`, the folder `include_dir!` embeds: `web/dist` when it holds a built site
//!   (`make web`), else an empty folder, and the binary serves the "not built" page unless
//!   `CRAT_WEB_DIR` names a site on disk.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../..");

    println!("cargo:rerun-if-env-changed=CRAT_GIT_REVISION");
    let revision = env::var("CRAT_GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| git(&root, &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CRAT_GIT_REVISION={revision}");
    // A new commit or checkout moves HEAD or its reflog: the revision is read again.
    for file in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&root, &["rev-parse", "--git-path", file]) {
            let path = root.join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }

    let web = root.join("web");
    let dist = web.join("dist");
    let site = if dist.join("index.html").is_file() {
        // Any change inside the built site (cargo scans the folder) embeds it again.
        println!("cargo:rerun-if-changed={}", dist.display());
        dist.canonicalize().expect("web/dist is readable")
    } else {
        // A missing file counts as changed, so this runs again on every build until the site
        // is built (then it embeds it), at the cost of recompiling this crate meanwhile.
        println!(
            "cargo:rerun-if-changed={}",
            dist.join("index.html").display()
        );
        let empty = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it")).join("no-site");
        std::fs::create_dir_all(&empty).expect("OUT_DIR is writable");
        empty
    };
    println!("cargo:rustc-env=CRAT_SITE_DIR={}", site.display());
}
