"""Adjustments to stock Gradio components for this app."""

from __future__ import annotations

import gradio as gr
from PIL import UnidentifiedImageError

__all__ = ["tolerant_image"]


def tolerant_image(image: gr.Image) -> gr.Image:
    """Let undecodable uploads reach our own checks instead of failing inside Gradio.

    Gradio opens every upload with PIL before the handler runs, so a text file named .png
    fails there with a generic error that `show_error=False` hides. Passing the path through
    lets media.images explain the problem ("not an image we can read", the HEIC hint, …).
    (Patched on the instance: a subclass would make Gradio write a .pyi stub into the tree.)
    """
    stock = image.preprocess

    def preprocess(payload):
        try:
            return stock(payload)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return str(payload.path) if payload is not None and payload.path else None

    image.preprocess = preprocess
    return image
