#!/usr/bin/env python3
"""NumPy and PyTorch sides of mlc's peer benchmark.

Each subcommand prints one JSON object per line, the same record the Go
workers print (bench/internal/benchutil.Result): workload, tool, threads,
unit, times_s (one entry per repetition), and optionally flops, tokens,
final_loss, note, or skipped (why the configuration did not run).

    peers.py info                        versions and which BLAS is in use
    peers.py xor-numpy  --seed FILE      (a) the reference text's XOR program
    peers.py xor-torch  --seed FILE --threads N
    peers.py mlp-numpy  --threads N      (b) MLP 784-256-256-10 SGD step
    peers.py mlp-torch  --threads N
    peers.py gpt-train  --threads N      (c) GPT train step, AdamW
    peers.py gpt-decode --threads N      (d) GPT greedy decoding, KV cache
    peers.py sgemm-numpy --threads N     (e) sgemm GFLOP/s

The thread count of OpenBLAS and OpenMP is read from the environment when
the library loads, so the runner sets OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
and MKL_NUM_THREADS before starting this script; --threads is recorded and
passed to torch.set_num_threads. When NumPy or PyTorch cannot be imported,
the subcommand prints its rows as skipped and exits 0.
"""

import argparse
import json
import math
import os
import sys
import time


def emit(**rec):
    print(json.dumps(rec), flush=True)


def skip(workloads, tool, threads, why):
    for w in workloads:
        emit(workload=w, tool=tool, threads=threads, unit="", skipped=why)


def try_import(name):
    try:
        return __import__(name), None
    except Exception as e:  # ImportError, or a broken install
        return None, "%s not importable with %s: %s" % (name, sys.executable, e)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def measure(fn, reps, inner=1, warm=1, setup=None):
    """Seconds per call of fn for each of reps repetitions of inner calls."""
    for _ in range(warm):
        if setup:
            setup()
        fn()
    times = []
    for _ in range(reps):
        if setup:
            setup()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return times


# ---------------------------------------------------------------- BLAS info


def loaded_libs():
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[-1].startswith("/"):
                    libs.add(parts[-1])
    except OSError:
        pass
    return libs


def blas_of(libs):
    """Names the BLAS among the loaded shared libraries."""
    blas = [l for l in libs if "blas" in os.path.basename(l).lower() or "mkl" in os.path.basename(l).lower()]
    real = sorted({os.path.realpath(l) for l in blas})
    kind = "unknown"
    if any("openblas" in r for r in real):
        kind = "OpenBLAS"
    elif any("mkl" in r for r in real):
        kind = "MKL"
    elif any("/blas/" in r or r.endswith("libblas.so.3.11.0") for r in real):
        kind = "reference BLAS (netlib libblas3): about 15x slower than OpenBLAS"
    elif any("atlas" in r for r in real):
        kind = "ATLAS"
    elif any("blis" in r for r in real):
        kind = "BLIS"
    return kind, real


def openblas_config(libs):
    """OpenBLAS's build string and core, and its thread count, or (None, 0)."""
    import ctypes

    for l in sorted(libs):
        if "openblas" in os.path.basename(l):
            try:
                lib = ctypes.CDLL(l)
                lib.openblas_get_config.restype = ctypes.c_char_p
                lib.openblas_get_corename.restype = ctypes.c_char_p
                cfg = "%s, core %s" % (lib.openblas_get_config().decode(), lib.openblas_get_corename().decode())
                return cfg, lib.openblas_get_num_threads()
            except (OSError, AttributeError):
                continue
    return None, 0


def cmd_info(args):
    info = {"python": sys.version.split()[0], "executable": sys.executable}
    alt = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    if os.path.exists(alt):
        info["libblas.so.3 alternative"] = os.path.realpath(alt)
    np, err = try_import("numpy")
    if np is None:
        info["numpy"] = None
        info["numpy_error"] = err
    else:
        a = np.ones((256, 256), np.float32)
        a @ a
        kind, files = blas_of(loaded_libs())
        info["numpy"] = np.__version__
        info["numpy_blas"] = kind
        info["numpy_blas_files"] = files
    torch, err = try_import("torch")
    if torch is None:
        info["torch"] = None
        info["torch_error"] = err
    else:
        t = torch.ones(256, 256)
        t @ t
        kind, files = blas_of(loaded_libs())
        info["torch"] = torch.__version__
        info["torch_blas"] = kind
        info["torch_blas_files"] = files
        cfg = torch.__config__.show()
        info["torch_build_blas"] = [s.strip() for s in cfg.replace(",", "\n").splitlines() if "BLAS_INFO" in s or "LAPACK_INFO" in s]
    ob, threads = openblas_config(loaded_libs())
    if ob:
        info["openblas"] = ob
        info["openblas_default_threads"] = threads
    print(json.dumps(info), flush=True)


# ---------------------------------------------------------------- (a) XOR


XOR = "xor 10k epochs"


def load_seed(path):
    with open(path) as f:
        return json.load(f)


def text_loss_np(np, a2, y):
    return float(-np.mean(y * np.log(a2 + 1e-8) + (1 - y) * np.log(1 - a2 + 1e-8)))


def cmd_xor_numpy(args):
    np, err = try_import("numpy")
    if np is None:
        return skip([XOR], "NumPy", args.threads, err)
    seed = load_seed(args.seed)
    X = np.array(seed["X"]["data"], dtype=np.float64).reshape(4, 2)
    y = np.array(seed["y"]["data"], dtype=np.float64).reshape(4, 1)
    init = seed["init"]
    lr, epochs = seed["lr"], seed["epochs"]
    state = {}

    def setup():
        state["W1"] = np.array(init["W1"]["data"]).reshape(2, 4)
        state["b1"] = np.zeros((1, 4))
        state["W2"] = np.array(init["W2"]["data"]).reshape(4, 1)
        state["b2"] = np.zeros((1, 1))

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def run():
        # The reference text's program, as written.
        W1, b1, W2, b2 = state["W1"], state["b1"], state["W2"], state["b2"]
        for epoch in range(epochs):
            z1 = X @ W1 + b1
            a1 = np.maximum(0, z1)
            z2 = a1 @ W2 + b2
            a2 = sigmoid(z2)
            loss = -np.mean(y * np.log(a2 + 1e-8) + (1 - y) * np.log(1 - a2 + 1e-8))
            dz2 = a2 - y
            dW2 = a1.T @ dz2 / 4
            db2 = np.mean(dz2, axis=0, keepdims=True)
            da1 = dz2 @ W2.T
            dz1 = da1 * (z1 > 0)
            dW1 = X.T @ dz1 / 4
            db1 = np.mean(dz1, axis=0, keepdims=True)
            W2 -= lr * dW2
            b2 -= lr * db2
            W1 -= lr * dW1
            b1 -= lr * db1

    times = measure(run, args.reps or 3, warm=0, setup=setup)
    a2 = sigmoid(np.maximum(0, X @ state["W1"] + state["b1"]) @ state["W2"] + state["b2"])
    emit(workload=XOR, tool="NumPy", threads=args.threads, unit="run", times_s=times,
         final_loss=text_loss_np(np, a2, y), note="the reference text's program")


def torch_threads(torch, n):
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def cmd_xor_torch(args):
    torch, err = try_import("torch")
    if torch is None:
        return skip([XOR], "PyTorch", args.threads, err)
    torch_threads(torch, args.threads)
    F = torch.nn.functional
    seed = load_seed(args.seed)
    d = torch.float64
    X = torch.tensor(seed["X"]["data"], dtype=d).reshape(4, 2)
    y = torch.tensor(seed["y"]["data"], dtype=d).reshape(4, 1)
    init = seed["init"]
    lr, epochs = seed["lr"], seed["epochs"]
    state = {}

    def setup():
        params = [
            torch.tensor(init["W1"]["data"], dtype=d).reshape(2, 4),
            torch.zeros(1, 4, dtype=d),
            torch.tensor(init["W2"]["data"], dtype=d).reshape(4, 1),
            torch.zeros(1, 1, dtype=d),
        ]
        for p in params:
            p.requires_grad_(True)
        state["params"] = params
        state["opt"] = torch.optim.SGD(params, lr=lr)

    def run():
        W1, b1, W2, b2 = state["params"]
        opt = state["opt"]
        for epoch in range(epochs):
            z2 = torch.relu(X @ W1 + b1) @ W2 + b2
            # BCE with logits has the text's gradient (a2 - y)/4 exactly.
            loss = F.binary_cross_entropy_with_logits(z2, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    times = measure(run, args.reps or 3, warm=0, setup=setup)
    W1, b1, W2, b2 = state["params"]
    with torch.no_grad():
        a2 = torch.sigmoid(torch.relu(X @ W1 + b1) @ W2 + b2)
        loss = -torch.mean(y * torch.log(a2 + 1e-8) + (1 - y) * torch.log(1 - a2 + 1e-8))
    emit(workload=XOR, tool="PyTorch", threads=args.threads, unit="run", times_s=times,
         final_loss=float(loss), note="eager f64, autograd, optim.SGD, BCE with logits")


# ---------------------------------------------------------------- (b) MLP


MLP = "mlp step"
SIZES = (784, 256, 256, 10)
BATCH = 64
LR = 0.1
MLP_INNER = 10


def cmd_mlp_numpy(args):
    np, err = try_import("numpy")
    if np is None:
        return skip([MLP], "NumPy", args.threads, err)
    rng = np.random.default_rng(0)
    f = np.float32
    X = rng.random((BATCH, SIZES[0]), dtype=f)
    labels = rng.integers(0, SIZES[3], BATCH)
    onehot = np.zeros((BATCH, SIZES[3]), f)
    onehot[np.arange(BATCH), labels] = 1
    W = [(rng.standard_normal((SIZES[i], SIZES[i + 1])) * math.sqrt(2 / SIZES[i])).astype(f) for i in range(3)]
    b = [np.zeros(SIZES[i + 1], f) for i in range(3)]
    out = {}

    def step():
        z1 = X @ W[0] + b[0]
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W[1] + b[1]
        h2 = np.maximum(z2, 0)
        z3 = h2 @ W[2] + b[2]
        z3 = z3 - z3.max(axis=1, keepdims=True)
        e = np.exp(z3)
        p = e / e.sum(axis=1, keepdims=True)
        out["loss"] = float(-np.mean(np.log(p[np.arange(BATCH), labels])))
        dz3 = (p - onehot) / f(BATCH)
        dW3 = h2.T @ dz3
        db3 = dz3.sum(axis=0)
        dz2 = (dz3 @ W[2].T) * (z2 > 0)
        dW2 = h1.T @ dz2
        db2 = dz2.sum(axis=0)
        dz1 = (dz2 @ W[1].T) * (z1 > 0)
        dW1 = X.T @ dz1
        db1 = dz1.sum(axis=0)
        for w, g in ((W[0], dW1), (W[1], dW2), (W[2], dW3), (b[0], db1), (b[1], db2), (b[2], db3)):
            w -= f(LR) * g

    times = measure(step, args.reps or 9, inner=MLP_INNER, warm=3)
    emit(workload=MLP, tool="NumPy", threads=args.threads, unit="step", times_s=times,
         final_loss=out["loss"], note="hand-written forward/backward, f32")


def cmd_mlp_torch(args):
    torch, err = try_import("torch")
    if torch is None:
        return skip([MLP], "PyTorch", args.threads, err)
    torch_threads(torch, args.threads)
    nn, F = torch.nn, torch.nn.functional
    torch.manual_seed(0)
    X = torch.rand(BATCH, SIZES[0])
    labels = torch.randint(0, SIZES[3], (BATCH,))
    layers = []
    for i in range(3):
        lin = nn.Linear(SIZES[i], SIZES[i + 1])
        nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")  # He: std sqrt(2/fan_in)
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU()] if i < 2 else [lin]
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    out = {}

    def step():
        loss = F.cross_entropy(model(X), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        out["loss"] = loss

    times = measure(step, args.reps or 9, inner=MLP_INNER, warm=3)
    emit(workload=MLP, tool="PyTorch", threads=args.threads, unit="step", times_s=times,
         final_loss=float(out["loss"]), note="eager f32, nn.Linear, optim.SGD")


# ---------------------------------------------------------------- (c), (d) GPT

GPT = dict(vocab=65, ctx=64, d=128, heads=4, layers=2, ffn=512, batch=16)
DECODE_N = 256
LATENCY_CTX = (64, 256, 1024)
GPT_TRAIN = "gpt train step"


def decode_workloads():
    ws = ["gpt decode 256 tok, cache", "gpt decode 256 tok, recompute"]
    for c in LATENCY_CTX:
        ws += ["gpt token @ctx %d, cache" % c, "gpt token @ctx %d, recompute" % c]
    return ws


def gpt_model(torch, positions):
    """A plain GPT: learned positions, pre-LN, GELU MLP (tanh form), tied
    embedding, no dropout, with GPT-2's initialisation, and an optional
    preallocated KV cache. mlc compiles the same model (bench/generate.go:
    models/gpt with norm=pre, act=gelu, tied=true, dropout=0); its attention
    has separate Wq, Wk, Wv where this has one qkv Linear: the same
    parameters and initialisation, arranged differently."""
    nn, F = torch.nn, torch.nn.functional
    c = GPT

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d = c["d"]
            self.ln1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.fc = nn.Linear(d, c["ffn"])
            self.fc2 = nn.Linear(c["ffn"], d)
            self.register_buffer("mask", torch.ones(positions, positions, dtype=torch.bool).tril(), persistent=False)

        def forward(self, x, cache=None, pos=0):
            B, T, C = x.shape
            H = c["heads"]
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q = q.view(B, T, H, C // H).transpose(1, 2)
            k = k.view(B, T, H, C // H).transpose(1, 2)
            v = v.view(B, T, H, C // H).transpose(1, 2)
            if cache is not None:  # write this step's keys and values, attend to all so far
                kc, vc = cache
                kc[:, :, pos:pos + T] = k
                vc[:, :, pos:pos + T] = v
                k, v = kc[:, :, :pos + T], vc[:, :, :pos + T]
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
            if T > 1:
                att = att.masked_fill(~self.mask[pos:pos + T, :pos + T], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
            # GELU's tanh form, GPT-2's and mlc's (F.gelu's default is the erf form)
            return x + self.fc2(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPTModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(c["vocab"], c["d"])
            self.wpe = nn.Embedding(positions, c["d"])
            self.blocks = nn.ModuleList(Block() for _ in range(c["layers"]))
            self.lnf = nn.LayerNorm(c["d"])
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                elif p.dim() == 2:
                    std = 0.02 / math.sqrt(2 * c["layers"]) if name.endswith(("proj.weight", "fc2.weight")) else 0.02
                    nn.init.normal_(p, 0.0, std)

        def forward(self, ids, caches=None, pos=0):
            T = ids.shape[1]
            x = self.wte(ids) + self.wpe.weight[pos:pos + T]
            for i, blk in enumerate(self.blocks):
                x = blk(x, None if caches is None else caches[i], pos)
            return self.lnf(x) @ self.wte.weight.T  # tied output projection

        def new_cache(self, batch):
            hd = c["d"] // c["heads"]
            return [(torch.zeros(batch, c["heads"], positions, hd), torch.zeros(batch, c["heads"], positions, hd))
                    for _ in range(c["layers"])]

    return GPTModel()


def cmd_gpt_train(args):
    torch, err = try_import("torch")
    if torch is None:
        return skip([GPT_TRAIN], "PyTorch", args.threads, err)
    torch_threads(torch, args.threads)
    F = torch.nn.functional
    torch.manual_seed(0)
    c = GPT
    model = gpt_model(torch, c["ctx"])
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, foreach=True)  # the multi-tensor path, not a Python loop over the parameters
    ids = torch.randint(0, c["vocab"], (c["batch"], c["ctx"]))
    targets = torch.randint(0, c["vocab"], (c["batch"], c["ctx"]))
    out = {}

    def step():
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        out["loss"] = loss

    times = measure(step, args.reps or 10, warm=3)
    emit(workload=GPT_TRAIN, tool="PyTorch", threads=args.threads, unit="step", times_s=times,
         final_loss=float(out["loss"]),
         note="eager f32, AdamW, %d params (ctx 64 d 128 4 heads 2 layers vocab 65 batch 16)" % nparams)


def cmd_gpt_decode(args):
    torch, err = try_import("torch")
    if torch is None:
        return skip(decode_workloads(), "PyTorch", args.threads, err)
    torch_threads(torch, args.threads)
    torch.manual_seed(0)
    positions = max(LATENCY_CTX)
    model = gpt_model(torch, positions).eval()
    reps = args.reps
    note = "eager f32, batch 1, greedy, positions %d" % positions
    with torch.inference_mode():
        cache = model.new_cache(1)
        start = torch.zeros(1, 1, dtype=torch.long)

        def with_cache():
            tok = start
            toks = []
            for pos in range(DECODE_N):
                tok = model(tok, cache, pos)[:, -1].argmax(-1, keepdim=True)
                toks.append(tok)
            return torch.cat(toks, 1)

        def recompute():
            seq = start
            toks = []
            for _ in range(DECODE_N):
                tok = model(seq)[:, -1].argmax(-1, keepdim=True)
                toks.append(tok)
                seq = torch.cat([seq, tok], 1)
            return torch.cat(toks, 1)

        # The two must generate the same tokens.
        same = bool((with_cache() == recompute()).all())
        chk = "" if same else "; WARNING: cache and recompute tokens differ"
        t = measure(with_cache, reps or 5)
        emit(workload="gpt decode 256 tok, cache", tool="PyTorch", threads=args.threads, unit="256 tokens",
             times_s=t, tokens=DECODE_N, note=note + chk)
        t = measure(recompute, reps or 3)
        emit(workload="gpt decode 256 tok, recompute", tool="PyTorch", threads=args.threads, unit="256 tokens",
             times_s=t, tokens=DECODE_N, note=note + chk)

        g = torch.Generator().manual_seed(1)
        for ctx in LATENCY_CTX:
            prefix = torch.randint(0, GPT["vocab"], (1, ctx), generator=g)
            model(prefix[:, :ctx - 1], cache, 0)  # fill the cache with ctx-1 tokens
            last = prefix[:, ctx - 1:]
            t = measure(lambda: model(last, cache, ctx - 1), reps or 7, inner=20, warm=5)
            emit(workload="gpt token @ctx %d, cache" % ctx, tool="PyTorch", threads=args.threads, unit="token",
                 times_s=t, tokens=1, note="one step with %d tokens cached" % (ctx - 1))
            inner = max(1, 256 // ctx)
            t = measure(lambda: model(prefix)[:, -1].argmax(-1), reps or 5, inner=inner, warm=1)
            emit(workload="gpt token @ctx %d, recompute" % ctx, tool="PyTorch", threads=args.threads, unit="token",
                 times_s=t, tokens=1, note="one forward over %d tokens" % ctx)


# ---------------------------------------------------------------- (e) sgemm


def cmd_sgemm_numpy(args):
    sizes = [int(s) for s in args.n.split(",")]
    np, err = try_import("numpy")
    if np is None:
        return skip(["sgemm n=%d" % n for n in sizes], "NumPy", args.threads, err)
    rng = np.random.default_rng(0)
    for n in sizes:
        a = (rng.random((n, n), dtype=np.float32) - 0.5)
        b = (rng.random((n, n), dtype=np.float32) - 0.5)
        c = np.empty((n, n), np.float32)
        flops = 2.0 * n * n * n
        inner = max(1, int(1e9 / flops))
        t = measure(lambda: np.matmul(a, b, out=c), args.reps or 5, inner=inner, warm=2)
        ref = a[n // 2].astype(np.float64) @ b[:, n // 3].astype(np.float64)
        if abs(float(c[n // 2, n // 3]) - ref) > 1e-3 * math.sqrt(n):
            print("sgemm-numpy: wrong result at n=%d" % n, file=sys.stderr)
            sys.exit(1)
        libs = loaded_libs()
        blas, _ = blas_of(libs)
        ob, threads = openblas_config(libs)
        if ob:
            blas += " (%d threads)" % threads
        emit(workload="sgemm n=%d" % n, tool="NumPy", threads=args.threads, unit="call", times_s=t, flops=flops,
             note="np.matmul(out=) on %s" % blas)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=["info", "xor-numpy", "xor-torch", "mlp-numpy", "mlp-torch", "gpt-train",
                                   "gpt-decode", "sgemm-numpy"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=0, help="repetitions (0: the workload's default)")
    p.add_argument("--seed", default="../internal/golden/testdata/xor_seed.json")
    p.add_argument("-n", default="128,256,512,1024", help="sgemm sizes")
    args = p.parse_args()
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    if args.cmd != "info" and env is not None and env != str(args.threads):
        print("peers.py: OPENBLAS_NUM_THREADS=%s but --threads %d" % (env, args.threads), file=sys.stderr)
    globals()["cmd_" + args.cmd.replace("-", "_")](args)


if __name__ == "__main__":
    main()
