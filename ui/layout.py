"""Widgets and wiring. Handlers live in ui/handlers.py; nothing here computes anything."""

from __future__ import annotations

import os

import gradio as gr

from jobs.record import APP_VERSION
from providers import CAPABILITIES
from ui import views
from ui.handlers import Studio

__all__ = ["GENERATE_CONCURRENCY", "build_app", "default_provider"]

GENERATE_CONCURRENCY = 200  # generations are async waits on a provider, not CPU work

ALL_DURATIONS = sorted({d for caps in CAPABILITIES.values() for d in caps.durations_s})
DEFAULT_PROVIDER = "preview"

_CSS = """
#status { min-height: 4em; }
#price { font-size: 0.95em; }
.counter { font-size: 0.85em; opacity: 0.75; margin-top: -0.6em; }
"""


def default_provider() -> str:
    """A hosted provider whose server key is configured, else the free offline preview."""
    for caps in CAPABILITIES.values():
        if caps.env_api_key and os.environ.get(caps.env_api_key):
            return caps.name
    return DEFAULT_PROVIDER


def build_app(studio: Studio, *, provider_name: str | None = None) -> gr.Blocks:
    default_provider_name = provider_name or default_provider()
    caps = CAPABILITIES[default_provider_name]
    with gr.Blocks(title="Wan I2V Studio", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            f"# Wan I2V Studio <small>v{APP_VERSION}</small>\n"
            "Turn a still image (and optional voice or music) into a short video with Wan 2.5. "
            "Status is the provider's real state; the panel on the right records exactly what ran."
        )
        gr.Markdown(views.access_banner(studio.policy), elem_id="banner")
        with gr.Row():
            with gr.Column(scale=5):
                image = gr.Image(
                    label="Image",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard", "webcam"],
                    elem_id="image",
                    height=320,
                )
                prepared_image = gr.Image(
                    label="Prepared for the provider",
                    interactive=False,
                    visible=False,
                    height=140,
                    elem_id="prepared_image",
                    buttons=[],
                )
                image_info = gr.Markdown("", elem_id="image_info")
                with gr.Accordion("Use an image URL instead", open=False):
                    image_url = gr.Textbox(
                        label="…or an image URL (http/https)",
                        value="",
                        placeholder="https://…",
                        elem_id="image_url",
                        max_lines=1,
                    )
                prompt = gr.Textbox(
                    label="Prompt",
                    lines=3,
                    placeholder="What should move, and how? e.g. “slow zoom in, hair moving in the wind”",
                    elem_id="prompt",
                )
                prompt_count = gr.Markdown("0 / 800 characters", elem_classes="counter")
                negative_prompt = gr.Textbox(label="Negative prompt", value="", lines=1, elem_id="negative_prompt")
                negative_count = gr.Markdown("0 / 500 characters", elem_classes="counter")
                with gr.Row():
                    audio = gr.Audio(
                        label="Audio (optional): voice for lip-sync, or music",
                        type="filepath",
                        sources=["upload", "microphone"],
                        editable=False,
                        elem_id="audio",
                    )
                    audio_start = gr.Number(
                        label="Audio start (s)",
                        value=0,
                        minimum=0,
                        precision=2,
                        elem_id="audio_start",
                        info="The part from here on lands in the video; it is cut to the video's length.",
                    )
                audio_info = gr.Markdown("", elem_id="audio_info")
                with gr.Group():
                    with gr.Row():
                        provider = gr.Dropdown(
                            label="Provider",
                            choices=[(c.label, c.name) for c in CAPABILITIES.values()],
                            value=default_provider_name,
                            elem_id="provider",
                        )
                        resolution = gr.Dropdown(
                            label="Resolution",
                            choices=[r.value for r in caps.resolutions],
                            value=caps.default_resolution.value,
                            elem_id="resolution",
                        )
                        duration = gr.Dropdown(
                            label="Duration (s)",
                            choices=ALL_DURATIONS,
                            value=caps.default_duration_s,
                            elem_id="duration",
                        )
                        seed = gr.Number(
                            label="Seed (-1 = random)",
                            value=-1,
                            precision=0,
                            minimum=-1,
                            maximum=2_147_483_647,
                            elem_id="seed",
                        )
                    with gr.Row():
                        prompt_expansion = gr.Checkbox(
                            label="Prompt expansion (the provider may rewrite the prompt)",
                            value=False,
                            interactive=caps.prompt_expansion_default is not None,
                            elem_id="prompt_expansion",
                        )
                        safety_checker = gr.Checkbox(
                            label="Safety checker",
                            value=True,
                            interactive=caps.safety_checker_default is not None,
                            elem_id="safety_checker",
                        )
                provider_info = gr.Markdown(views.provider_notes(caps), elem_id="provider_info")
                api_key = gr.Textbox(
                    label="API key (this session only; never stored or shown)",
                    type="password",
                    value="",
                    visible=caps.needs_key,
                    elem_id="api_key",
                    html_attributes=gr.InputHTMLAttributes(autocomplete="off", spellcheck=False),
                )
                with gr.Row(visible=caps.needs_key) as key_row:
                    test_key = gr.Button("Test key", size="sm", elem_id="test_key", scale=0)
                    key_status = gr.Markdown("", elem_id="key_status")
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="generate", scale=2)
                    cancel = gr.Button("Cancel", variant="stop", elem_id="cancel", scale=1)
                price = gr.Markdown(
                    views.price_text(default_provider_name, caps.default_resolution.value, caps.default_duration_s),
                    elem_id="price",
                )
            with gr.Column(scale=5):
                status = gr.Markdown("Ready.", elem_id="status")
                video = gr.Video(label="Video", elem_id="video", buttons=["download"], interactive=False)
                params = gr.JSON(label="Reproducible parameters", elem_id="params", open=True)
                params_file = gr.File(label="params.json", elem_id="params_file", interactive=False)

        provider.change(
            studio.provider_changed,
            [provider, resolution, duration],
            [resolution, duration, prompt_expansion, safety_checker, api_key, provider_info, price],
            queue=False,
            api_visibility="private",
        ).then(
            lambda p: (gr.update(visible=CAPABILITIES[p].needs_key), ""),
            provider,
            [key_row, key_status],
            queue=False,
            api_visibility="private",
        )
        for control in (resolution, duration):
            control.change(studio.price, [provider, resolution, duration], price, queue=False, api_visibility="private")
        prompt.change(
            lambda t, p: studio.char_count(t, p, "prompt"),
            [prompt, provider],
            prompt_count,
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
        negative_prompt.change(
            lambda t, p: studio.char_count(t, p, "negative_prompt"),
            [negative_prompt, provider],
            negative_count,
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
        gr.on(
            [image.change, provider.change, resolution.change],
            studio.check_image,
            [image, provider, resolution],
            [prepared_image, image_info],
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
        gr.on(
            [audio.change, audio_start.change, provider.change, duration.change],
            studio.check_audio,
            [audio, audio_start, provider, duration],
            audio_info,
            queue=False,
            show_progress="hidden",
            api_visibility="private",
        )
        generate_event = generate.click(
            studio.generate,
            [
                image,
                prompt,
                negative_prompt,
                audio,
                provider,
                resolution,
                duration,
                seed,
                prompt_expansion,
                safety_checker,
                api_key,
                image_url,
                audio_start,
            ],
            [status, video, params, params_file],
            api_name="generate",
            concurrency_limit=GENERATE_CONCURRENCY,
            show_progress="hidden",
            trigger_mode="once",
        )
        test_key.click(
            studio.test_key, [provider, api_key], key_status, api_visibility="private", concurrency_limit=None
        )
        cancel.click(
            studio.cancel,
            None,
            status,
            cancels=[generate_event],
            api_visibility="private",
            concurrency_limit=None,
        )
    return demo
