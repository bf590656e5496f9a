"""Adjustments to stock Gradio components for this app."""

from __future__ import annotations

import gradio as gr
from PIL import Image, UnidentifiedImageError

__all__ = ["named_errors", "tolerant_image"]


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
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
            return str(payload.path) if payload is not None and payload.path else None

    image.preprocess = preprocess
    return image


def named_errors(component: gr.components.Component, field: str) -> gr.components.Component:
    """Prefix Gradio's own input checks (range, choices, type) with the field's name.

    Gradio refuses an out-of-range Number or an unknown Dropdown value before the handler runs,
    with messages such as "Value: foo is not in the list of choices"; our rule is that every
    refusal names the field, the limit and the fix.
    """
    stock = component.preprocess

    def preprocess(payload):
        try:
            return stock(payload)
        except gr.Error as exc:
            raise gr.Error(f"{field}: {exc.message}", title="Please check your inputs") from None
        except (TypeError, ValueError):
            raise gr.Error(f"{field}: {payload!r} is not a valid value.", title="Please check your inputs") from None

    component.preprocess = preprocess
    return component
