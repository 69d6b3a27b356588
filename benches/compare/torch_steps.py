"""PyTorch reference steps for comparisons (CPU, f32). Usage: python torch_steps.py THREADS
Prints one RESULT line per workload: seed models A/B/C (batch 64, Keras-semantics RMSprop written out),
the MLP 784-1024-1024-10 (batch 256, cross-entropy, torch.optim.RMSprop), a 10,000-op
scalar chain (x * 1.0001, x + 0.0001, sin x) forward + backward, and the PINN step of
examples/01_pinn (u'' by two nested torch.autograd.grad(create_graph=True) through a 1-32-32-1
tanh MLP at 64 points, torch.optim.Adam). Medians of 5 repetitions."""
import math, statistics, sys, time, torch
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
torch.set_num_threads(threads); torch.manual_seed(0)
def med(f, reps=5):
    return statistics.median(f() for _ in range(reps))
def mlp(dims, acts):
    layers = []
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if acts[i]: layers.append(acts[i]())
    return torch.nn.Sequential(*layers)
def seed_step(name, acts):
    net = mlp([2, 100, 50, 50, 10, 1] if name != "B" else [2, 20, 20, 1], acts)
    v = [torch.zeros_like(p) for p in net.parameters()]
    x, y = torch.randn(64, 2), torch.randn(64, 1)
    def step():
        for p in net.parameters(): p.grad = None
        torch.nn.functional.mse_loss(net(x), y).backward()
        with torch.no_grad():
            for p, s in zip(net.parameters(), v):
                s.mul_(0.9).addcmul_(p.grad, p.grad, value=0.1); p.sub_(1e-3 * p.grad / (s + 1e-7).sqrt())
    def rep():
        for _ in range(50): step()
        t = time.perf_counter()
        for _ in range(500): step()
        return (time.perf_counter() - t) / 500 * 1e6
    model = {"A": "linear", "B": "sigmoid", "C": "relu"}[name]
    print(f"RESULT crate=torch bench=small model={model} us_per_step={med(rep):.1f}")
seed_step("A", [None] * 5)
seed_step("B", [torch.nn.Sigmoid, torch.nn.Sigmoid, None])
seed_step("C", [None, None, None, torch.nn.ReLU, None])
net = mlp([784, 1024, 1024, 10], [torch.nn.ReLU, torch.nn.ReLU, None])
opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
x, y = torch.rand(256, 784), torch.randint(0, 10, (256,))
def big():
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); opt.step()
def rep_big():
    for _ in range(3): big()
    t = time.perf_counter()
    for _ in range(20): big()
    return (time.perf_counter() - t) / 20 * 1e3
print(f"RESULT crate=torch bench=large ms_per_step={med(rep_big, 3):.2f}")
def chain():
    x0 = torch.tensor(0.5, requires_grad=True); x = x0
    t = time.perf_counter()
    for i in range(10000):
        x = x * 1.0001 if i % 3 == 0 else (x + 0.0001 if i % 3 == 1 else torch.sin(x))
    x.backward()
    return (time.perf_counter() - t) / 10000 * 1e9
print(f"RESULT crate=torch bench=chain ns_per_op={med(chain):.0f}")
def pinn():
    net = mlp([1, 32, 32, 1], [torch.nn.Tanh, torch.nn.Tanh, None])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.linspace(0, math.pi, 64).reshape(64, 1).requires_grad_(True)
    ends = torch.tensor([[0.0], [math.pi]])
    def step():
        opt.zero_grad()
        u = net(x)
        ux, = torch.autograd.grad(u.sum(), x, create_graph=True)
        uxx, = torch.autograd.grad(ux.sum(), x, create_graph=True)
        loss = ((uxx + torch.sin(x)) ** 2).mean() + (net(ends) ** 2).mean()
        loss.backward(); opt.step()
    def rep():
        for _ in range(20): step()
        t = time.perf_counter()
        for _ in range(200): step()
        return (time.perf_counter() - t) / 200 * 1e6
    print(f"RESULT crate=torch bench=pinn us_per_step={med(rep):.1f}")
pinn()
