//! The download server: accepts connections under a cap, serves each on its own task,
//! backs off when the process runs out of descriptors, and shuts down gracefully.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use crate::fs::Root;
use crate::idle::Connections;
use crate::request::{Method, Request, Version};
use crate::respond::{Site, is_exhaustion};
use crate::{conn, date};

/// How `pagecast serve` runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory to serve.
    pub root: PathBuf,
    /// How bodies are sent (sendfile by default, through `Auto`).
    pub method: pagecast_io::Method,
    /// Directory listings for directories without `index.html`.
    pub listing: bool,
    /// Serve names that start with a dot.
    pub dotfiles: bool,
    pub timeouts: Timeouts,
    /// Connections served at once. At the cap, a new client takes the place of the
    /// oldest idle keep-alive connection; while every connection is busy, new clients
    /// wait.
    pub max_connections: usize,
    pub access_log: AccessLog,
    /// Descriptors of hot files kept open, each revalidated on use (0: none); see
    /// [`crate::open_cache`].
    pub open_file_cache: usize,
    /// Worker threads, each with its own event loop, sharing the listening socket (at
    /// least 1).
    pub workers: usize,
}

/// The timeouts that keep slow or absent clients from holding connections.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a whole request head, from its first byte (or from the connection's start).
    pub header: Duration,
    /// For the next request on a kept-alive connection.
    pub idle: Duration,
    /// For the client to take any bytes of a response.
    pub send: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            send: Duration::from_secs(60),
        }
    }
}

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    Stdout,
    File(PathBuf),
}

impl Config {
    /// Serves `root` with the defaults: sendfile, listings on, dotfiles hidden, 10 s
    /// header timeout, 60 s idle and send timeouts, 1024 connections, log to stdout,
    /// 1024 files in the open-file cache, one worker per CPU.
    pub fn new(root: PathBuf) -> Config {
        Config {
            root,
            method: pagecast_io::Method::Auto,
            listing: true,
            dotfiles: false,
            timeouts: Timeouts::default(),
            max_connections: 1024,
            access_log: AccessLog::Stdout,
            open_file_cache: crate::open_cache::DEFAULT_ENTRIES,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub site: Arc<Site>,
    pub timeouts: Timeouts,
    pub transfer: pagecast_io::Options,
    pub log: Log,
    pub connections: Arc<Connections>,
}

/// A bound server, ready to run.
///
/// It runs as nginx does: one worker thread per CPU (by default), each with its own
/// event loop and the connections it accepted, which never move to another thread.
/// Every worker waits on the one listening socket, and a worker accepts only while no
/// other serves fewer connections, so keep-alive connections, and the work they bring,
/// stay spread evenly (see [`Balance`]). What the workers share (the connection cap,
/// the open-file cache, the idle connections) is shared without a lock on the path of
/// a request, except the open-file cache's.
pub struct Server {
    /// The listening socket, once per worker (the same socket), not yet registered
    /// with any event loop.
    listeners: Vec<std::net::TcpListener>,
    shared: Arc<Shared>,
    max_connections: usize,
}

/// Where the server is; phases only move forward.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    Serving,
    /// Accepting no more; connections finish their responses.
    Stopping,
    /// Past the grace period: the event loops end.
    Done,
}

impl Server {
    /// Opens the directory and the access log and binds `addr`; every worker gets a
    /// descriptor of the one listening socket.
    pub fn bind(addr: SocketAddr, config: Config) -> io::Result<Server> {
        let root = Root::with_cache(&config.root, config.open_file_cache).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot serve {}: {e}", config.root.display()),
            )
        })?;
        let log = match &config.access_log {
            AccessLog::Off => Log::Off,
            AccessLog::Stdout => Log::Stdout,
            AccessLog::File(path) => Log::File(Mutex::new(
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(path)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot open access log {}: {e}", path.display()),
                        )
                    })?,
            )),
        };
        if config.max_connections == 0 || config.max_connections > Semaphore::MAX_PERMITS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the connection cap must be at least 1",
            ));
        }
        if config.workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "there must be at least 1 worker",
            ));
        }
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| io::Error::new(e.kind(), format!("listen on {addr}: {e}")))?;
        let mut listeners = Vec::with_capacity(config.workers);
        for _ in 1..config.workers {
            listeners.push(listener.try_clone()?);
        }
        listeners.push(listener);
        let shared = Shared {
            site: Arc::new(Site {
                root,
                listing: config.listing,
                dotfiles: config.dotfiles,
            }),
            timeouts: config.timeouts,
            transfer: pagecast_io::Options::method(config.method),
            log,
            connections: Arc::default(),
        };
        Ok(Server {
            listeners,
            shared: Arc::new(shared),
            max_connections: config.max_connections,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listeners[0].local_addr()
    }

    /// The served directory, resolved.
    pub fn root(&self) -> &std::path::Path {
        self.shared.site.root.path()
    }

    /// Serves until `shutdown` completes, then stops accepting, closes idle
    /// connections, and lets responses in flight finish for up to `grace`. The calling
    /// thread is the first worker: call this from a current-thread tokio runtime; the
    /// other workers get threads and runtimes of their own.
    pub async fn run(self, shutdown: impl Future<Output = ()>, grace: Duration) -> io::Result<()> {
        let Server {
            mut listeners,
            shared,
            max_connections,
        } = self;
        let slots = Arc::new(Semaphore::new(max_connections));
        let balance = Arc::new(Balance::new(listeners.len()));
        let (phase, phases) = watch::channel(Phase::Serving);
        let first = listeners.remove(0);
        let mut workers = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let me = Worker {
                index: i + 1,
                shared: Arc::clone(&shared),
                slots: Arc::clone(&slots),
                balance: Arc::clone(&balance),
            };
            let phases = phases.clone();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let worker = std::thread::Builder::new()
                .name(format!("pagecast-w{}", i + 1))
                .spawn(move || {
                    runtime.block_on(async move {
                        me.accept_loop(listener, phases.clone()).await;
                        wait_for(phases, Phase::Done).await;
                    });
                })?;
            workers.push(worker);
        }
        let stop = async {
            shutdown.await;
            let _ = phase.send(Phase::Stopping);
            shared.connections.stop();
        };
        let me = Worker {
            index: 0,
            shared: Arc::clone(&shared),
            slots: Arc::clone(&slots),
            balance,
        };
        tokio::join!(me.accept_loop(first, phases), stop);
        let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(grace, slots.acquire_many(all))
            .await
            .is_err()
        {
            let open = max_connections - slots.available_permits();
            eprintln!(
                "pagecast serve: {open} connection(s) still busy after {} s; closing them",
                grace.as_secs()
            );
        }
        let _ = phase.send(Phase::Done);
        for worker in workers {
            let _ = worker.join();
        }
        Ok(())
    }
}

/// Completes once the server has reached `phase` (or gone past it: a worker that
/// looks late may see a later phase than the one it waits for).
async fn wait_for(mut phases: watch::Receiver<Phase>, phase: Phase) {
    let _ = phases.wait_for(|p| *p >= phase).await;
}

/// How many connections each worker serves. A worker accepts only while no other
/// worker serves fewer, so a burst of new keep-alive connections (a browser, a load
/// balancer, a benchmark opening all its connections at once) is spread evenly rather
/// than by whichever thread woke first or by a hash of addresses (SO_REUSEPORT); then
/// the busiest worker is no busier than the rest, and its connections wait no longer.
/// The worker with the fewest always accepts, so a waiting client is never left to
/// the others.
struct Balance {
    load: Box<[AtomicUsize]>,
    /// Woken when any worker's count changes, for workers holding back.
    changed: Notify,
}

impl Balance {
    fn new(workers: usize) -> Balance {
        Balance {
            load: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            changed: Notify::new(),
        }
    }

    /// Whether worker `me` may accept: no other serves fewer connections.
    fn may_accept(&self, me: usize) -> bool {
        let mine = self.load[me].load(Ordering::Acquire);
        self.load.iter().all(|l| l.load(Ordering::Acquire) >= mine)
    }

    /// Completes when worker `me` may accept.
    async fn turn(&self, me: usize) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a change in between is not missed.
            changed.as_mut().enable();
            if self.may_accept(me) {
                return;
            }
            changed.await;
        }
    }

    /// Counts a connection worker `me` accepted, until the result is dropped.
    fn add(self: &Arc<Self>, me: usize) -> Counted {
        self.load[me].fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
        Counted {
            balance: Arc::clone(self),
            worker: me,
        }
    }
}

/// One connection counted for its worker until it ends.
struct Counted {
    balance: Arc<Balance>,
    worker: usize,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.balance.load[self.worker].fetch_sub(1, Ordering::AcqRel);
        self.balance.changed.notify_waiters();
    }
}

/// What one worker thread needs.
struct Worker {
    index: usize,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    balance: Arc<Balance>,
}

impl Worker {
    /// Accepts connections while it is this worker's turn, and serves each on its own
    /// task on this thread, until the server stops.
    async fn accept_loop(self, listener: std::net::TcpListener, phases: watch::Receiver<Phase>) {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("pagecast serve: a worker cannot listen: {e}");
                return;
            }
        };
        let Worker {
            index,
            shared,
            slots,
            balance,
        } = self;
        let stopping = wait_for(phases, Phase::Stopping);
        tokio::pin!(stopping);
        let mut exhausted = false;
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut stopping => break,
                () = balance.turn(index) => tokio::select! {
                    accepted = listener.accept() => accepted,
                    // The counts moved: another worker may now serve fewer. Look again.
                    () = balance.changed.notified() => continue,
                    () = &mut stopping => break,
                },
            };
            match accepted {
                Ok((stream, peer)) => {
                    exhausted = false;
                    let counted = balance.add(index);
                    let permit = match Arc::clone(&slots).try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => tokio::select! {
                            p = make_room(&slots, &shared.connections) => p,
                            () = &mut stopping => break,
                        },
                    };
                    // Responses end with a packet the client waits for; MSG_MORE and
                    // TCP_CORK still merge headers with bodies.
                    let _ = stream.set_nodelay(true);
                    let registered = shared.connections.register();
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        conn::serve(stream, peer, shared, registered, permit).await;
                        drop(counted);
                    });
                }
                Err(e) if is_exhaustion(&e) => {
                    // The connection stays in the backlog and the listener stays
                    // readable: accepting again at once would spin. Wait for
                    // descriptors to be freed.
                    if !exhausted {
                        eprintln!("pagecast serve: accept: {e}; retrying every 100 ms");
                        exhausted = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                // The peer gave up before it was accepted (ECONNABORTED) and the like.
                Err(_) => {}
            }
        }
    }
}

/// A place under the connection cap for a client just accepted while the cap is full:
/// closes the oldest idle keep-alive connection and takes its place, or waits for a
/// connection to end or to go idle. Connections in the middle of a request or a
/// response are never closed for it.
async fn make_room(slots: &Arc<Semaphore>, connections: &Connections) -> OwnedSemaphorePermit {
    loop {
        if let Ok(p) = Arc::clone(slots).try_acquire_owned() {
            return p;
        }
        if connections.close_oldest() {
            // It gives its place back as it ends, at once unless it had just received a
            // request, in which case it stays and the next idle one is asked.
            let freed =
                tokio::time::timeout(Duration::from_millis(50), Arc::clone(slots).acquire_owned());
            if let Ok(Ok(p)) = freed.await {
                return p;
            }
            continue;
        }
        tokio::select! {
            p = Arc::clone(slots).acquire_owned() => match p {
                Ok(p) => return p,
                // The semaphore is never closed.
                Err(_) => std::future::pending::<()>().await,
            },
            () = connections.went_idle() => {}
        }
    }
}

/// The access log, in the common log format.
pub(crate) enum Log {
    Off,
    Stdout,
    File(Mutex<File>),
}

impl Log {
    /// Logs one response: `host - - [date] "request line" status bytes`.
    pub fn write(&self, peer: SocketAddr, request: Option<&Request>, status: u16, bytes: u64) {
        let file = match self {
            Log::Off => return,
            Log::Stdout => None,
            Log::File(file) => Some(file),
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let line = format!(
            "{} - - [{}] \"{}\" {status} {bytes}\n",
            peer.ip(),
            date::common_log(now),
            request.map_or_else(|| "-".to_string(), request_line),
        );
        // A log that cannot be written must not take the server down with it.
        let _ = match file.map(Mutex::lock) {
            None => io::stdout().lock().write_all(line.as_bytes()),
            Some(Ok(mut f)) => f.write_all(line.as_bytes()),
            Some(Err(_)) => Ok(()),
        };
    }
}

/// The request line as logged, with `"` and `\` escaped as nginx does.
fn request_line(r: &Request) -> String {
    let method = match &r.method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Other(m) => m,
    };
    let version = match r.version {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    };
    let target = r.target.replace('\\', "\\x5C").replace('"', "\\x22");
    format!("{method} {target} {version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_a_worker_with_the_fewest_connections_accepts() {
        let balance = Arc::new(Balance::new(3));
        assert!((0..3).all(|w| balance.may_accept(w)), "all even");
        let a = balance.add(0);
        assert!(!balance.may_accept(0));
        assert!(balance.may_accept(1) && balance.may_accept(2));
        let b = balance.add(1);
        // Worker 0 waits for its turn, which comes when worker 2 catches up...
        let waiting = tokio::spawn({
            let balance = Arc::clone(&balance);
            async move { balance.turn(0).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "worker 2 serves fewer");
        let c = balance.add(2);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("even again: worker 0's turn")
            .unwrap();
        // ...or when one of its own connections ends.
        let d = balance.add(0);
        let e = balance.add(1);
        let f = balance.add(2);
        let g = balance.add(2);
        assert!(!balance.may_accept(2), "3 against 2 and 2");
        let waiting = tokio::spawn({
            let balance = Arc::clone(&balance);
            async move { balance.turn(2).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(g);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("a connection of its own ended")
            .unwrap();
        drop((a, b, c, d, e, f));
        assert!(balance.load.iter().all(|l| l.load(Ordering::Acquire) == 0));
    }

    #[test]
    fn log_lines_escape_quotes() {
        let r = Request {
            method: Method::Other("PUT".into()),
            target: "/a\"b\\c".into(),
            version: Version::Http10,
            headers: vec![],
        };
        assert_eq!(request_line(&r), "PUT /a\\x22b\\x5Cc HTTP/1.0");
    }
}
