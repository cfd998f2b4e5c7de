//! A real browser for the tests that check what a reader of a page sees: Debian's Chromium,
//! headless, opening a file the test wrote, to read back the DOM it built or to take a picture.

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Output},
};

use super::tools;

/// Headless Chromium, as the tests run it.
pub struct Browser {
    chromium: PathBuf,
}

impl Browser {
    /// `chromium` from `.venv/bin` or `PATH`, or `None` after saying why the test is skipped
    /// (see [`tools::require`]).
    pub fn require() -> Option<Self> {
        tools::require("chromium").map(|chromium| Self { chromium })
    }

    /// The DOM of `page` once Chromium has run its scripts (`--dump-dom`), as text.
    pub fn dom(&self, page: &Path) -> String {
        String::from_utf8(self.open(page, &["--dump-dom"]).stdout).unwrap()
    }

    /// Draws `page` in a window `width,height` pixels large into the PNG `picture`; the test
    /// checks the status, and what was drawn.
    pub fn screenshot(&self, page: &Path, picture: &Path, window_size: &str) -> ExitStatus {
        let shot = format!("--screenshot={}", picture.display());
        self.open(page, &[&shot, &format!("--window-size={window_size}")]).status
    }

    /// Opens `page` with `args` and waits for Chromium to finish. No sandbox, as it runs in
    /// containers; no GPU and no scrollbars, so a picture is the same on every machine.
    fn open(&self, page: &Path, args: &[&str]) -> Output {
        Command::new(&self.chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .args(args)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("run chromium")
    }
}
