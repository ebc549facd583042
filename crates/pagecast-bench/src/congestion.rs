//! The TCP congestion control of a benchmark's loopback connections.
//!
//! Over loopback, bbr paces every send with timers: a sendfile that moves 11 GB/s under
//! cubic moves 1.5 GB/s under bbr, and its runs spread widely. What a benchmark should
//! show is the copies, so each network benchmark runs under cubic unless told
//! otherwise. A socket option would set it only on the sockets the benchmark makes;
//! nginx's and Kafka's accepted sockets would keep the system's, and a comparison with
//! them would be unfair. So the benchmark moves itself, before it starts anything, into
//! a network namespace of its own whose loopback routes name the algorithm (what
//! `ip route ... congctl` sets, which every TCP connection over the route takes, on
//! both ends). Every process it starts inherits the namespace; the system's own
//! routes and its default are untouched. A user without the privilege to make a
//! network namespace gets one inside a user namespace of its own, with its user and
//! group ids mapped to themselves, so the files it writes are its own as before.

use std::fmt;
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;

use crate::Error;

/// The algorithm that network benchmarks use unless told otherwise.
pub const DEFAULT: &str = "cubic";

/// What was asked for: `system`, or an algorithm by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The system's default (`net.ipv4.tcp_congestion_control`), whatever it is.
    System,
    /// This algorithm, e.g. cubic, reno or bbr.
    Algorithm(String),
}

impl Default for Wanted {
    fn default() -> Wanted {
        Wanted::Algorithm(DEFAULT.to_owned())
    }
}

impl FromStr for Wanted {
    type Err = String;

    fn from_str(s: &str) -> Result<Wanted, String> {
        if s == "system" {
            return Ok(Wanted::System);
        }
        // TCP_CA_NAME_MAX is 16 bytes with the terminating zero.
        let valid = !s.is_empty()
            && s.len() < 16
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Wanted::Algorithm(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not a congestion control name: give system, or a name such as cubic, reno or bbr"
            ))
        }
    }
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wanted::System => f.write_str("system"),
            Wanted::Algorithm(name) => f.write_str(name),
        }
    }
}

/// The congestion control a benchmark's connections run under, and how it came to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InEffect {
    /// The algorithm every loopback connection of the run uses.
    pub algorithm: String,
    /// The system's default, for the header.
    pub system: String,
    /// How the algorithm was set.
    pub scope: Scope,
}

/// How the algorithm in effect was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The system's default: asked for, or already the one asked for.
    System,
    /// On the loopback routes of the benchmark's own network namespace: every
    /// connection of the run has it, those of the servers it starts too.
    Namespace,
    /// The system's default, because the one asked for could not be set for every
    /// connection of the run.
    Kept {
        /// The algorithm asked for.
        wanted: String,
        /// Why it could not be set.
        why: String,
    },
}

impl InEffect {
    /// The header line's text, after "TCP congestion control: ".
    pub fn describe(&self) -> String {
        match &self.scope {
            Scope::System => format!("{}, the system's default", self.algorithm),
            Scope::Namespace => format!(
                "{}, on the loopback routes of the benchmark's own network namespace, so every connection of the run has it, the servers' too (the system's is {}: --congestion system)",
                self.algorithm, self.system
            ),
            Scope::Kept { wanted, why } => format!(
                "{}, the system's default: {wanted} could not be set for every connection ({why})",
                self.algorithm
            ),
        }
    }

    /// The JSON form: algorithm, scope, and what was wanted and why not, if kept.
    pub fn json(&self) -> serde_json::Value {
        let (scope, wanted, why) = match &self.scope {
            Scope::System => ("system", None, None),
            Scope::Namespace => ("namespace", None, None),
            Scope::Kept { wanted, why } => ("kept", Some(wanted), Some(why)),
        };
        serde_json::json!({
            "algorithm": self.algorithm,
            "system": self.system,
            "scope": scope,
            "wanted": wanted,
            "why_not": why,
        })
    }
}

/// The system's default congestion control, `net.ipv4.tcp_congestion_control` of the
/// network namespace this process is in.
pub fn system_default() -> Result<String, Error> {
    let path = "/proc/sys/net/ipv4/tcp_congestion_control";
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| Error::Congestion(format!("read {path}: {e}")))
}

/// The system's default kept for a run that cannot have its own namespace (it talks to
/// a server outside it): `why` says so in the header when `wanted` is another one.
pub fn keep(wanted: &Wanted, why: &str) -> Result<InEffect, Error> {
    let system = system_default()?;
    let scope = match wanted {
        Wanted::Algorithm(name) if *name != system => Scope::Kept {
            wanted: name.clone(),
            why: why.to_owned(),
        },
        _ => Scope::System,
    };
    Ok(InEffect {
        algorithm: system.clone(),
        system,
        scope,
    })
}

/// Puts every loopback connection this process and its children make from now on
/// under `wanted`, in a network namespace of the process's own when that is another
/// algorithm than the system's. Call it before the process starts a thread: a
/// namespace is a thread's, and a user namespace can be made only by a process of one
/// thread. Where no namespace can be made (a container without the privilege), the
/// system's default is kept and the result says why; in a namespace, a name the kernel
/// does not know is an error, as is a namespace it cannot set up.
pub fn enter(wanted: &Wanted) -> Result<InEffect, Error> {
    let system = system_default()?;
    let name = match wanted {
        Wanted::Algorithm(name) if *name != system => name,
        _ => {
            return Ok(InEffect {
                algorithm: system.clone(),
                system,
                scope: Scope::System,
            });
        }
    };
    if threads()? != 1 {
        return Err(Error::Congestion(
            "a network namespace must be entered before the benchmark starts a thread".into(),
        ));
    }
    match own_namespace() {
        Namespace::Entered => {}
        Namespace::Refused(why) => {
            return Ok(InEffect {
                algorithm: system.clone(),
                system,
                scope: Scope::Kept {
                    wanted: name.clone(),
                    why,
                },
            });
        }
        // In a namespace that cannot be used: nothing of the run could connect.
        Namespace::Broken(why) => {
            return Err(Error::Congestion(format!(
                "{why}; --congestion system runs without a namespace"
            )));
        }
    }
    route_loopback(name)?;
    for addr in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
    ] {
        check_connection(addr, name)?;
    }
    Ok(InEffect {
        algorithm: name.clone(),
        system,
        scope: Scope::Namespace,
    })
}

/// The number of threads of this process, from /proc/self/status.
fn threads() -> Result<usize, Error> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Error::Congestion(format!("read /proc/self/status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| Error::Congestion("/proc/self/status has no Threads line".into()))
}

/// What [`own_namespace`] did.
enum Namespace {
    /// The process is in a new network namespace.
    Entered,
    /// Neither namespace could be made; the process is where it was.
    Refused(String),
    /// A user namespace was made but its ids could not be mapped: the process cannot
    /// go back, and cannot work where it is.
    Broken(String),
}

/// Moves this process into a new network namespace, inside a new user namespace if it
/// lacks the privilege for the first.
fn own_namespace() -> Namespace {
    let plain = match crate::sys::unshare_network() {
        Ok(()) => return Namespace::Entered,
        Err(e) => e,
    };
    // The ids the kernel lets an unprivileged process map are its effective ones.
    let (uid, gid) = (rustix::process::geteuid(), rustix::process::getegid());
    if let Err(e) = crate::sys::unshare_user_and_network() {
        return Namespace::Refused(format!(
            "no network namespace of its own: {plain}; nor inside a user namespace: {e}"
        ));
    }
    // The process is now in a user namespace with no ids mapped; map its own, so it and
    // its children keep their ids (setgroups must be denied before gid_map is written
    // by an unprivileged process; user_namespaces(7)).
    let write = |file: &str, text: String| {
        std::fs::write(format!("/proc/self/{file}"), text)
            .map_err(|e| format!("write /proc/self/{file} in a new user namespace: {e}"))
    };
    let mapped = write("setgroups", "deny".to_owned())
        .and_then(|()| write("uid_map", format!("{0} {0} 1\n", uid.as_raw())))
        .and_then(|()| write("gid_map", format!("{0} {0} 1\n", gid.as_raw())));
    match mapped {
        Ok(()) => Namespace::Entered,
        Err(why) => Namespace::Broken(why),
    }
}

/// Connects to a listener on `addr`'s loopback address and checks that both ends run
/// `name`. An address family the machine lacks (IPv6 turned off) is not checked.
fn check_connection(addr: SocketAddr, name: &str) -> Result<(), Error> {
    let fail = |what: &str, e: io::Error| Error::Congestion(format!("{what} on {addr}: {e}"));
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) if addr.is_ipv6() && e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
            return Ok(());
        }
        Err(e) if addr.is_ipv6() && e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
            return Ok(());
        }
        Err(e) => return Err(fail("listen", e)),
    };
    let local = listener.local_addr().map_err(|e| fail("listen", e))?;
    let mut client = TcpStream::connect(local).map_err(|e| fail("connect", e))?;
    let (mut server, _) = listener.accept().map_err(|e| fail("accept", e))?;
    // One byte each way, so the check covers a connection that has carried data.
    client.write_all(b"x").map_err(|e| fail("send", e))?;
    server
        .read_exact(&mut [0])
        .map_err(|e| fail("receive", e))?;
    for (end, sock) in [("connecting", &client), ("accepted", &server)] {
        let got = rustix::net::sockopt::tcp_congestion(sock)
            .map_err(|e| fail("read TCP_CONGESTION", e.into()))?;
        if got != name {
            return Err(Error::Congestion(format!(
                "the {end} end of a connection on {addr} runs {got}, not {name}"
            )));
        }
    }
    Ok(())
}

/// Brings loopback up and puts `algorithm` on its local routes, as
/// `ip route replace local 127.0.0.0/8 ... congctl ALGORITHM` would, for 127.0.0.0/8,
/// 127.0.0.1 and ::1.
fn route_loopback(algorithm: &str) -> Result<(), Error> {
    let fail = |what: &'static str| move |e: io::Error| Error::Congestion(format!("{what}: {e}"));
    let netlink = Netlink::open().map_err(fail("open an rtnetlink socket"))?;
    let lo = rustix::net::netdevice::name_to_index(&netlink.fd, "lo")
        .map_err(|e| fail("find the loopback interface")(e.into()))?;
    netlink.link_up(lo).map_err(fail("bring loopback up"))?;
    for (net, prefix) in [(Ipv4Addr::new(127, 0, 0, 0), 8), (Ipv4Addr::LOCALHOST, 32)] {
        netlink
            .request(
                RTM_NEWROUTE,
                NLM_F_CREATE | NLM_F_REPLACE,
                &local_route(lo, Ip::V4(net, prefix), Some(algorithm)),
            )
            .map_err(|e| refused(algorithm, e))?;
    }
    // The kernel's ::1 route has metric 0, which a request cannot name (0 means the
    // default, 1024), so it is deleted and made again rather than replaced. A machine
    // without IPv6 has no such route.
    let v6 = Ip::V6(Ipv6Addr::LOCALHOST);
    match netlink.request(RTM_DELROUTE, 0, &local_route(lo, v6, None)) {
        Ok(()) => netlink
            .request(
                RTM_NEWROUTE,
                NLM_F_CREATE | NLM_F_REPLACE,
                &local_route(lo, v6, Some(algorithm)),
            )
            .map_err(|e| refused(algorithm, e)),
        Err(e)
            if [libc::ESRCH, libc::ENOENT, libc::EAFNOSUPPORT]
                .contains(&e.raw_os_error().unwrap_or(0)) =>
        {
            Ok(())
        }
        Err(e) => Err(fail("delete the ::1 route to make it again")(e)),
    }
}

/// The kernel refused a route naming `algorithm`: most likely a name it does not know,
/// or a module it would not load from inside a user namespace.
fn refused(algorithm: &str, e: io::Error) -> Error {
    let available = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .unwrap_or_default();
    Error::Congestion(format!(
        "{algorithm:?} refused ({e}); this kernel has: {} (modprobe tcp_{algorithm} loads a module; --congestion system keeps the system's)",
        available.trim()
    ))
}

// From include/uapi/linux/netlink.h and rtnetlink.h.
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_PREFSRC: u16 = 7;
const RTA_METRICS: u16 = 8;
const RTA_TABLE: u16 = 15;
const RTAX_CC_ALGO: u16 = 16;
const RT_TABLE_LOCAL: u8 = 255;
const RTPROT_KERNEL: u8 = 2;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_HOST: u8 = 254;
const RTN_LOCAL: u8 = 2;
const IFF_UP: u32 = 0x1;
const NLMSG_HEADER: usize = 16;

/// The destination of a loopback route: an IPv4 network and its prefix length, or an
/// IPv6 address.
#[derive(Clone, Copy)]
enum Ip {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr),
}

/// The body of an RTM_NEWROUTE or RTM_DELROUTE for a local route of `ip` in the local
/// table, through interface `lo`, with the congestion control `algorithm` if given.
fn local_route(lo: u32, ip: Ip, algorithm: Option<&str>) -> Vec<u8> {
    let (family, prefix, scope) = match ip {
        Ip::V4(_, prefix) => (libc::AF_INET as u8, prefix, RT_SCOPE_HOST),
        Ip::V6(_) => (libc::AF_INET6 as u8, 128, RT_SCOPE_UNIVERSE),
    };
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    let mut body = vec![
        family,
        prefix,
        0,
        0,
        RT_TABLE_LOCAL,
        RTPROT_KERNEL,
        scope,
        RTN_LOCAL,
    ];
    body.extend_from_slice(&0u32.to_ne_bytes());
    match ip {
        Ip::V4(net, _) => {
            attribute(&mut body, RTA_DST, &net.octets());
            attribute(&mut body, RTA_PREFSRC, &Ipv4Addr::LOCALHOST.octets());
        }
        Ip::V6(addr) => attribute(&mut body, RTA_DST, &addr.octets()),
    }
    attribute(&mut body, RTA_OIF, &lo.to_ne_bytes());
    attribute(
        &mut body,
        RTA_TABLE,
        &u32::from(RT_TABLE_LOCAL).to_ne_bytes(),
    );
    if let Some(name) = algorithm {
        let mut metrics = Vec::new();
        let mut cstr = name.as_bytes().to_vec();
        cstr.push(0);
        attribute(&mut metrics, RTAX_CC_ALGO, &cstr);
        attribute(&mut body, RTA_METRICS, &metrics);
    }
    body
}

/// Appends a netlink attribute (struct rtattr: length, type, payload, padding to 4).
fn attribute(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// An rtnetlink socket that sends one request at a time and waits for its answer.
struct Netlink {
    fd: std::os::fd::OwnedFd,
    seq: std::cell::Cell<u32>,
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType};
        // No protocol is protocol 0, NETLINK_ROUTE (rustix's Protocol cannot be 0).
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )?;
        // The kernel answers at once; a request it dropped must not hang the benchmark.
        rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(std::time::Duration::from_secs(5)),
        )?;
        Ok(Netlink {
            fd,
            seq: std::cell::Cell::new(0),
        })
    }

    /// RTM_NEWLINK setting IFF_UP on interface `index`.
    fn link_up(&self, index: u32) -> io::Result<()> {
        // struct ifinfomsg: family, pad, type, index, flags, change.
        let mut body = vec![libc::AF_UNSPEC as u8, 0];
        body.extend_from_slice(&0u16.to_ne_bytes());
        body.extend_from_slice(&(index as i32).to_ne_bytes());
        body.extend_from_slice(&IFF_UP.to_ne_bytes());
        body.extend_from_slice(&IFF_UP.to_ne_bytes());
        self.request(RTM_NEWLINK, 0, &body)
    }

    /// Sends message `kind` with `flags` (NLM_F_REQUEST and NLM_F_ACK added) and
    /// `body`, and returns the kernel's answer: Ok on its acknowledgement, its errno
    /// otherwise.
    fn request(&self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        let mut msg = Vec::with_capacity(NLMSG_HEADER + body.len());
        msg.extend_from_slice(&((NLMSG_HEADER + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        rustix::net::send(&self.fd, &msg, rustix::net::SendFlags::empty())?;
        let mut buf = vec![0u8; 8192];
        loop {
            let (got, _) =
                rustix::net::recv(&self.fd, &mut buf[..], rustix::net::RecvFlags::empty())?;
            let mut rest = &buf[..got];
            while rest.len() >= NLMSG_HEADER {
                let field = |at: usize| {
                    rest.get(at..at + 4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, u32::from_ne_bytes)
                };
                let len = field(0) as usize;
                let msg_kind = u16::from_ne_bytes([rest[4], rest[5]]);
                if len < NLMSG_HEADER || len > rest.len() {
                    break;
                }
                if field(8) == seq && msg_kind == NLMSG_ERROR && len >= NLMSG_HEADER + 4 {
                    let errno = field(NLMSG_HEADER) as i32;
                    return if errno == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-errno))
                    };
                }
                rest = &rest[len.next_multiple_of(4).min(rest.len())..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_the_kernel_sees_them() {
        assert_eq!("system".parse(), Ok(Wanted::System));
        assert_eq!("cubic".parse(), Ok(Wanted::Algorithm("cubic".into())));
        assert_eq!(Wanted::default(), Wanted::Algorithm("cubic".into()));
        for bad in ["", "Cubic", "a b", "../x", "abcdefghijklmnop"] {
            assert!(bad.parse::<Wanted>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_attribute_is_padded_to_four_bytes() {
        let mut buf = Vec::new();
        attribute(&mut buf, RTAX_CC_ALGO, b"cubic\0");
        assert_eq!(buf.len(), 12);
        assert_eq!(&buf[..2], &10u16.to_ne_bytes());
        assert_eq!(&buf[2..4], &RTAX_CC_ALGO.to_ne_bytes());
        assert_eq!(&buf[4..10], b"cubic\0");
    }
}
