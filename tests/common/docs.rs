//! The project's documents: the README and docs/, as one text for the tests that run what
//! they show, and by name for the test that follows their links.

/// Each document, by its path from the repository's root.
pub const EACH: [(&str, &str); 8] = [
    ("README.md", include_str!("../../README.md")),
    ("docs/api.md", include_str!("../../docs/api.md")),
    ("docs/architecture.md", include_str!("../../docs/architecture.md")),
    ("docs/comparison.md", include_str!("../../docs/comparison.md")),
    ("docs/kubernetes.md", include_str!("../../docs/kubernetes.md")),
    ("docs/running.md", include_str!("../../docs/running.md")),
    ("docs/security.md", include_str!("../../docs/security.md")),
    ("docs/tests.md", include_str!("../../docs/tests.md")),
];

/// Every document, one after the other.
pub const ALL: &str = concat!(
    include_str!("../../README.md"),
    "\n",
    include_str!("../../docs/api.md"),
    "\n",
    include_str!("../../docs/architecture.md"),
    "\n",
    include_str!("../../docs/comparison.md"),
    "\n",
    include_str!("../../docs/kubernetes.md"),
    "\n",
    include_str!("../../docs/running.md"),
    "\n",
    include_str!("../../docs/security.md"),
    "\n",
    include_str!("../../docs/tests.md"),
);
