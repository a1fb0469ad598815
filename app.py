"""Tune · Prompt · Retrieve: `python app.py` serves the app (ui/ builds it; the logic lives below it).
Gradio reads GRADIO_SERVER_NAME and GRADIO_SERVER_PORT itself; the app's own settings are in
comparisons/settings.py."""

from comparisons.service import max_upload_mb
from ui import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch(max_file_size=f"{max_upload_mb():g}mb", show_error=True)
