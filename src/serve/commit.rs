//! Group commit: verifications that arrive while one is being committed are decided
//! together in the next write transaction, one durable commit for all of them.
//!
//! Each verification is still all-or-nothing and durable before its answer is sent; the
//! requests of one batch are decided in arrival order, so two requests racing with one
//! code get one acceptance between them. When the store fails a batch (busy, damaged),
//! every request of it gets that answer at once; any other failure tries each request
//! again alone, so one request's trouble is not another's.

use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::core::{Caller, Core, CoreError, Prepared, ServiceAnswer, ServiceRequest};
use crate::store::StoreError;

/// The most verifications decided in one transaction.
pub const MAX_BATCH: usize = 64;

struct Job {
    core: Arc<Core>,
    caller: Caller,
    request: ServiceRequest,
    prepared: Prepared,
    reply: oneshot::Sender<Result<ServiceAnswer, CoreError>>,
}

/// The one thread that writes verifications.
pub struct Committer {
    jobs: mpsc::Sender<Job>,
}

impl Committer {
    pub fn start() -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("serve-commit".into())
            .spawn(move || run(&queue))?;
        Ok(Self { jobs })
    }

    /// Decides a prepared verification with whatever else is waiting.
    pub async fn verify(
        &self,
        core: Arc<Core>,
        caller: Caller,
        request: ServiceRequest,
        prepared: Prepared,
    ) -> Result<ServiceAnswer, CoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            core,
            caller,
            request,
            prepared,
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(stopped());
        }
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> CoreError {
    CoreError::NotAllowed("the service's writer stopped; see its log".into())
}

fn run(queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        decide(batch);
    }
}

fn decide(batch: Vec<Job>) {
    let core = Arc::clone(&batch[0].core);
    let items: Vec<_> = batch
        .iter()
        .map(|j| (&j.caller, &j.request, &j.prepared))
        .collect();
    match core.service_verify_prepared(&items) {
        Ok(answers) => {
            drop(items);
            for (job, answer) in batch.into_iter().zip(answers) {
                let _ = job.reply.send(Ok(answer));
            }
        }
        Err(e) if batch.len() == 1 => {
            drop(items);
            if let Some(job) = batch.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
        // The store itself failed (busy past its deadline, damaged, refused): every
        // request would meet the same, so each gets it now instead of waiting its turn.
        Err(CoreError::Store(e)) if store_wide(&e) => {
            drop(items);
            for job in batch {
                let _ = job.reply.send(Err(same_store_error(&e)));
            }
        }
        // Something about one of the requests (a damaged record, a secret that does not
        // open): each is tried alone, so it is not another's.
        Err(_) => {
            drop(items);
            for job in batch {
                let answer = job
                    .core
                    .service_verify_prepared(&[(&job.caller, &job.request, &job.prepared)])
                    .map(|mut a| {
                        a.pop().unwrap_or(ServiceAnswer::Refused {
                            unknown_user: false,
                        })
                    });
                let _ = job.reply.send(answer);
            }
        }
    }
}

/// A failure of the database as a whole, which every request would meet alike.
fn store_wide(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Busy { .. }
            | StoreError::Damaged { .. }
            | StoreError::WritesRefused { .. }
            | StoreError::PermissionDenied { .. }
            | StoreError::ReadOnlyFileSystem { .. }
            | StoreError::Io { .. }
            | StoreError::Db { .. }
            | StoreError::Unreachable { .. }
    )
}

/// The same store failure again, for each request of a batch (told in the log).
fn same_store_error(e: &StoreError) -> CoreError {
    match e {
        StoreError::Busy {
            path,
            waited,
            holder,
        } => CoreError::Store(StoreError::Busy {
            path: path.clone(),
            waited: *waited,
            holder: holder.clone(),
        }),
        StoreError::Unreachable { host, detail } => CoreError::Store(StoreError::Unreachable {
            host: host.clone(),
            detail: detail.clone(),
        }),
        other => CoreError::Invalid(other.to_string()),
    }
}
