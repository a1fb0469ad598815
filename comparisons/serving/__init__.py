"""Serving many visitors on one instance: the app's service layer without Gradio, the heavy queue's shares, workshop
boards and pushing to the Hub. Imports everything below it."""
