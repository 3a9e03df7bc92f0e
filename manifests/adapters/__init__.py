"""Adapters: turn real datasets into SynBlink manifests, so every tool and trainer feature works on them.

- eye_state_folder: single eye crops in class subfolders (Open/Closed) -> 1-frame clips with
  closure 0/1; for zero-shot evaluation only (never train on it).
- hust_lebw: HUST-LEBW 13-frame blink / non-blink eye sequences -> one clip per (sample, eye),
  image-side zuo/you converted to the subject's right/left.

`python -m manifests adapt eye-state SRC OUT` / `python -m manifests adapt hust-lebw SRC OUT`.
"""
ADAPTERS = {
    "eye-state": "manifests.adapters.eye_state_folder",
    "hust-lebw": "manifests.adapters.hust_lebw",
}
