//! The process group: MPI's world communicator, this process's rank, and a job that ends
//! whole when one rank fails.

use std::cell::RefCell;
use std::fmt::Display;
use std::rc::Rc;
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use crate::average::Layout;

/// [`World::init`] could not start MPI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// MPI was started before in this process (by another `World` or another library); MPI
    /// starts once per process.
    #[error("MPI is already initialized in this process: make one World and pass it around")]
    AlreadyInitialized,
}

/// This process's place among the processes of an MPI job, and the collectives that keep
/// their models identical.
///
/// Cloning is cheap (a shared handle); MPI is finalized when the last clone is dropped.
///
/// ```no_run
/// use borel_distributed::World;
/// let world = World::init().unwrap();
/// println!("rank {} of {}", world.rank(), world.size());
/// if world.is_root() {
///     println!("only rank 0 prints this");
/// }
/// ```
#[derive(Clone)]
pub struct World {
    inner: Rc<Inner>,
}

struct Inner {
    comm: SimpleCommunicator,
    rank: usize,
    size: usize,
    /// The parameters of the store last given to [`World::sync`]: what `average` needs for a
    /// parameter one rank reached and another did not.
    pub(crate) layout: RefCell<Option<Layout>>,
    /// Dropped last: finalizes MPI.
    _universe: Universe,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "World {{ rank: {}, size: {} }}", self.rank(), self.size())
    }
}

/// This process's rank, for the panic hook's message.
static RANK: AtomicUsize = AtomicUsize::new(0);
static HOOK: Once = Once::new();

/// After the usual panic message: end every rank of the job (while MPI runs), so the others
/// never wait forever in a collective this rank will not join.
fn install_abort_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            if mpi::is_initialized() && !mpi::is_finalized() {
                let rank = RANK.load(Ordering::Relaxed);
                eprintln!("borel-distributed: rank {rank} panicked; aborting every rank of the job");
                SimpleCommunicator::world().abort(101);
            }
        }));
    });
}

impl World {
    /// Starts MPI in this process (`MPI_Init`) and returns its world. Run under `mpirun -np N`
    /// to get N ranks; started alone, the process is a world of one.
    ///
    /// From here until the `World` is dropped, a panic anywhere in the process prints its
    /// message, then ends the whole job with `MPI_Abort` (as Horovod does): the other ranks
    /// would otherwise wait forever for this one. For an error that is not a panic, call
    /// [`World::abort`].
    pub fn init() -> Result<World, InitError> {
        let universe = mpi::initialize().ok_or(InitError::AlreadyInitialized)?;
        let comm = universe.world();
        let (rank, size) = (comm.rank() as usize, comm.size() as usize);
        RANK.store(rank, Ordering::Relaxed);
        install_abort_hook();
        Ok(World {
            inner: Rc::new(Inner {
                comm,
                rank,
                size,
                layout: RefCell::new(None),
                _universe: universe,
            }),
        })
    }

    /// This process's rank: 0 to `size() - 1`.
    pub fn rank(&self) -> usize {
        self.inner.rank
    }

    /// The number of ranks in the job.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Whether this is rank 0, the one that prints, writes checkpoints and whose parameters
    /// [`World::sync`] gives to the others.
    pub fn is_root(&self) -> bool {
        self.inner.rank == 0
    }

    /// Prints `message` to stderr naming this rank and ends every rank of the job
    /// (`MPI_Abort`, exit status 1): what to do with an error on one rank, which the others,
    /// waiting in a collective, would never learn of.
    ///
    /// ```no_run
    /// # fn train(_: &borel_distributed::World) -> Result<(), String> { Ok(()) }
    /// let world = borel_distributed::World::init().unwrap();
    /// if let Err(e) = train(&world) {
    ///     world.abort(e);
    /// }
    /// ```
    pub fn abort(&self, message: impl Display) -> ! {
        eprintln!(
            "borel-distributed: rank {}: {message}; aborting every rank of the job",
            self.rank()
        );
        self.inner.comm.abort(1)
    }

    /// Waits until every rank has called it.
    pub fn barrier(&self) {
        self.inner.comm.barrier();
    }

    /// Sums `values` over the ranks, in place: every rank gets the same sums (one allreduce).
    ///
    /// ```no_run
    /// let world = borel_distributed::World::init().unwrap();
    /// let mut v = [1.0, world.rank() as f64];
    /// world.sum(&mut v);
    /// assert_eq!(v[0], world.size() as f64);
    /// ```
    pub fn sum(&self, values: &mut [f64]) {
        let send = values.to_vec();
        self.inner
            .comm
            .all_reduce_into(&send[..], values, SystemOperation::sum());
    }

    /// Rank 0's `flag` on every rank: to take a decision (stop, save) the same way everywhere.
    pub fn broadcast_flag(&self, flag: bool) -> bool {
        let mut v = u8::from(flag);
        self.inner.comm.process_at_rank(0).broadcast_into(&mut v);
        v != 0
    }

    /// MPI's world communicator, for collectives of your own through the `mpi` crate
    /// (re-exported as `borel_distributed::mpi`).
    pub fn communicator(&self) -> &SimpleCommunicator {
        &self.inner.comm
    }

    pub(crate) fn comm(&self) -> &SimpleCommunicator {
        &self.inner.comm
    }

    pub(crate) fn layout(&self) -> &RefCell<Option<Layout>> {
        &self.inner.layout
    }
}
