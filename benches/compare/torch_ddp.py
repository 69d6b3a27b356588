"""PyTorch DistributedDataParallel (gloo) on the work of Borel's benches/mpi_mlp.rs: the MLP
784-1024-1024-10 (relu, cross-entropy, RMSprop), batch 256 per process, one thread each.
Run with `torchrun --nproc-per-node N torch_ddp.py`; rank 0 prints samples/s over all ranks."""
import os
import time

import torch
import torch.distributed as dist

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
dist.init_process_group("gloo")
rank, size = dist.get_rank(), dist.get_world_size()
torch.manual_seed(0)
layers = []
dims = [784, 1024, 1024, 10]
for i in range(3):
    layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
    if i < 2:
        layers.append(torch.nn.ReLU())
net = torch.nn.parallel.DistributedDataParallel(torch.nn.Sequential(*layers))
opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
g = torch.Generator().manual_seed(1 + rank)
x, y = torch.rand(256, 784, generator=g), torch.randint(0, 10, (256,), generator=g)


def step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()


for _ in range(3):
    step()
dist.barrier()
t = time.perf_counter()
for _ in range(20):
    step()
secs = time.perf_counter() - t
if rank == 0:
    print(f"RESULT crate=torch-ddp ranks={size} threads={torch.get_num_threads()} "
          f"ms_per_step={secs / 20 * 1e3:.2f} samples_per_s={size * 256 * 20 / secs:.0f}")
dist.destroy_process_group()
