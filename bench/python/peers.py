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
    peers.py gpt-check --dump DIR        mlc's GPT weights in PyTorch: logits,
                                         loss, one AdamW step, greedy tokens
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


# ------------------------------------------------ mlc's weights in PyTorch


def read_dump(np, dump_dir):
    with open(os.path.join(dump_dir, "dump.json")) as f:
        return json.load(f)


def read_tensors(np, dump_dir, layout, binfile):
    """The named float32 tensors of one of gptwork's .bin files."""
    flat = np.fromfile(os.path.join(dump_dir, binfile), dtype="<f4")
    out = {}
    for t in layout:
        n = int(np.prod(t["shape"]))
        out[t["name"]] = flat[t["offset"]:t["offset"] + n].reshape(t["shape"])
    return out


def mlc_state_dict(torch, ts):
    """PyTorch's state dict of gpt_model from mlc's named parameters. mlc's
    matrices multiply on the right (x·W, W [in, out]), nn.Linear's on the
    left (weight [out, in]); mlc's Wq, Wk, Wv are the rows of the qkv
    Linear in that order, heads split alike (head h: columns h·d/H..)."""
    T = lambda a: torch.from_numpy(a.copy())
    sd = {"wte.weight": T(ts["wte"]), "wpe.weight": T(ts["wpe"]),
          "lnf.weight": T(ts["lnf.gamma"]), "lnf.bias": T(ts["lnf.beta"])}
    for l in range(GPT["layers"]):
        h, b = "h%d." % l, "blocks.%d." % l
        sd[b + "ln1.weight"], sd[b + "ln1.bias"] = T(ts[h + "ln1.gamma"]), T(ts[h + "ln1.beta"])
        sd[b + "ln2.weight"], sd[b + "ln2.bias"] = T(ts[h + "ln2.gamma"]), T(ts[h + "ln2.beta"])
        sd[b + "qkv.weight"] = torch.cat([T(ts[h + "attn.W" + x].T) for x in "qkv"], 0)
        sd[b + "qkv.bias"] = torch.cat([T(ts[h + "attn.b" + x]) for x in "qkv"], 0)
        sd[b + "proj.weight"], sd[b + "proj.bias"] = T(ts[h + "attn.Wo"].T), T(ts[h + "attn.bo"])
        sd[b + "fc.weight"], sd[b + "fc.bias"] = T(ts[h + "mlp.W1"].T), T(ts[h + "mlp.b1"])
        sd[b + "fc2.weight"], sd[b + "fc2.bias"] = T(ts[h + "mlp.W2"].T), T(ts[h + "mlp.b2"])
    return sd


def torch_as_mlc(model):
    """gpt_model's parameters under mlc's names and layouts (the inverse of
    mlc_state_dict), as NumPy arrays."""
    sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    d = GPT["d"]
    out = {"wte": sd["wte.weight"], "wpe": sd["wpe.weight"], "lnf.gamma": sd["lnf.weight"], "lnf.beta": sd["lnf.bias"]}
    for l in range(GPT["layers"]):
        h, b = "h%d." % l, "blocks.%d." % l
        out[h + "ln1.gamma"], out[h + "ln1.beta"] = sd[b + "ln1.weight"], sd[b + "ln1.bias"]
        out[h + "ln2.gamma"], out[h + "ln2.beta"] = sd[b + "ln2.weight"], sd[b + "ln2.bias"]
        for i, x in enumerate("qkv"):
            out[h + "attn.W" + x] = sd[b + "qkv.weight"][i * d:(i + 1) * d].T
            out[h + "attn.b" + x] = sd[b + "qkv.bias"][i * d:(i + 1) * d]
        out[h + "attn.Wo"], out[h + "attn.bo"] = sd[b + "proj.weight"].T, sd[b + "proj.bias"]
        out[h + "mlp.W1"], out[h + "mlp.b1"] = sd[b + "fc.weight"].T, sd[b + "fc.bias"]
        out[h + "mlp.W2"], out[h + "mlp.b2"] = sd[b + "fc2.weight"].T, sd[b + "fc2.bias"]
    return out


def load_mlc_weights(torch, model, dump_dir, which):
    """Loads gptwork's dump of the train ("train") or decode ("decode")
    model's initial parameters into gpt_model."""
    import numpy as np
    doc = read_dump(np, dump_dir)
    key, binfile = {"train": ("train_params", "train_params0.bin"), "decode": ("decode_params", "decode_params.bin")}[which]
    ts = read_tensors(np, dump_dir, doc[key], binfile)
    model.load_state_dict(mlc_state_dict(torch, ts), strict=True)
    return doc


# The equivalence check's tolerances (float32 on both sides, different
# summation orders): logits and the first loss agree to 1e-5 of their
# scale; after one AdamW step (lr 1e-3: the first step moves each weight by
# about lr·sign(g)) the weights agree to 1e-6 wherever |g| > 1e-6; where the
# gradient is as small as the two sides' rounding its sign may differ, and
# the weight by up to 2·lr. Greedy tokens agree exactly, except at a step
# whose top two logits are within 1e-4 of each other in mlc (a tie).
TOL_LOGITS, TOL_LOSS, TOL_STEP, TOL_GRAD_SMALL, TOL_TIE = 1e-5, 1e-5, 1e-6, 1e-6, 1e-4
GPT_CHECK = "gpt equivalence"


def cmd_gpt_check(args):
    """Loads mlc's weights (gptwork dump) into the PyTorch GPT and checks
    the logits of a batch, the first step's loss, the weights after one
    AdamW step, and greedy decoding with the cache. Prints one JSON object:
    {"ok": bool, "checks": [{"what", "ok", "value", "tolerance", "detail"}]}."""
    torch, err = try_import("torch")
    if torch is None:
        print(json.dumps({"ok": None, "skipped": err}))
        return
    import numpy as np
    torch_threads(torch, args.threads)
    F = torch.nn.functional
    c = GPT
    checks = []

    def check(what, value, tol, detail=""):
        checks.append({"what": what, "ok": bool(value <= tol), "value": float(value), "tolerance": tol, "detail": detail})

    model = gpt_model(torch, c["ctx"])
    doc = load_mlc_weights(torch, model, args.dump, "train")
    ids = torch.tensor(doc["ids"], dtype=torch.long).reshape(c["batch"], c["ctx"])
    targets = torch.tensor(doc["targets"], dtype=torch.long).reshape(c["batch"], c["ctx"])
    mlc_logits = np.fromfile(os.path.join(args.dump, "train_logits.bin"), dtype="<f4").reshape(c["batch"], c["ctx"], c["vocab"])
    with torch.no_grad():
        lg = model(ids).numpy()
    scale = max(1.0, float(np.abs(mlc_logits).max()))
    check("logits of a batch (16×64×65), max |Δ| / max(1, max |logit|)", np.abs(lg - mlc_logits).max() / scale, TOL_LOGITS)

    p0 = torch_as_mlc(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, foreach=True)
    logits = model(ids)
    loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), targets.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    check("first step's loss, |Δ| / max(1, loss)", abs(float(loss) - doc["first_loss"]) / max(1.0, abs(doc["first_loss"])), TOL_LOSS,
          "PyTorch %.7f, mlc %.7f" % (float(loss), doc["first_loss"]))
    # The gradients under mlc's names, to find the ones too small to fix a sign.
    saved = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(p.grad)
    g = torch_as_mlc(model)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(saved[n])
    opt.step()
    p1 = torch_as_mlc(model)
    m1 = read_tensors(np, args.dump, doc["train_params"], "train_params1.bin")
    worst, worst_small, nsmall, where = 0.0, 0.0, 0, ""
    for name, want in m1.items():
        d = np.abs(p1[name] - want)
        small = np.abs(g[name]) <= TOL_GRAD_SMALL
        nsmall += int(small.sum())
        if (~small).any() and d[~small].max() > worst:
            worst, where = float(d[~small].max()), name
        if small.any():
            worst_small = max(worst_small, float(d[small].max()))
    check("weights after one AdamW step, max |Δ| where |g| > %g" % TOL_GRAD_SMALL, worst, TOL_STEP, "worst in %s" % where)
    check("weights after one AdamW step, max |Δ| where |g| ≤ %g (%d weights)" % (TOL_GRAD_SMALL, nsmall), worst_small, 2.0001e-3)

    # Greedy decoding with the cache, on the decode model (1024 positions)
    # with its matrices scaled as gptwork scaled them.
    dmodel = gpt_model(torch, doc["positions"]).eval()
    ts = read_tensors(np, args.dump, doc["decode_params"], "decode_params.bin")
    for t in doc["decode_params"]:
        if len(t["shape"]) == 2:
            ts[t["name"]] = ts[t["name"]] * np.float32(doc["check_scale"])
    dmodel.load_state_dict(mlc_state_dict(torch, ts), strict=True)
    mlc_steps = np.fromfile(os.path.join(args.dump, "decode_logits.bin"), dtype="<f4").reshape(len(doc["greedy"]), c["vocab"])
    with torch.inference_mode():
        cache = dmodel.new_cache(1)
        prompt = torch.tensor(doc["prompt"], dtype=torch.long).reshape(1, -1)
        lg = dmodel(prompt, cache, 0)[0, -1]
        pos = prompt.shape[1]
        toks, steps = [], []
        for i in range(len(doc["greedy"])):
            if i > 0:
                lg = dmodel(torch.tensor([[toks[-1]]]), cache, pos)[0, -1]
                pos += 1
            steps.append(lg.numpy())
            toks.append(int(lg.argmax()))
            if toks[-1] != doc["greedy"][i]:
                break  # the rest would decode different prefixes
    n = len(steps)
    scale = max(1.0, float(np.abs(mlc_steps).max()))
    check("logits of greedy decoding with the cache, max |Δ| / max(1, max |logit|)",
          np.abs(np.stack(steps) - mlc_steps[:n]).max() / scale, TOL_LOGITS, "%d steps after a prompt of %d" % (n, len(doc["prompt"])))
    bad = [i for i in range(n) if toks[i] != doc["greedy"][i] and doc["greedy_gap"][i] > TOL_TIE]
    check("greedy tokens that differ (not ties)", len(bad), 0,
          "PyTorch %s, mlc %s" % (toks, doc["greedy"]) if bad or n < len(doc["greedy"]) else "%d tokens agree" % n)
    print(json.dumps({"ok": all(x["ok"] for x in checks), "checks": checks}), flush=True)


def cmd_gpt_train(args):
    torch, err = try_import("torch")
    if torch is None:
        return skip([GPT_TRAIN], "PyTorch", args.threads, err)
    torch_threads(torch, args.threads)
    F = torch.nn.functional
    torch.manual_seed(0)
    c = GPT
    model = gpt_model(torch, c["ctx"])
    src = "PyTorch's GPT-2 init"
    if args.weights:
        load_mlc_weights(torch, model, args.weights, "train")
        src = "mlc's initial weights"
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
         note="eager f32, AdamW(foreach), %d params (ctx 64 d 128 4 heads 2 layers vocab 65 batch 16), %s" % (nparams, src))


def cmd_gpt_decode(args):
    torch, err = try_import("torch")
    if torch is None:
        return skip(decode_workloads(), "PyTorch", args.threads, err)
    torch_threads(torch, args.threads)
    torch.manual_seed(0)
    positions = max(LATENCY_CTX)
    model = gpt_model(torch, positions).eval()
    src = "PyTorch's GPT-2 init"
    if args.weights:
        load_mlc_weights(torch, model, args.weights, "decode")
        src = "mlc's initial weights"
    reps = args.reps
    note = "eager f32, batch 1, greedy, positions %d, %s" % (positions, src)
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
        t = measure(recompute, reps or 2)  # 2 per round
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
                                   "gpt-decode", "gpt-check", "sgemm-numpy"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=0, help="repetitions (0: the workload's default)")
    p.add_argument("--seed", default="../internal/golden/testdata/xor_seed.json")
    p.add_argument("-n", default="128,256,512,1024", help="sgemm sizes")
    p.add_argument("--weights", default="", help="gpt-train, gpt-decode: start from mlc's weights, a directory of gptwork dump")
    p.add_argument("--dump", default="", help="gpt-check: the directory of gptwork dump")
    args = p.parse_args()
    env = os.environ.get("OPENBLAS_NUM_THREADS")
    if args.cmd != "info" and env is not None and env != str(args.threads):
        print("peers.py: OPENBLAS_NUM_THREADS=%s but --threads %d" % (env, args.threads), file=sys.stderr)
    globals()["cmd_" + args.cmd.replace("-", "_")](args)


if __name__ == "__main__":
    main()
