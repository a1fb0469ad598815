"""Tune · Prompt · Retrieve: the spine shared by fine-tuning, few-shot prompting and RAG."""
