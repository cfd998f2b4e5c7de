//! Stamps the commit this crate is built from into `RPC_VS_REST_COMMIT`, which every report
//! of `compare` carries in its provenance.

fn main() {
    commit();
}

/// The commit the binary is built from, for `compare`'s provenance: `git rev-parse` where the
/// source is a git checkout, "unknown" elsewhere (a container build has no `.git`).
fn commit() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map(|text| text.trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RPC_VS_REST_COMMIT={commit}");
    // Rebuilt when HEAD moves: the file HEAD names (a branch) changes with every commit.
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={git_dir}/{branch}");
        }
    }
}
