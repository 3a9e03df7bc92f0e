"""Adapters: turn real datasets into SynBlink manifests, so every tool and trainer feature works on them.

- eye_state_folder: single eye crops in class subfolders (Open/Closed) -> 1-frame clips with
  closure 0/1; for zero-shot evaluation only (never train on it).
- hust_lebw: HUST-LEBW 13-frame blink / non-blink eye sequences -> one clip per (sample, eye),
  image-side zuo/you converted to the subject's right/left.

- eyeblink8: videos with blinkingmatters.com `.tag` annotations (Eyeblink8, Talking Face,
  Researcher's night) -> one clip per video, per-frame closed / blink labels and eye corners,
  plus labels/blinks.csv for trainer.evaluate_video.
- synblink50k: the original SynBlink-50K clip folders (13 PNGs + annotations.json).
- rt_bene: RT-BENE eye crops with per-frame open / closed / uncertain labels.

`python -m manifests adapt NAME SRC OUT` with NAME one of ADAPTERS.
"""
ADAPTERS = {
    "eye-state": "manifests.adapters.eye_state_folder",
    "hust-lebw": "manifests.adapters.hust_lebw",
    "eyeblink8": "manifests.adapters.eyeblink8",
    "synblink50k": "manifests.adapters.synblink50k",
    "rt-bene": "manifests.adapters.rt_bene",
}
