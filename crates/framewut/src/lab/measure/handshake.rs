//! The handshake probe: what one TLS handshake costs each side, measured on
//! the server's CPUs before a cell that speaks TLS, so that the model can
//! predict what a new connection costs instead of reading it off the trial.
//!
//! Client and server run in one thread pinned to the server's CPUs and hand
//! each other their flights through memory, so nothing but the handshake's
//! own work is timed: each side's calls are measured with the thread's CPU
//! clock, and the server's flights the client waits for count the round
//! trips.
//! Every handshake is a full one (the client keeps no session to resume),
//! as a client that opens a new connection with a new TLS context per call
//! makes (`requests.get`). A TCP connect on loopback times one round trip.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use framewut_stacks::tls::{TestCa, TlsError};
use framewut_sys::thread_cpu_clock;
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use super::cpus::CpuSet;
use crate::model::Handshake;

/// Handshakes timed per probe: each costs a few hundred microseconds of
/// CPU, so the probe takes tens of milliseconds and the sum of many clock
/// readings stays well above the clock's resolution.
pub const HANDSHAKES: u32 = 100;

/// Handshakes run first and not timed: the first pays for lazy set-up.
const WARMUP: u32 = 5;

/// TCP connects timed for the round trip; the median is kept.
const CONNECTS: usize = 21;

/// Why the probe measured nothing.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The test CA's files do not make a configuration.
    #[error(transparent)]
    Config(#[from] TlsError),
    /// rustls refused a step of the handshake.
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    /// A side's flight could not be carried through memory.
    #[error("moving a TLS flight: {0}")]
    Flight(#[source] std::io::Error),
    #[error("the TLS handshake stopped with neither side having anything to send")]
    Stalled,
    #[error("cannot time a loopback connect: {0}")]
    LoopbackConnect(#[source] std::io::Error),
}

/// Measures `count` full handshakes with the test CA's certificate, pinned
/// to `cpus`, and a loopback round trip.
pub fn probe(ca: &TestCa, cpus: &CpuSet, count: u32) -> Result<Handshake, HandshakeError> {
    let server = ca.server_config()?;
    let mut client = (*ca.client_config()?).clone();
    client.resumption = Resumption::disabled();
    let client = Arc::new(client);
    let cpus = cpus.clone();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                cpus.pin_this_thread();
                for _ in 0..WARMUP {
                    handshake(&client, &server)?;
                }
                let mut total = Timed::default();
                for _ in 0..count {
                    let one = handshake(&client, &server)?;
                    total.client += one.client;
                    total.server += one.server;
                    total.round_trips = one.round_trips;
                }
                let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(count.max(1));
                Ok(Handshake {
                    handshakes: count,
                    client_us: per(total.client),
                    server_us: per(total.server),
                    round_trips: total.round_trips,
                    rtt_us: loopback_rtt_us().map_err(HandshakeError::LoopbackConnect)?,
                })
            })
            .join()
            .expect("the probe thread does not panic")
    })
}

/// One handshake's CPU on each side and its round trips: the server's
/// flights the client waited for before it could send its request.
#[derive(Debug, Default)]
struct Timed {
    client: Duration,
    server: Duration,
    round_trips: u32,
}

/// Runs `f`, adding the thread's CPU time it took to `spent`, by the
/// thread's exact clock: one side's step of a handshake takes tens of
/// microseconds, far under the tick `getrusage` counts in.
fn timed<T>(spent: &mut Duration, f: impl FnOnce() -> T) -> T {
    let before = thread_cpu_clock();
    let out = f();
    *spent += thread_cpu_clock().saturating_sub(before);
    out
}

/// One full handshake between a new client and server connection, their
/// bytes carried through memory until neither has more to say.
fn handshake(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
) -> Result<Timed, HandshakeError> {
    let mut t = Timed::default();
    let name = ServerName::try_from("localhost").expect("a valid DNS name");
    let mut c = timed(&mut t.client, || {
        ClientConnection::new(client.clone(), name)
    })?;
    let mut s = timed(&mut t.server, || ServerConnection::new(server.clone()))?;
    let mut wire = Vec::new();
    while c.is_handshaking() || s.is_handshaking() {
        let mut moved = false;
        wire.clear();
        timed(&mut t.client, || c.write_tls(&mut wire)).map_err(HandshakeError::Flight)?;
        if !wire.is_empty() {
            moved = true;
            timed(&mut t.server, || -> Result<(), HandshakeError> {
                s.read_tls(&mut wire.as_slice())
                    .map_err(HandshakeError::Flight)?;
                s.process_new_packets()?;
                Ok(())
            })?;
        }
        wire.clear();
        timed(&mut t.server, || s.write_tls(&mut wire)).map_err(HandshakeError::Flight)?;
        if !wire.is_empty() {
            moved = true;
            if c.is_handshaking() {
                t.round_trips += 1;
            }
            timed(&mut t.client, || -> Result<(), HandshakeError> {
                c.read_tls(&mut wire.as_slice())
                    .map_err(HandshakeError::Flight)?;
                c.process_new_packets()?;
                Ok(())
            })?;
        }
        if !moved {
            return Err(HandshakeError::Stalled);
        }
    }
    Ok(t)
}

/// The median time of a TCP connect to a listener on loopback, in
/// microseconds: one round trip of SYN and SYN-ACK.
fn loopback_rtt_us() -> std::io::Result<f64> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let mut times = Vec::with_capacity(CONNECTS);
    for _ in 0..CONNECTS {
        let start = Instant::now();
        let stream = TcpStream::connect(addr)?;
        times.push(start.elapsed().as_secs_f64() * 1e6);
        drop(stream);
        drop(listener.accept()?);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[CONNECTS / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_times_full_tls13_handshakes_on_both_sides() {
        let dir = std::env::temp_dir().join(format!("framewut-probe-{}", std::process::id()));
        let ca = TestCa::ensure(&dir).unwrap();
        let h = probe(&ca, &CpuSet::allowed(), 10).unwrap();
        assert_eq!(h.handshakes, 10);
        // TLS 1.3: the client's hello, the server's flight, the client's
        // finished: the request waits one round trip.
        assert_eq!(h.round_trips, 1, "{h:?}");
        // Signing with the server's key and verifying its chain is work on
        // each side; a handshake costs no less than a microsecond anywhere.
        assert!(h.client_us > 1.0 && h.server_us > 1.0, "{h:?}");
        assert!(h.rtt_us > 0.0, "{h:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
