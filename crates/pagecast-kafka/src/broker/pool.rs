//! The request handler pool (Kafka's KafkaRequestHandlerPool): a fixed set of threads
//! that run the synchronous handlers. A connection's task reads and decodes a request,
//! hands the handler call to the pool through a bounded queue (Kafka's
//! `queued.max.requests`) and awaits the answer without holding a runtime thread; so an
//! fsync, a file read or a decompression never runs on the runtime, and a runtime
//! thread never waits for one.
//!
//! A full queue makes the sending task wait, which stops it reading its socket: the
//! back-pressure Kafka's request channel applies. A handler that panics fails its own
//! request (the connection is closed) and leaves its thread serving.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::lock;

type Job = Box<dyn FnOnce() + Send>;

/// Handler threads and the queue in front of them.
pub(crate) struct Pool {
    /// Taken at [`Pool::stop`], which closes the queue.
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    /// Starts `threads` handler threads behind a queue of `queued` requests.
    pub(crate) fn start(threads: usize, queued: usize) -> std::io::Result<Pool> {
        let (tx, rx) = mpsc::channel::<Job>(queued.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let handle = std::thread::Builder::new()
                .name(format!("handler-{i}"))
                .spawn(move || {
                    loop {
                        // One thread waits at the queue at a time; the others wait for the
                        // lock. The lock is let go before the job runs.
                        let job = lock(&rx).blocking_recv();
                        let Some(job) = job else { return };
                        // The job's answer channel is dropped by a panic, which the
                        // waiting task sees as a failed request.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                })?;
            handles.push(handle);
        }
        Ok(Pool {
            queue: Mutex::new(Some(tx)),
            threads: Mutex::new(handles),
        })
    }

    /// Runs `work` on a handler thread and waits for its result. `None` if the pool was
    /// stopped or `work` panicked.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let queue = lock(&self.queue).clone()?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        queue.send(job).await.ok()?;
        rx.await.ok()
    }

    /// Closes the queue and waits for the threads to finish what was queued. On a
    /// handler thread (a job dropping the last hold on the broker) it waits for the
    /// others only.
    pub(crate) fn stop(&self) {
        lock(&self.queue).take();
        let me = std::thread::current().id();
        for handle in std::mem::take(&mut *lock(&self.threads)) {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for Pool {
    /// Closes the queue; the threads end once it is drained. Not joined: the last hold
    /// on the pool may be dropped on one of them.
    fn drop(&mut self) {
        lock(&self.queue).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn work_runs_off_the_runtime_and_a_panic_fails_only_its_own_request() {
        let pool = Pool::start(2, 4).unwrap();
        let runtime_thread = std::thread::current().id();
        let ran_on = pool.run(|| std::thread::current().id()).await.unwrap();
        assert_ne!(ran_on, runtime_thread);
        assert_eq!(pool.run(|| -> u8 { panic!("a handler bug") }).await, None);
        // Both threads still serve.
        let (a, b) = tokio::join!(pool.run(|| 1), pool.run(|| 2));
        assert_eq!((a, b), (Some(1), Some(2)));
        pool.stop();
        assert_eq!(pool.run(|| 3).await, None);
    }
}
