"""Tune · Prompt · Retrieve: `python app.py` serves the app (ui/ builds it; the logic lives below it).
Gradio reads GRADIO_SERVER_NAME and GRADIO_SERVER_PORT itself; the app's own settings are in
comparisons/ground/settings.py."""

import sys

from comparisons.ground.device import pin_one_gpu

_notice = pin_one_gpu()  # several GPUs: use one (before CUDA starts); the notice says how to use all
if _notice:
    print(f"note: {_notice}", file=sys.stderr)

from ui import build_demo, launch  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    launch(demo)  # the upload cap and the server-minted visitor cookie (ui.launch)
