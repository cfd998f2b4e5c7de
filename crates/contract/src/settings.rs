//! The settings both sides of a connection name: a server's per-call profile, HTTP/2's flow
//! control windows and the largest message. `serve` takes them as flags; `compare` takes the
//! same flags for its clients and passes them to the servers it starts, so both ends read one
//! definition.

use clap::Args;

/// What each call pays for besides its protocol: see `--profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Request ids, request spans at DEBUG, and per-call metrics.
    #[default]
    Default,
    /// None of them.
    Lean,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Lean => "lean",
        }
    }
}

/// The largest valid batch (10,000 names of 256 four-byte characters, about 10 MiB in either
/// encoding, request or reply) fits in either limit.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// HTTP/2 flow control: the receive windows an end advertises, on both ports. A sender stops
/// when it has sent a window's worth that the receiver has not yet acknowledged, so at a long
/// round trip a window, not the protocol, caps how fast one large message moves (a window per
/// round trip). `serve` sets the server's; `compare` sets its clients' and its own server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct Http2Windows {
    /// Bytes a peer may send on one HTTP/2 stream before it must wait for a WINDOW_UPDATE
    /// (65,535, HTTP/2's initial value, up to 2^31 - 1).
    #[arg(
        long = "http2-stream-window",
        env = "RPC_VS_REST_HTTP2_STREAM_WINDOW",
        value_name = "BYTES",
        value_parser = clap::value_parser!(u32).range(65_535..=2_147_483_647),
        default_value_t = 1024 * 1024
    )]
    pub stream: u32,

    /// Bytes a peer may send on all of a connection's streams together before it must wait.
    #[arg(
        long = "http2-connection-window",
        env = "RPC_VS_REST_HTTP2_CONNECTION_WINDOW",
        value_name = "BYTES",
        value_parser = clap::value_parser!(u32).range(65_535..=2_147_483_647),
        default_value_t = 1024 * 1024
    )]
    pub connection: u32,

    /// Let hyper grow both windows to the bandwidth-delay product it measures with PINGs (the
    /// windows above become the starting point).
    #[arg(long = "http2-adaptive-window", env = "RPC_VS_REST_HTTP2_ADAPTIVE_WINDOW")]
    pub adaptive: bool,
}

impl std::fmt::Display for Http2Windows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let adaptive = if self.adaptive { "adaptive (BDP) on" } else { "adaptive off" };
        write!(f, "stream {} B, connection {} B, {adaptive}", self.stream, self.connection)
    }
}

impl Default for Http2Windows {
    fn default() -> Self {
        flag_defaults()
    }
}

/// The flags' own defaults as a value, as if the command line and the environment were empty:
/// so tests, benches and `compare` get exactly what `--help` promises, from the one place it is
/// written.
pub fn flag_defaults<T: Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults").no_binary_name(true))
        .mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(std::iter::empty::<&str>())
        .expect("every setting has a default");
    T::from_arg_matches(&matches).expect("the defaults are valid settings")
}
