//! A packet link's ends: a TUN device, made in the network namespace of the thread that asks,
//! whose packets are read as a [`PacketSource`] and written as a [`PacketSink`]. The device
//! lives as long as one of its handles: the kernel removes a TUN device nobody holds open.
//!
//! The TUNSETIFF ioctl that makes the device is unsafe code, which this workspace forbids:
//! `tun-rs` does it.

use std::{io, sync::Arc, time::Duration};

use tun_rs::{InterruptEvent, SyncDevice};

use super::forwarder::{PacketSink, PacketSource};

/// Makes the TUN device `name` (IFF_TUN, no packet information: each read is one IP packet)
/// in the calling thread's network namespace.
///
/// # Errors
/// Without root, without /dev/net/tun, or when the namespace already has a device `name`.
pub(crate) fn create(name: &str) -> io::Result<Arc<SyncDevice>> {
    let device = tun_rs::DeviceBuilder::new().name(name).build_sync()?;
    // A read that would wait returns at once, so that the reader waits in `poll` instead,
    // where it can give up after its patience.
    device.set_nonblocking(true)?;
    Ok(Arc::new(device))
}

/// Reads the packets the namespace's kernel routes into the device.
pub(crate) struct TunReader {
    device: Arc<SyncDevice>,
    /// What `poll` waits on beside the device; never raised, since the forwarder stops its
    /// reader by its patience.
    never: InterruptEvent,
}

impl TunReader {
    pub(crate) fn new(device: Arc<SyncDevice>) -> io::Result<Self> {
        Ok(Self { device, never: InterruptEvent::new()? })
    }
}

impl PacketSource for TunReader {
    fn receive(&mut self, buffer: &mut [u8], patience: Duration) -> io::Result<Option<usize>> {
        // Under load the packet is already there: one read, no poll.
        let waited = match self.device.recv(buffer) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.device.recv_intr_timeout(buffer, &self.never, Some(patience))
            }
            read => read,
        };
        match waited {
            Ok(size) => Ok(Some(size)),
            Err(error) if error.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// Writes packets into the device, for the namespace's kernel to receive.
pub(crate) struct TunWriter(pub(crate) Arc<SyncDevice>);

impl PacketSink for TunWriter {
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.0.send(packet).map(drop)
    }
}
