//! A network link that acts on IP packets, so that both ends' TCP see its delay and its
//! losses: what the byte relay (`link.rs`) cannot show, since its sockets are loopback's.
//!
//! Mahimahi's design: the clients and the servers each live in a network namespace of their
//! own, joined only by two TUN devices whose other sides are this process. Every packet one
//! namespace's kernel routes to the other comes to us as a read on its device; we decide its
//! fate and, at the time the link would deliver it, write it into the other device, where the
//! other kernel receives it. The clients reach the servers at [`PacketLink::server_address`].
//!
//! What it models, the same in each direction and each direction on its own ([`Schedule`]):
//! a line of a given rate with a drop-tail queue in front of it (in packets or bytes; one
//! bandwidth-delay product unless named), half the round trip of propagation after it, and
//! loss: none, independent, or in bursts (Gilbert–Elliott). What it does not: jitter or
//! reordering (packets come out in the order they went in), corruption, duplication, a
//! queue discipline other than drop-tail (no AQM), rates that change over time (Mahimahi's
//! traces), or links shared with traffic other than the measured one.
//!
//! What else a figure over it depends on: each namespace's TCP is the host's defaults
//! (its congestion control among them: a namespace may choose only among
//! net.ipv4.tcp_allowed_congestion_control), except that no connection inherits its
//! predecessor's window (`tcp_no_metrics_save`); and the forwarding threads' wake-ups add a
//! little to the round trip (about 0.1–0.3 ms on a 2-core VM), a share that grows as the
//! round trip shrinks. Its tests measure each condition it claims, and its own ceiling in
//! packets a second. It needs root and /dev/net/tun.

mod forwarder;
mod loss;
mod namespaces;
mod schedule;
mod spec;
#[cfg(test)]
mod tests;
mod tun_device;

use std::net::IpAddr;

use anyhow::Context as _;

pub(crate) use forwarder::CounterSnapshot;
pub(crate) use namespaces::{Namespaces, Side};
pub(crate) use spec::PacketLinkSpec;

use self::{
    forwarder::Forwarder,
    schedule::Schedule,
    tun_device::{TunReader, TunWriter},
};

/// A running packet link; dropping it stops the forwarding and removes the namespaces.
#[derive(Debug)]
pub(crate) struct PacketLink {
    #[cfg_attr(not(test), expect(dead_code, reason = "the tests check figures against it"))]
    spec: PacketLinkSpec,
    // Fields drop in this order: the forwarders let go of the devices before the namespaces
    // that hold them are removed.
    client_to_server: Forwarder,
    server_to_client: Forwarder,
    namespaces: Namespaces,
}

/// Both directions' [`CounterSnapshot`]s, read together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkCounters {
    pub(crate) client_to_server: CounterSnapshot,
    pub(crate) server_to_client: CounterSnapshot,
}

impl PacketLink {
    /// Makes the two namespaces and their devices and starts forwarding both ways.
    ///
    /// # Errors
    /// Without root, /dev/net/tun or `ip` ("the packet link needs root and /dev/net/tun: …"),
    /// or when a namespace, device or thread cannot be made; whatever was made is removed.
    pub(crate) fn start(spec: PacketLinkSpec) -> anyhow::Result<Self> {
        let namespaces = Namespaces::create()?;
        let client = namespaces.open_device(Side::Client)?;
        let server = namespaces.open_device(Side::Server)?;
        let direction = || Schedule::new(&spec, fastrand::Rng::new());
        let client_to_server = Forwarder::start(
            "c2s",
            TunReader::new(client.clone())?,
            TunWriter(server.clone()),
            direction(),
        )?;
        let server_to_client =
            Forwarder::start("s2c", TunReader::new(server)?, TunWriter(client), direction())?;
        Ok(Self { spec, client_to_server, server_to_client, namespaces })
    }

    #[cfg(test)]
    pub(crate) fn spec(&self) -> &PacketLinkSpec {
        &self.spec
    }

    /// Where the servers see the clients come from.
    #[cfg(test)]
    pub(crate) fn client_address(&self) -> IpAddr {
        Side::Client.address().into()
    }

    /// Where the clients reach the servers: the server side's address on the link.
    pub(crate) fn server_address(&self) -> IpAddr {
        Side::Server.address().into()
    }

    /// What each direction has done so far.
    pub(crate) fn counters(&self) -> LinkCounters {
        LinkCounters {
            client_to_server: self.client_to_server.counters(),
            server_to_client: self.server_to_client.counters(),
        }
    }

    /// The TCP segments each side's kernel has sent again so far (`RetransSegs` of its
    /// namespace's /proc/net/snmp): what the link's losses cost TCP.
    pub(crate) fn retransmitted_segments(&self, side: Side) -> anyhow::Result<u64> {
        // From a thread inside the namespace: /proc/self/net is the main thread's.
        let read = || std::fs::read_to_string("/proc/thread-self/net/snmp");
        let snmp = self.namespaces.run_in(side, read)??;
        let mut tcp = snmp.lines().filter_map(|line| line.strip_prefix("Tcp:"));
        let (names, values) = tcp.next().zip(tcp.next()).context("no Tcp: lines in snmp")?;
        let column = names
            .split_whitespace()
            .position(|name| name == "RetransSegs")
            .context("no RetransSegs in snmp")?;
        Ok(values.split_whitespace().nth(column).context("a short Tcp: line")?.parse()?)
    }

    /// The two namespaces: to open connections, bind listeners or start processes in them.
    pub(crate) fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }
}
