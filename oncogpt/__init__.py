"""OncoGPT: build, fine-tune, chat with and evaluate an oncology conversational model.

For research only: not medical advice, never for clinical use.
"""

__version__ = "0.1.0"
